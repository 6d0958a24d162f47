// `evs serve` as a child process: the real binary on an ephemeral loopback port, stopped with
// SIGTERM by its PID. It exits 0, also with requests in flight, and a new server on the same
// data folder serves everything the old one acknowledged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "evs_child.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

using testing::Child;

// `store`: the --store of the server ("auto": the log engine in a new data folder).
std::unique_ptr<Child> StartServer(const std::string& data_dir, int& port,
                                   const std::string& store = "auto") {
  auto child = std::make_unique<Child>(std::vector<std::string>{
      "--data", data_dir, "--store", store, "serve", "--listen", "127.0.0.1:0", "--quiet"});
  port = child->WaitForPort(data_dir);
  EXPECT_GT(port, 0) << "no 'evs: serving' line\n" << child->Stderr();
  return child;
}

using testing::NewClient;
using testing::Reply;
using testing::ToReply;

std::map<std::string, int64_t> Items(const json& cart) {
  std::map<std::string, int64_t> out;
  for (const auto& item : cart.value("items", json::array())) {
    out[item.value("name", "")] = item.value("quantity", int64_t{0});
  }
  return out;
}

TEST(ServeProcess, ServesAndExitsCleanlyOnSigterm) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);
  Reply health = ToReply(client->Get("/healthz"));
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.Json(), json({{"status", "ok"}}));
  // --quiet: no access log lines.
  client.reset();
  server->Terminate();
  EXPECT_EQ(server->Stderr().find("\"method\""), std::string::npos) << server->Stderr();
}

TEST(ServeProcess, SigtermRightAfterStartExitsCleanly) {
  testing::TempDir dir;
  for (int i = 0; i < 3; ++i) {
    int port = 0;
    auto server = StartServer(dir.path(), port);
    ASSERT_GT(port, 0);
    server->Terminate();
  }
}

TEST(ServeProcess, EverythingIsStillThereAfterARestart) {
  testing::TempDir dir;
  const std::string data = dir.File("data");  // created by evs
  std::string cart_id;
  std::string etag;
  int64_t head = 0;
  {
    int port = 0;
    auto server = StartServer(data, port);
    ASSERT_GT(port, 0);
    auto client = NewClient(port);
    Reply opened = ToReply(client->Post("/carts", httplib::Headers{}));
    ASSERT_EQ(opened.status, 201) << opened.body;
    cart_id = opened.Json().value("cart_id", "");
    ASSERT_FALSE(cart_id.empty());
    const std::string items = "/carts/" + cart_id + "/items";
    ASSERT_EQ(ToReply(client->Post(items, R"({"name":"apple","quantity":2,"unit_price_cents":150})",
                                   "application/json"))
                  .status,
              200);
    ASSERT_EQ(ToReply(client->Post(items, R"({"name":"green tea","unit_price_cents":300})",
                                   "application/json"))
                  .status,
              200);
    ASSERT_EQ(ToReply(client->Post(items, R"({"name":"a/b"})", "application/json")).status, 200);
    ASSERT_EQ(ToReply(client->Delete(items + "/a%2Fb")).status, 200);
    Reply appended = ToReply(client->Post(
        "/streams/notes-1", R"([{"type":"Noted","data":{"n":1}}])", "application/json"));
    ASSERT_EQ(appended.status, 201) << appended.body;
    Reply cart = ToReply(client->Get("/carts/" + cart_id));
    ASSERT_EQ(cart.status, 200);
    etag = cart.Header("ETag");
    EXPECT_EQ(etag, "\"5\"");
    head = ToReply(client->Get("/log")).Json().value("head_position", int64_t{0});
    EXPECT_EQ(head, 6);
    client.reset();
    server->Terminate();
  }
  {
    int port = 0;
    auto server = StartServer(data, port);
    ASSERT_GT(port, 0);
    auto client = NewClient(port);
    Reply cart = ToReply(client->Get("/carts/" + cart_id));
    ASSERT_EQ(cart.status, 200) << cart.body;
    EXPECT_EQ(cart.Header("ETag"), etag);
    json body = cart.Json();
    EXPECT_EQ(body.value("status", ""), "open");
    EXPECT_EQ(Items(body), (std::map<std::string, int64_t>{{"apple", 2}, {"green tea", 1}}));
    EXPECT_EQ(body.value("total_cents", 0), 600);
    Reply notes = ToReply(client->Get("/streams/notes-1"));
    ASSERT_EQ(notes.status, 200) << notes.body;
    EXPECT_EQ(notes.Json()["events"][0]["data"], json({{"n", 1}}));
    EXPECT_EQ(ToReply(client->Get("/log")).Json().value("head_position", int64_t{0}), head);
    // And it goes on from there: a write at the old ETag, then checkout.
    Reply more = ToReply(client->Post("/carts/" + cart_id + "/items", {{"If-Match", etag}},
                                      R"({"name":"apple"})", "application/json"));
    ASSERT_EQ(more.status, 200) << more.body;
    EXPECT_EQ(more.Header("ETag"), "\"6\"");
    ASSERT_EQ(ToReply(client->Post("/carts/" + cart_id + "/checkout", httplib::Headers{})).status,
              200);
    client.reset();
    server->Terminate();
  }
  {
    int port = 0;
    auto server = StartServer(data, port);
    ASSERT_GT(port, 0);
    auto client = NewClient(port);
    Reply cart = ToReply(client->Get("/carts/" + cart_id));
    ASSERT_EQ(cart.status, 200) << cart.body;
    EXPECT_EQ(cart.Json().value("status", ""), "checked_out");
    EXPECT_EQ(Items(cart.Json())["apple"], 3);
    EXPECT_EQ(cart.Header("ETag"), "\"7\"");
    client.reset();
    server->Terminate();
  }
}

// SIGTERM while clients keep writing: the server finishes what is in flight and exits 0, and
// every add it acknowledged is there after a restart.
TEST(ServeProcess, SigtermWithRequestsInFlightExitsCleanlyAndKeepsAcknowledgedWrites) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  std::string cart_id;
  {
    auto client = NewClient(port);
    Reply opened = ToReply(client->Post("/carts", httplib::Headers{}));
    ASSERT_EQ(opened.status, 201) << opened.body;
    cart_id = opened.Json().value("cart_id", "");
  }

  constexpr int kClients = 8;
  std::atomic<int> acknowledged{0};
  std::atomic<int> unexpected{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&] {
      auto client = NewClient(port);
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (!stop && Clock::now() < deadline) {
        Reply reply = ToReply(client->Post("/carts/" + cart_id + "/items", R"({"name":"apple"})",
                                           "application/json"));
        if (reply.status == 200) {
          ++acknowledged;
        } else if (reply.status != -1) {
          ++unexpected;  // a response, but not a success
        } else {
          break;  // the server is going away: refused or closed
        }
      }
    });
  }
  // Let traffic build up, then SIGTERM in the middle of it.
  const auto busy_deadline = Clock::now() + std::chrono::seconds(30);
  while (acknowledged < 100 && Clock::now() < busy_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(acknowledged, 100);
  ASSERT_EQ(kill(server->pid(), SIGTERM), 0);
  auto status = server->WaitForExit();
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_TRUE(status.has_value()) << "no exit within the timeout after SIGTERM\n"
                                  << server->Stderr();
  ASSERT_TRUE(WIFEXITED(*status)) << "ended by signal " << WTERMSIG(*status) << "\n"
                                  << server->Stderr();
  EXPECT_EQ(WEXITSTATUS(*status), 0) << server->Stderr();
  EXPECT_EQ(unexpected, 0);

  // Every acknowledged add is there; at most one unacknowledged add per client may be too.
  auto again = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);
  Reply cart = ToReply(client->Get("/carts/" + cart_id));
  ASSERT_EQ(cart.status, 200) << cart.body;
  const int64_t quantity = Items(cart.Json())["apple"];
  EXPECT_GE(quantity, acknowledged.load());
  EXPECT_LE(quantity, acknowledged.load() + kClients);
  EXPECT_EQ(cart.Json().value("version", int64_t{0}), 1 + quantity);
  client.reset();
  again->Terminate();
}

TEST(ServeProcess, SecondServerOnTheSameDataFolderIsRefused) {
  testing::TempDir dir;
  int port = 0;
  auto first = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  Child second({"--data", dir.path(), "serve", "--listen", "127.0.0.1:0", "--quiet"});
  auto status = second.WaitForExit();
  ASSERT_TRUE(status.has_value()) << second.Stderr();
  ASSERT_TRUE(WIFEXITED(*status)) << second.Stderr();
  EXPECT_NE(WEXITSTATUS(*status), 0) << second.Stderr();
  EXPECT_EQ(second.Stderr().find("evs: serving"), std::string::npos) << second.Stderr();
  // The first one is unaffected.
  auto client = NewClient(port);
  EXPECT_EQ(ToReply(client->Get("/healthz")).status, 200);
  client.reset();
  first->Terminate();
}

// On the SQLite store, whose file gives the space back at once (the log engine reclaims a sealed
// segment at a time: the lifecycle suite covers it).
TEST(ServeProcess, ScavengeBesideARunningServerWhileItTakesAppends) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port, "sqlite");
  ASSERT_GT(port, 0);
  auto client = NewClient(port);
  // A stream of 2,000 events of 1 KB, deleted for good; its space is what scavenging frees.
  json events = json::array();
  for (int i = 0; i < 500; ++i) {
    events.push_back({{"type", "Reading"}, {"data", {{"pad", std::string(1000, 'x')}}}});
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ToReply(client->Post("/streams/sensor-1", events.dump(), "application/json")).status,
              201);
  }
  ASSERT_EQ(ToReply(client->Delete("/streams/sensor-1?hard=true")).status, 204);
  // Appends go on through the scavenge; each is acknowledged.
  std::atomic<bool> done{false};
  std::atomic<int> acknowledged{0};
  std::thread writer([&] {
    auto own = NewClient(port);
    for (int i = 0; i < 5000 && !done; ++i) {
      Reply r =
          ToReply(own->Post("/streams/live", R"([{"type":"Tick","data":{}}])", "application/json"));
      if (r.status != 201) {
        ADD_FAILURE() << "append " << i << " answered " << r.status << ": " << r.body;
        return;
      }
      ++acknowledged;
    }
  });
  Child scavenge({"--data", dir.path(), "--store", "sqlite", "--json", "scavenge", "--server",
                  "http://127.0.0.1:" + std::to_string(port), "--step", "100"});
  auto status = scavenge.WaitForExit();
  done = true;
  writer.join();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << scavenge.Stderr();
  json report = json::parse(scavenge.Stdout(), nullptr, false);
  ASSERT_TRUE(report.is_object()) << scavenge.Stdout();
  EXPECT_EQ(report.value("events_scavenged", 0), 2000) << report.dump();
  EXPECT_LT(report.value("file_bytes_after", int64_t{0}),
            report.value("file_bytes_before", int64_t{0}) / 2)
      << report.dump();
  Reply live = ToReply(client->Get("/streams/live?limit=1&direction=backward"));
  ASSERT_EQ(live.status, 200);
  EXPECT_EQ(live.Json().value("version", 0), acknowledged.load());
  // Without --server, the store is the server's: the command says how to go on.
  Child refused({"--data", dir.path(), "scavenge"});
  auto refused_status = refused.WaitForExit();
  ASSERT_TRUE(refused_status.has_value());
  EXPECT_NE(WEXITSTATUS(*refused_status), 0);
  EXPECT_NE(refused.Stderr().find("--server"), std::string::npos) << refused.Stderr();
  client.reset();
  server->Terminate();
}

TEST(ServeProcess, BadListenAddressIsAnError) {
  testing::TempDir dir;
  for (const std::string listen : {"nope", "127.0.0.1:99999", "127.0.0.1:x"}) {
    Child child({"--data", dir.path(), "serve", "--listen", listen});
    auto status = child.WaitForExit();
    ASSERT_TRUE(status.has_value()) << child.Stderr();
    ASSERT_TRUE(WIFEXITED(*status)) << child.Stderr();
    EXPECT_NE(WEXITSTATUS(*status), 0) << listen;
    EXPECT_NE(child.Stderr().find("--listen"), std::string::npos) << child.Stderr();
  }
}

}  // namespace
}  // namespace evs
