// Persistent subscriptions through real sockets against `evs serve` as a child process: competing
// consumers racing with long polls, a consumer that dies holding leases, the checkpoint across a
// restart of the server, bad requests, and a long poll answered when the server stops.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evs_child.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs {
namespace {

using nlohmann::json;
using testing::Child;
using testing::NewClient;
using testing::Reply;
using testing::ToReply;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kBound = 60s;  // the longest any loop of a test may run
constexpr const char* kJson = "application/json";

std::unique_ptr<Child> StartServer(const std::string& data_dir, int& port) {
  auto child = std::make_unique<Child>(
      std::vector<std::string>{"--data", data_dir, "serve", "--listen", "127.0.0.1:0", "--quiet"});
  port = child->WaitForPort();
  EXPECT_GT(port, 0) << "no 'evs: serving' line\n" << child->Stderr();
  return child;
}

void AppendTo(httplib::Client& client, const std::string& stream, const std::string& type) {
  json events = json::array({{{"type", type}, {"data", {{"n", 1}}}}});
  Reply r = ToReply(client.Post("/streams/" + stream, events.dump(), kJson));
  EXPECT_EQ(r.status, 201) << r.body;
}

Reply PutSubscription(httplib::Client& client, const std::string& name, const json& body) {
  return ToReply(client.Put("/subscriptions/" + name, body.dump(), kJson));
}

json Lease(httplib::Client& client, const std::string& name, int max, int wait_ms) {
  Reply r = ToReply(client.Get("/subscriptions/" + name + "/events?max=" + std::to_string(max) +
                               "&wait_ms=" + std::to_string(wait_ms)));
  EXPECT_EQ(r.status, 200) << r.body;
  return r.status == 200 ? r.Json()["events"] : json::array();
}

// The positions of leases with long polls until `count` came or the bound passed.
std::vector<int64_t> LeaseUntil(httplib::Client& client, const std::string& name, size_t count) {
  std::vector<int64_t> positions;
  const auto deadline = Steady::now() + kBound;
  while (positions.size() < count && Steady::now() < deadline) {
    for (const auto& e : Lease(client, name, 10, 1000)) positions.push_back(e["position"]);
  }
  return positions;
}

json Ack(httplib::Client& client, const std::string& name, const std::vector<int64_t>& positions) {
  Reply r = ToReply(
      client.Post("/subscriptions/" + name + "/ack", json{{"positions", positions}}.dump(), kJson));
  EXPECT_EQ(r.status, 200) << r.body;
  return r.Json();
}

json Get(httplib::Client& client, const std::string& name) {
  Reply r = ToReply(client.Get("/subscriptions/" + name));
  EXPECT_EQ(r.status, 200) << r.body;
  return r.Json();
}

TEST(ServePersistentSubscriptions, TwoConsumersRaceWithLongPollsAndShareTheWork) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto admin = NewClient(port);
  Reply created = PutSubscription(*admin, "workers", {{"from", 0}, {"category", "job"}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(PutSubscription(*admin, "workers", {{"from", 0}, {"category", "job"}}).status, 200);

  constexpr int kStreams = 6;
  constexpr int kPerStream = 15;
  constexpr int kTotal = kStreams * kPerStream;
  std::mutex mu;
  std::set<int64_t> in_flight;
  std::map<std::string, int64_t> acked_version;  // recorded just before the ack is sent
  std::map<int, int> handled_by;
  int handled = 0;
  std::vector<std::string> faults;
  auto consume = [&](int id) {
    auto client = NewClient(port);
    const auto deadline = Steady::now() + kBound;
    while (Steady::now() < deadline) {
      {
        std::lock_guard guard(mu);
        if (handled == kTotal) return;
      }
      json events = Lease(*client, "workers", 4, 500);
      std::vector<int64_t> positions;
      {
        std::lock_guard guard(mu);
        for (const auto& e : events) {
          const int64_t position = e["position"].get<int64_t>();
          const std::string stream = e["stream_id"].get<std::string>();
          if (!in_flight.insert(position).second) faults.push_back("leased to both");
          if (acked_version[stream] != e["version"].get<int64_t>() - 1) {
            faults.push_back("out of order in " + stream);
          }
          if (e["delivery_count"] != 1) faults.push_back("delivered again");
          if (stream.rfind("job-", 0) != 0) faults.push_back("not in the category: " + stream);
          positions.push_back(position);
        }
        for (const auto& e : events) {
          in_flight.erase(e["position"].get<int64_t>());
          acked_version[e["stream_id"].get<std::string>()] = e["version"].get<int64_t>();
          ++handled;
          ++handled_by[id];
        }
      }
      if (!positions.empty()) {
        EXPECT_EQ(Ack(*client, "workers", positions)["acked"], positions.size());
      }
    }
  };
  std::thread first(consume, 1);
  std::thread second(consume, 2);
  for (int v = 0; v < kPerStream; ++v) {
    for (int s = 0; s < kStreams; ++s) {
      AppendTo(*admin, "job-" + std::to_string(s), "Work");
      if (s == 0) AppendTo(*admin, "other-1", "Noise");
    }
  }
  first.join();
  second.join();
  EXPECT_EQ(faults, std::vector<std::string>{});
  EXPECT_EQ(handled, kTotal);
  json state = Get(*admin, "workers");
  EXPECT_EQ(state["in_flight"], 0);
  EXPECT_EQ(state["lag"], 0) << state.dump();
  // GET /subscriptions lists it beside the running subscriptions.
  Reply all = ToReply(admin->Get("/subscriptions"));
  ASSERT_EQ(all.status, 200);
  bool listed = false;
  const json listing = all.Json();
  for (const auto& s : listing["subscriptions"]) {
    if (s["name"] == "workers") listed = s["kind"] == "persistent" && s["parked"] == 0;
  }
  EXPECT_TRUE(listed) << all.body;
  server->Terminate();
}

TEST(ServePersistentSubscriptions, TheLeasesOfAConsumerThatDiedGoToAnotherAfterTheTimeout) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto admin = NewClient(port);
  ASSERT_EQ(PutSubscription(*admin, "orders", {{"ack_timeout_ms", 300}}).status, 201);
  for (const char* s : {"order-1", "order-2", "order-1"}) AppendTo(*admin, s, "Placed");

  std::set<int64_t> held;
  {
    // This consumer leases, then its connection goes away without an ack.
    auto doomed = NewClient(port);
    for (int64_t position : LeaseUntil(*doomed, "orders", 2)) held.insert(position);
  }
  ASSERT_EQ(held, (std::set<int64_t>{1, 2})) << "order-1's second event waits for its first";

  auto survivor = NewClient(port);
  std::set<int64_t> taken_over;
  std::vector<int64_t> all;
  const auto deadline = Steady::now() + kBound;
  while (all.size() < 3 && Steady::now() < deadline) {
    for (const auto& e : Lease(*survivor, "orders", 10, 2000)) {
      const int64_t position = e["position"].get<int64_t>();
      if (held.count(position)) {
        EXPECT_EQ(e["delivery_count"], 2);
        taken_over.insert(position);
      }
      all.push_back(position);
      Ack(*survivor, "orders", {position});
    }
  }
  EXPECT_EQ(taken_over, held);
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(Get(*admin, "orders")["checkpoint"], 3);
  server->Terminate();
}

TEST(ServePersistentSubscriptions, TheCheckpointAndParkedEventsSurviveARestart) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  {
    auto client = NewClient(port);
    ASSERT_EQ(PutSubscription(*client, "audit", {{"event_types", {"Seen"}}}).status, 201);
    for (const char* s : {"a", "b", "c", "d", "e"}) AppendTo(*client, s, "Seen");
    std::vector<int64_t> leased = LeaseUntil(*client, "audit", 5);
    ASSERT_EQ(leased.size(), 5u);
    EXPECT_EQ(Ack(*client, "audit", {1, 2, 4, 77})["ignored"], 1);
    Reply parked = ToReply(client->Post(
        "/subscriptions/audit/nack", R"({"positions":[5],"action":"park","reason":"no"})", kJson));
    ASSERT_EQ(parked.status, 200) << parked.body;
    EXPECT_EQ(parked.Json()["parked"], 1);
    EXPECT_EQ(Get(*client, "audit")["checkpoint"], 2);
  }
  server->Terminate();
  server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);
  json state = Get(*client, "audit");
  EXPECT_EQ(state["checkpoint"], 2);
  EXPECT_EQ(state["parked"], 1);
  EXPECT_EQ(state["event_types"], json::array({"Seen"}));
  std::vector<int64_t> again = LeaseUntil(*client, "audit", 2);
  EXPECT_EQ(again, (std::vector<int64_t>{3, 4})) << "at least once: 4 was acked above 3";
  Reply parked = ToReply(client->Get("/subscriptions/audit/parked"));
  ASSERT_EQ(parked.status, 200);
  ASSERT_EQ(parked.Json()["parked"].size(), 1u);
  EXPECT_EQ(parked.Json()["parked"][0]["reason"], "no");
  EXPECT_EQ(parked.Json()["parked"][0]["event"]["position"], 5);
  Reply retry = ToReply(client->Post("/subscriptions/audit/parked/retry", "", kJson));
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_EQ(retry.Json()["retrying"], 1);
  json retried = Lease(*client, "audit", 10, 1000);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0]["position"], 5);
  server->Terminate();
}

TEST(ServePersistentSubscriptions, BadRequestsAreProblemsAndALongPollEndsWithTheServer) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);
  auto code = [](const Reply& r) { return r.Json().value("code", ""); };
  Reply r = PutSubscription(*client, "bad%20name", json::object());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), "invalid_subscription_name");
  r = ToReply(client->Put("/subscriptions/s", "{not json", kJson));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), "malformed_json");
  for (const json& body : {json{{"frm", 0}}, json{{"from", -1}}, json{{"ack_timeout_ms", 0}},
                           json{{"max_deliveries", "3"}}, json{{"category", "a-b"}},
                           json{{"event_types", {1}}}, json::array()}) {
    r = PutSubscription(*client, "s", body);
    EXPECT_EQ(r.status, 400) << body.dump();
    EXPECT_EQ(code(r), "invalid_field") << body.dump();
  }
  EXPECT_EQ(ToReply(client->Get("/subscriptions/s/events")).status, 404);
  ASSERT_EQ(PutSubscription(*client, "s", json::object()).status, 201);
  for (const char* query : {"?max=0", "?max=1001", "?wait_ms=30001", "?wait_ms=-1", "?max=x"}) {
    r = ToReply(client->Get(std::string("/subscriptions/s/events") + query));
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_EQ(code(r), "invalid_parameter") << query;
  }
  for (const char* body : {R"({})", R"({"positions":[1.5]})", R"({"positions":"1"})",
                           R"({"positions":[1],"extra":1})"}) {
    r = ToReply(client->Post("/subscriptions/s/ack", body, kJson));
    EXPECT_EQ(r.status, 400) << body;
  }
  r = ToReply(client->Post("/subscriptions/s/nack", R"({"positions":[1],"action":"drop"})", kJson));
  EXPECT_EQ(r.status, 400);
  r = ToReply(client->Post("/subscriptions/s/ack", R"({"positions":[42]})", kJson));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["ignored"], 1);

  // A long poll in flight is answered, with no events, when the server stops.
  auto poller = NewClient(port);
  auto poll = std::async(std::launch::async, [&] {
    return ToReply(poller->Get("/subscriptions/s/events?wait_ms=30000"));
  });
  // Once a request is being served, the stop can only answer it (or it was not sent yet, and
  // the connection is refused); either way it ends well before its 30 s.
  std::this_thread::sleep_for(200ms);
  server->Terminate();
  ASSERT_EQ(poll.wait_for(kBound), std::future_status::ready);
  Reply answered = poll.get();
  if (answered.status != -1) {
    EXPECT_EQ(answered.status, 200) << answered.body;
    EXPECT_TRUE(answered.Json()["events"].empty());
  }
  server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto again = NewClient(port);
  EXPECT_EQ(ToReply(again->Delete("/subscriptions/s")).status, 204);
  EXPECT_EQ(ToReply(again->Delete("/subscriptions/s")).status, 404);
  server->Terminate();
}

}  // namespace
}  // namespace evs
