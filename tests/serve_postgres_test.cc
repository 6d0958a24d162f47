// Three `evs serve` processes on one PostgreSQL database serve one cart at once: nothing any of
// them acknowledged is lost, each serves what the others wrote, and /log/live on one shows what
// the others commit (woken by LISTEN/NOTIFY), and the cart summary they share in the database
// counts every item once although every server runs its projection. Against the private cluster of
// scripts/postgres (EVS_TEST_POSTGRES_URL; skipped when unset).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "evs/personal_data.h"
#include "evs/postgres.h"
#include "evs/postgres_projection.h"
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
  // The cart summary is one read model in the database, kept by all three servers' runners:
  // each server's reports show every item once, as soon as the read model has caught up.
  for (int s = 0; s < kServers; ++s) {
    auto client = NewClient(ports[s]);
    json items;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    do {
      Reply top = ToReply(client->Get("/reports/top-items?limit=100"));
      ASSERT_EQ(top.status, 200) << top.body;
      items = top.Json().value("items", json::array());
      if (items.size() == static_cast<size_t>(kServers * kItems)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    ASSERT_EQ(items.size(), static_cast<size_t>(kServers * kItems)) << "server " << s;
    for (const auto& item : items) {
      EXPECT_EQ(item.value("times_added", int64_t{0}), 1) << item.dump();
      EXPECT_EQ(item.value("quantity_added", int64_t{0}), 1) << item.dump();
    }
    Reply carts = ToReply(client->Get("/carts?status=open"));
    ASSERT_EQ(carts.status, 200) << carts.body;
    const json listed = carts.Json().value("carts", json::array());
    ASSERT_EQ(listed.size(), 1u) << carts.body;
    EXPECT_EQ(listed[0].value("cart_id", ""), cart_id);
  }
  {
    auto model = OpenPostgresReadModel(database.url());
    ASSERT_TRUE(model.ok()) << model.error().message;
    auto rows = (*model)->Query("SELECT item_count, version FROM cart_summaries");
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0][0], SqlValue(int64_t{kServers * kItems}));
    EXPECT_EQ((*rows)[0][1], SqlValue(int64_t{1 + kServers * kItems}));
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

// The CLI on PostgreSQL: a database without evs's tables is a clear error naming `evs pg init`;
// after it, commands run on the database (--store postgres://...).
TEST(ServePostgres, TheCliInitsTheSchemaAndRunsCommandsOnIt) {
  if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  testing::PostgresTestDatabase database;
  ASSERT_FALSE(database.url().empty());
  testing::TempDir dir;
  auto run = [&](std::vector<std::string> args, std::string* out = nullptr) {
    std::vector<std::string> all = {"--data", dir.path(), "--store", database.url()};
    all.insert(all.end(), args.begin(), args.end());
    Child child(all);
    auto status = child.WaitForExit();
    if (out != nullptr) *out = child.Stdout() + child.Stderr();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  std::string out;
  EXPECT_EQ(run({"cart", "open"}, &out), 1);
  EXPECT_NE(out.find("evs pg init"), std::string::npos) << out;
  EXPECT_EQ(run({"pg", "init"}, &out), 0) << out;
  EXPECT_NE(out.find("version " + std::to_string(kPostgresSchemaVersion)), std::string::npos)
      << out;
  EXPECT_EQ(run({"pg", "init"}, &out), 0) << out;  // again: nothing to do
  ASSERT_EQ(run({"cart", "open"}, &out), 0) << out;
  const std::string cart_id = out.substr(0, out.find('\n'));
  EXPECT_EQ(run({"cart", "add", cart_id, "tea", "--price", "300"}, &out), 0) << out;
  EXPECT_EQ(run({"cart", "show", cart_id}, &out), 0) << out;
  EXPECT_NE(out.find("tea"), std::string::npos) << out;
}

// Personal data on PostgreSQL: a sealed field needs the master key (a clear error without it);
// two `evs serve` on one database share the keys (a cart sealed through one shows its email
// through the other), a forget through one redacts it through both and through the CLI; and
// `evs scavenge` reclaims a deleted stream there.
TEST(ServePostgres, PersonalDataIsSharedByEveryServerAndScavengeWorks) {
  if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  testing::PostgresTestDatabase database;
  ASSERT_FALSE(database.url().empty());
  ASSERT_TRUE(InitPostgresSchema(database.url()).ok());
  testing::TempDir dir;
  const std::string master_key = dir.File("master.key");
  {
    std::ofstream out(master_key);
    out << std::string(64, 'a') << "\n";
  }
  auto run = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> all = {"--data", dir.path(), "--store", database.url()};
    all.insert(all.end(), args.begin(), args.end());
    Child child(all);
    auto status = child.WaitForExit();
    *out = child.Stdout() + child.Stderr();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  std::string out;
  EXPECT_EQ(run({"cart", "open", "--customer", "c-ann", "--email", "ann@example.com"}, &out), 1);
  EXPECT_NE(out.find("needs the master key: --master-key-file"), std::string::npos) << out;

  std::vector<testing::TempDir> dirs(2);
  std::vector<std::unique_ptr<Child>> servers;
  std::vector<int> ports;
  for (int s = 0; s < 2; ++s) {
    servers.push_back(std::make_unique<Child>(std::vector<std::string>{
        "--data", dirs[s].path(), "--store", database.url(), "--master-key-file", master_key,
        "serve", "--listen", "127.0.0.1:0", "--quiet"}));
    ports.push_back(servers.back()->WaitForPort(dirs[s].path()));
    ASSERT_GT(ports.back(), 0) << servers.back()->Stderr();
  }
  auto a = NewClient(ports[0]);
  auto b = NewClient(ports[1]);
  Reply opened =
      ToReply(a->Post("/carts", json{{"customer_id", "c-ann"}, {"email", "ann@example.com"}}.dump(),
                      "application/json"));
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string cart_id = opened.Json().value("cart_id", "");
  Reply shown = ToReply(b->Get("/carts/" + cart_id));
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(shown.Json().value("email", ""), "ann@example.com");
  Reply forgot = ToReply(b->Post("/subjects/c-ann/forget", "", "application/json"));
  ASSERT_EQ(forgot.status, 200) << forgot.body;
  for (auto* client : {a.get(), b.get()}) {
    Reply after = ToReply(client->Get("/carts/" + cart_id));
    ASSERT_EQ(after.status, 200) << after.body;
    EXPECT_EQ(after.Json().value("email", ""), std::string(kRedacted));
  }
  EXPECT_EQ(run({"--master-key-file", master_key, "cart", "show", cart_id}, &out), 0) << out;
  EXPECT_NE(out.find("email: [redacted]"), std::string::npos) << out;
  // The store holds sealed fields now: without the master key, the error says only that.
  EXPECT_EQ(run({"cart", "show", cart_id}, &out), 1) << out;
  EXPECT_NE(out.find("needs the master key"), std::string::npos) << out;
  EXPECT_EQ(out.find("Restore"), std::string::npos) << out;
  EXPECT_EQ(run({"--master-key-file", master_key, "forget", "c-ann", "--json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"already_forgotten\":true"), std::string::npos) << out;
  for (auto& server : servers) server->Terminate();

  // evs scavenge on the database: a deleted stream's events become markers.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(run({"append", "old", "--type", "Tick", "--data", "{}"}, &out), 0) << out;
  }
  ASSERT_EQ(run({"stream", "delete", "old"}, &out), 0) << out;
  ASSERT_EQ(run({"--json", "scavenge"}, &out), 0) << out;
  EXPECT_NE(out.find("\"events_scavenged\":3"), std::string::npos) << out;
  ASSERT_EQ(run({"--json", "scavenge"}, &out), 0) << out;
  EXPECT_NE(out.find("\"events_scavenged\":0"), std::string::npos) << out;
}

}  // namespace
}  // namespace evs
