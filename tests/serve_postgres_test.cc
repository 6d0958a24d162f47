// Three `evs serve` processes on one PostgreSQL database serve one cart at once: nothing any of
// them acknowledged is lost, each serves what the others wrote, and /log/live on one shows what
// the others commit (woken by LISTEN/NOTIFY). Against the private cluster of scripts/postgres
// (EVS_TEST_POSTGRES_URL; skipped when unset).
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "evs/postgres.h"
#include "evs_child.h"
#include "http_client.h"
#include "postgres_test_env.h"
#include "sse_reader.h"
#include "temp_dir.h"

namespace evs {
namespace {

using nlohmann::json;
using testing::Child;
using testing::NewClient;
using testing::Reply;
using testing::ToReply;

TEST(ServePostgres, ThreeServersOnOneDatabaseServeOneCartWithNothingLost) {
  if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  testing::PostgresTestDatabase database;
  ASSERT_FALSE(database.url().empty());
  {
    auto init = InitPostgresSchema(database.url());
    ASSERT_TRUE(init.ok()) << init.error().message;
  }
  constexpr int kServers = 3;
  constexpr int kItems = 20;
  std::vector<testing::TempDir> dirs(kServers);
  std::vector<std::unique_ptr<Child>> servers;
  std::vector<int> ports;
  for (int s = 0; s < kServers; ++s) {
    servers.push_back(std::make_unique<Child>(
        std::vector<std::string>{"--data", dirs[s].path(), "--store", database.url(), "serve",
                                 "--listen", "127.0.0.1:0", "--quiet"}));
    ports.push_back(servers.back()->WaitForPort(dirs[s].path()));
    ASSERT_GT(ports.back(), 0) << servers.back()->Stderr();
  }
  testing::SseReader live(ports[0], "/log/live?from=0");
  auto opener = NewClient(ports[1]);
  Reply opened = ToReply(opener->Post("/carts", httplib::Headers{}));
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string cart_id = opened.Json().value("cart_id", "");
  ASSERT_FALSE(cart_id.empty());

  // Each server adds its own items to the one cart, all at once.
  std::vector<std::thread> writers;
  for (int s = 0; s < kServers; ++s) {
    writers.emplace_back([&, s] {
      auto client = NewClient(ports[s]);
      for (int i = 0; i < kItems; ++i) {
        const std::string body = json{
            {"name", "item-" + std::to_string(s) + "-" + std::to_string(i)},
            {"unit_price_cents",
             100}}.dump();
        Reply reply;
        for (int attempt = 0; attempt < 50; ++attempt) {
          reply = ToReply(client->Post("/carts/" + cart_id + "/items", body, "application/json"));
          if (reply.status != 409 && reply.status != 503) break;  // a conflict: try again
        }
        EXPECT_EQ(reply.status, 200) << reply.body;
      }
    });
  }
  for (auto& w : writers) w.join();

  for (int s = 0; s < kServers; ++s) {
    auto client = NewClient(ports[s]);
    Reply cart = ToReply(client->Get("/carts/" + cart_id));
    ASSERT_EQ(cart.status, 200) << cart.body;
    std::map<std::string, int64_t> items;
    for (const auto& item : cart.Json().value("items", json::array())) {
      items[item.value("name", "")] = item.value("quantity", int64_t{0});
    }
    EXPECT_EQ(items.size(), static_cast<size_t>(kServers * kItems)) << "server " << s;
    for (const auto& [name, quantity] : items) EXPECT_EQ(quantity, 1) << name;
  }
  // Server 0's live log carried every commit, whichever server made it, in position order.
  const size_t events = 1 + kServers * kItems;
  ASSERT_TRUE(live.WaitFor(events)) << live.Events().size() << " of " << events;
  const auto seen = live.Events();
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].id, static_cast<int64_t>(i + 1));
  }
  live.RequestStop();
  for (auto& server : servers) server->Terminate();
}

}  // namespace
}  // namespace evs
