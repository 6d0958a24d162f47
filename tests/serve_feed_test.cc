// The read side of `evs serve` through real HTTP on loopback, against the real binary as a child
// process: the cart read model (GET /carts?status=, GET /reports/top-items), the subscriptions
// (GET /subscriptions), the event log on stdout, the live tail (GET /log/live, Server-Sent
// Events), and a projection that is SIGKILLed mid-traffic and restarted, which must end equal
// to a fresh build of the same log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cart/cart_summary_projection.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "evs/projection.h"
#include "evs_child.h"
#include "http_client.h"
#include "read_model_dump.h"
#include "sse_reader.h"
#include "temp_dir.h"

namespace evs {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using testing::Child;
using testing::DumpCartReadModel;
using testing::kExitTimeout;
constexpr auto kCatchUpTimeout = 60s;
constexpr const char* kProjection = "projection:cart_summary_g1";
constexpr const char* kJson = "application/json";

std::unique_ptr<Child> StartServer(const std::string& data_dir, int& port, bool quiet = false) {
  std::vector<std::string> args = {"--data", data_dir, "serve", "--listen", "127.0.0.1:0"};
  if (quiet) args.push_back("--quiet");
  auto child = std::make_unique<Child>(args);
  port = child->WaitForPort();
  EXPECT_GT(port, 0) << "no 'evs: serving' line\n" << child->Stderr();
  return child;
}

using testing::NewClient;
using testing::Reply;
using testing::SseEvent;
using testing::SseReader;
using testing::ToReply;

// The whole log through GET /log, in pages.
std::vector<json> ReadWholeLog(httplib::Client& client) {
  std::vector<json> events;
  int64_t from = 0;
  for (int page = 0; page < 10000; ++page) {
    Reply reply = ToReply(client.Get("/log?from=" + std::to_string(from) + "&limit=1000"));
    EXPECT_EQ(reply.status, 200) << reply.body;
    if (reply.status != 200) break;
    json body = reply.Json();
    for (const auto& e : body["events"]) events.push_back(e);
    if (body["events"].empty()) break;
    from = body["next_from"].get<int64_t>();
  }
  return events;
}

int64_t Head(httplib::Client& client) {
  return ToReply(client.Get("/log?limit=1")).Json().value("head_position", int64_t{-1});
}

// GET /subscriptions, by name.
std::map<std::string, json> Subscriptions(httplib::Client& client) {
  std::map<std::string, json> out;
  Reply reply = ToReply(client.Get("/subscriptions"));
  EXPECT_EQ(reply.status, 200) << reply.body;
  if (reply.status != 200) return out;
  const json body = reply.Json();
  for (const auto& s : body["subscriptions"]) out[s.value("name", "")] = s;
  return out;
}

// Polls GET /subscriptions until `name` has lag 0 at a head of at least `head`; false on timeout.
bool WaitForLagZero(httplib::Client& client, const std::string& name, int64_t head) {
  const auto deadline = Clock::now() + kCatchUpTimeout;
  while (Clock::now() < deadline) {
    auto all = Subscriptions(client);
    auto it = all.find(name);
    if (it != all.end() && it->second.value("lag", int64_t{-1}) == 0 &&
        it->second.value("head", int64_t{-1}) >= head &&
        it->second.value("checkpoint", int64_t{-1}) >= head) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << name << " did not catch up to " << head;
  return false;
}

std::string OpenCart(httplib::Client& client) {
  Reply opened = ToReply(client.Post("/carts", httplib::Headers{}));
  EXPECT_EQ(opened.status, 201) << opened.body;
  return opened.status == 201 ? opened.Json().value("cart_id", "") : "";
}

void AddItem(httplib::Client& client, const std::string& cart, const std::string& name,
             int64_t quantity, int64_t price) {
  json body = {{"name", name}, {"quantity", quantity}, {"unit_price_cents", price}};
  Reply reply = ToReply(client.Post("/carts/" + cart + "/items", body.dump(), kJson));
  EXPECT_EQ(reply.status, 200) << reply.body;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The cart ids of a GET /carts body.
std::vector<std::string> CartIds(const json& body) {
  std::vector<std::string> ids;
  for (const auto& c : body["carts"]) ids.push_back(c.value("cart_id", ""));
  return ids;
}

// Pages through GET /carts with `query` (may be empty) `limit` at a time.
std::vector<std::string> PageAllCarts(httplib::Client& client, const std::string& query, int limit,
                                      int& pages) {
  std::vector<std::string> ids;
  std::string after;
  pages = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string target = "/carts?limit=" + std::to_string(limit) + query;
    if (!after.empty()) target += "&after=" + after;
    Reply reply = ToReply(client.Get(target));
    EXPECT_EQ(reply.status, 200) << reply.body;
    if (reply.status != 200) break;
    ++pages;
    json body = reply.Json();
    auto page = CartIds(body);
    EXPECT_LE(page.size(), static_cast<size_t>(limit));
    ids.insert(ids.end(), page.begin(), page.end());
    if (body["next_after"].is_null()) break;
    EXPECT_EQ(body["next_after"], page.back());
    after = body["next_after"].get<std::string>();
  }
  return ids;
}

// 1 and 4: the read model's endpoints, the subscriptions, and the event log on stdout.
TEST(ServeFeed, ReadModelSubscriptionsAndEventLog) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);

  // Before any event: both subscriptions there, at 0.
  {
    auto subs = Subscriptions(*client);
    ASSERT_EQ(subs.size(), 2u);
    ASSERT_TRUE(subs.count(kProjection));
    ASSERT_TRUE(subs.count("event-log"));
    for (const auto& [name, s] : subs) {
      EXPECT_EQ(s.value("checkpoint", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("head", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("lag", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("parked", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("delivered", int64_t{-1}), 0) << s;
    }
    Reply empty = ToReply(client->Get("/carts"));
    ASSERT_EQ(empty.status, 200) << empty.body;
    EXPECT_EQ(empty.Json(), json::parse(R"({"carts":[],"next_after":null})"));
    Reply no_items = ToReply(client->Get("/reports/top-items"));
    ASSERT_EQ(no_items.status, 200) << no_items.body;
    EXPECT_EQ(no_items.Json(), json::parse(R"({"items":[]})"));
  }

  // Five carts: a, c, e stay open; b, d are checked out.
  const std::string a = OpenCart(*client);
  const std::string b = OpenCart(*client);
  const std::string c = OpenCart(*client);
  const std::string d = OpenCart(*client);
  const std::string e = OpenCart(*client);
  ASSERT_FALSE(a.empty() || b.empty() || c.empty() || d.empty() || e.empty());
  AddItem(*client, a, "apple", 3, 100);
  AddItem(*client, a, "pear", 1, 250);
  AddItem(*client, b, "pear", 2, 250);
  AddItem(*client, b, "fig", 5, 40);
  AddItem(*client, c, "apple", 1, 100);
  AddItem(*client, d, "plum", 2, 70);
  EXPECT_EQ(ToReply(client->Delete("/carts/" + d + "/items/plum?quantity=1")).status, 200);
  AddItem(*client, a, "fig", 1, 40);
  EXPECT_EQ(ToReply(client->Delete("/carts/" + a + "/items/fig")).status, 200);
  EXPECT_EQ(ToReply(client->Post("/carts/" + b + "/checkout", httplib::Headers{})).status, 200);
  EXPECT_EQ(ToReply(client->Post("/carts/" + d + "/checkout", httplib::Headers{})).status, 200);

  const int64_t head = Head(*client);
  EXPECT_EQ(head, 5 + 9 + 2);
  ASSERT_TRUE(WaitForLagZero(*client, kProjection, head));
  ASSERT_TRUE(WaitForLagZero(*client, "event-log", head));

  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  // Status filters.
  Reply open = ToReply(client->Get("/carts?status=open"));
  ASSERT_EQ(open.status, 200) << open.body;
  EXPECT_EQ(open.ContentType(), kJson);
  EXPECT_EQ(CartIds(open.Json()), sorted({a, c, e}));
  EXPECT_TRUE(open.Json()["next_after"].is_null());
  Reply done = ToReply(client->Get("/carts?status=checked_out"));
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(CartIds(done.Json()), sorted({b, d}));
  Reply all = ToReply(client->Get("/carts"));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(CartIds(all.Json()), sorted({a, b, c, d, e}));

  // Each row agrees with the cart itself.
  const json all_body = all.Json();
  for (const auto& row : all_body["carts"]) {
    const std::string id = row.value("cart_id", "");
    Reply cart = ToReply(client->Get("/carts/" + id));
    ASSERT_EQ(cart.status, 200) << cart.body;
    json body = cart.Json();
    int64_t count = 0;
    for (const auto& item : body["items"]) count += item.value("quantity", int64_t{0});
    EXPECT_EQ(row.value("status", ""), body.value("status", "")) << id;
    EXPECT_EQ(row.value("total_cents", int64_t{-1}), body.value("total_cents", int64_t{-2})) << id;
    EXPECT_EQ(row.value("version", int64_t{-1}), body.value("version", int64_t{-2})) << id;
    EXPECT_EQ(row.value("item_count", int64_t{-1}), count) << id;
  }
  std::map<std::string, json> rows;
  for (const auto& row : all_body["carts"]) rows[row.value("cart_id", "")] = row;
  EXPECT_EQ(rows[a].value("total_cents", 0), 3 * 100 + 250);
  EXPECT_EQ(rows[a].value("item_count", 0), 4);
  EXPECT_EQ(rows[b].value("total_cents", 0), 2 * 250 + 5 * 40);
  EXPECT_EQ(rows[d].value("item_count", 0), 1);
  EXPECT_EQ(rows[e].value("item_count", -1), 0);
  EXPECT_EQ(rows[e].value("status", ""), "open");
  EXPECT_EQ(rows[b].value("status", ""), "checked_out");

  // Paging: every cart exactly once, in id order, whatever the page size.
  for (int limit : {1, 2, 3, 5, 7}) {
    int pages = 0;
    EXPECT_EQ(PageAllCarts(*client, "", limit, pages), sorted({a, b, c, d, e})) << limit;
    EXPECT_LE(pages, 5 / limit + 1) << limit;
    EXPECT_EQ(PageAllCarts(*client, "&status=open", limit, pages), sorted({a, c, e})) << limit;
    EXPECT_EQ(PageAllCarts(*client, "&status=checked_out", limit, pages), sorted({b, d})) << limit;
  }
  {
    Reply first = ToReply(client->Get("/carts?limit=2"));
    ASSERT_EQ(first.status, 200);
    EXPECT_EQ(first.Json()["next_after"], sorted({a, b, c, d, e})[1]);
  }

  // Bad parameters are problems.
  for (const std::string target :
       {"/carts?status=closed", "/carts?status=", "/carts?status=OPEN", "/carts?limit=0",
        "/carts?limit=x", "/reports/top-items?limit=0", "/reports/top-items?limit=-1"}) {
    Reply bad = ToReply(client->Get(target));
    EXPECT_EQ(bad.status, 400) << target << " " << bad.body;
    EXPECT_EQ(bad.ContentType(), "application/problem+json") << target;
  }
  EXPECT_EQ(ToReply(client->Get("/carts?status=closed")).Json().value("code", ""),
            "invalid_parameter");

  // Top items: by quantity added, most first. fig 6, apple 4, pear 3, plum 2.
  Reply top = ToReply(client->Get("/reports/top-items"));
  ASSERT_EQ(top.status, 200) << top.body;
  EXPECT_EQ(top.Json(), json::parse(R"({"items":[
      {"name":"fig","quantity_added":6,"quantity_removed":1,"times_added":2},
      {"name":"apple","quantity_added":4,"quantity_removed":0,"times_added":2},
      {"name":"pear","quantity_added":3,"quantity_removed":0,"times_added":2},
      {"name":"plum","quantity_added":2,"quantity_removed":1,"times_added":1}]})"));
  Reply top2 = ToReply(client->Get("/reports/top-items?limit=2"));
  ASSERT_EQ(top2.status, 200) << top2.body;
  ASSERT_EQ(top2.Json()["items"].size(), 2u);
  EXPECT_EQ(top2.Json()["items"][0].value("name", ""), "fig");
  EXPECT_EQ(top2.Json()["items"][1].value("name", ""), "apple");

  // 4: the subscriptions, caught up.
  {
    Reply reply = ToReply(client->Get("/subscriptions"));
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.ContentType(), kJson);
    json list = reply.Json()["subscriptions"];
    ASSERT_EQ(list.size(), 2u) << list;
    std::set<std::string> names;
    for (const auto& s : list) {
      names.insert(s.value("name", ""));
      for (const char* field :
           {"name", "state", "checkpoint", "head", "lag", "parked", "delivered"}) {
        EXPECT_TRUE(s.contains(field)) << field << " " << s;
      }
      EXPECT_FALSE(s.contains("error")) << s;
      EXPECT_EQ(s.value("state", ""), "live") << s;
      EXPECT_EQ(s.value("checkpoint", int64_t{-1}), head) << s;
      EXPECT_EQ(s.value("head", int64_t{-1}), head) << s;
      EXPECT_EQ(s.value("lag", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("parked", int64_t{-1}), 0) << s;
      EXPECT_EQ(s.value("delivered", int64_t{-1}), head) << s;  // a fresh folder: all of it
    }
    EXPECT_EQ(names, (std::set<std::string>{kProjection, "event-log"}));
  }

  // The event log on stdout: one JSON line per committed event, as GET /log has them.
  const std::vector<json> log = ReadWholeLog(*client);
  ASSERT_EQ(static_cast<int64_t>(log.size()), head);
  std::vector<std::string> lines;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    lines = Lines(server->Stdout());
    if (lines.size() >= log.size()) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(lines.size(), log.size()) << server->Stdout();
  for (size_t i = 0; i < log.size(); ++i) {
    json line = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(line.is_object()) << lines[i];
    EXPECT_EQ(line.value("position", int64_t{-1}), static_cast<int64_t>(i + 1)) << lines[i];
    EXPECT_EQ(line["position"], log[i]["position"]) << lines[i];
    EXPECT_EQ(line["id"], log[i]["id"]) << lines[i];
    EXPECT_EQ(line["type"], log[i]["type"]) << lines[i];
    EXPECT_EQ(line["stream_id"], log[i]["stream_id"]) << lines[i];
    EXPECT_EQ(line["version"], log[i]["version"]) << lines[i];
    EXPECT_EQ(line["data"], log[i]["data"]) << lines[i];
  }
  client.reset();
  server->Terminate();
  // The access log went to stderr, not into the event log.
  EXPECT_NE(server->Stderr().find("\"method\""), std::string::npos);
  EXPECT_EQ(server->Stdout().find("\"method\""), std::string::npos);
}

// 4: with --quiet there is no event log: only the projection is listed, and stdout stays empty.
// The event log of a restarted server resumes from its checkpoint.
TEST(ServeFeed, SubscriptionsWithQuietAndAfterARestart) {
  testing::TempDir dir;
  int64_t head = 0;
  {
    int port = 0;
    auto server = StartServer(dir.path(), port, /*quiet=*/true);
    ASSERT_GT(port, 0);
    auto client = NewClient(port);
    const std::string cart = OpenCart(*client);
    AddItem(*client, cart, "apple", 2, 10);
    head = Head(*client);
    ASSERT_TRUE(WaitForLagZero(*client, kProjection, head));
    auto subs = Subscriptions(*client);
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_TRUE(subs.count(kProjection));
    client.reset();
    server->Terminate();
    EXPECT_EQ(server->Stdout(), "");
  }
  {
    // Not quiet now: the event log starts from the head (a new log starts from now).
    int port = 0;
    auto server = StartServer(dir.path(), port);
    ASSERT_GT(port, 0);
    auto client = NewClient(port);
    auto subs = Subscriptions(*client);
    ASSERT_EQ(subs.size(), 2u);
    EXPECT_EQ(subs["event-log"].value("checkpoint", int64_t{-1}), head);
    EXPECT_EQ(subs["event-log"].value("lag", int64_t{-1}), 0);
    EXPECT_EQ(subs[kProjection].value("checkpoint", int64_t{-1}), head);
    EXPECT_EQ(subs[kProjection].value("delivered", int64_t{-1}), 0);  // nothing new this run
    const std::string cart = OpenCart(*client);
    const int64_t now = Head(*client);
    ASSERT_TRUE(WaitForLagZero(*client, "event-log", now));
    ASSERT_TRUE(WaitForLagZero(*client, kProjection, now));
    const auto deadline = Clock::now() + 30s;
    while (Lines(server->Stdout()).empty() && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    auto lines = Lines(server->Stdout());
    ASSERT_EQ(lines.size(), 1u) << server->Stdout();
    EXPECT_EQ(json::parse(lines[0]).value("position", int64_t{-1}), now);
    EXPECT_EQ(json::parse(lines[0]).value("stream_id", ""), "cart-" + cart);
    client.reset();
    server->Terminate();
  }
}

// Appends one event to a side stream (not a cart); its position.
int64_t Note(httplib::Client& client, int n) {
  Reply reply = ToReply(client.Post(
      "/streams/notes-1", json::array({{{"type", "Noted"}, {"data", {{"n", n}}}}}).dump(), kJson));
  EXPECT_EQ(reply.status, 201) << reply.body;
  return Head(client);
}

// The received events are exactly positions [first, first + count) of the log, in order.
void ExpectEventsMatchLog(const std::vector<SseEvent>& events, const std::vector<json>& log,
                          int64_t first, size_t count) {
  ASSERT_GE(events.size(), count);
  for (size_t i = 0; i < count; ++i) {
    const int64_t position = first + static_cast<int64_t>(i);
    ASSERT_LE(position, static_cast<int64_t>(log.size()));
    const json& expected = log[static_cast<size_t>(position - 1)];
    EXPECT_EQ(events[i].id, position) << i;
    EXPECT_EQ(events[i].type, expected.value("type", "")) << i;
    ASSERT_TRUE(events[i].data.is_object()) << i;
    EXPECT_EQ(events[i].data["position"], position) << i;
    EXPECT_EQ(events[i].data["id"], expected["id"]) << i;
    EXPECT_EQ(events[i].data["stream_id"], expected["stream_id"]) << i;
    EXPECT_EQ(events[i].data["version"], expected["version"]) << i;
    EXPECT_EQ(events[i].data["data"], expected["data"]) << i;
  }
}

// 2: the live tail replays the log from `from`, then follows new commits, in order; a
// Last-Event-ID resumes after that id; without either it starts at the head.
TEST(ServeFeedSse, LiveTailReplaysThenFollowsAndResumes) {
  testing::TempDir dir;
  int port = 0;
  auto server = StartServer(dir.path(), port, /*quiet=*/true);
  ASSERT_GT(port, 0);
  auto client = NewClient(port);

  // Some history first.
  const std::string cart = OpenCart(*client);
  for (int i = 0; i < 5; ++i) AddItem(*client, cart, "item " + std::to_string(i), i + 1, 10);
  {
    // More than one page of the tail's reads, in one append (each commit waits for an fsync).
    json notes = json::array();
    for (int i = 0; i < 300; ++i) notes.push_back({{"type", "Noted"}, {"data", {{"n", i}}}});
    Reply appended = ToReply(client->Post("/streams/notes-1", notes.dump(), kJson));
    ASSERT_EQ(appended.status, 201) << appended.body;
  }
  const int64_t history = Head(*client);
  ASSERT_EQ(history, 306);

  SseReader from_zero(port, "/log/live?from=0");
  ASSERT_TRUE(from_zero.WaitFor(static_cast<size_t>(history)));
  EXPECT_EQ(from_zero.status(), 200);
  EXPECT_EQ(from_zero.content_type(), "text/event-stream");
  EXPECT_EQ(from_zero.cache_control(), "no-cache");

  // Live: one tail started at the head sees only what comes next.
  SseReader from_now(port, "/log/live");
  ASSERT_TRUE(from_now.WaitForComment());
  EXPECT_EQ(from_now.Comments().front(),
            ": evs live tail after position " + std::to_string(history));

  // Appends from several threads while both tails follow.
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 25;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto writer = NewClient(port);
      const std::string mine = OpenCart(*writer);
      for (int i = 0; i < kPerWriter - 1; ++i)
        AddItem(*writer, mine, "w" + std::to_string(w), 1, 5);
    });
  }
  for (auto& t : writers) t.join();
  const int64_t head = Head(*client);
  ASSERT_EQ(head, history + kWriters * kPerWriter);
  ASSERT_TRUE(from_zero.WaitFor(static_cast<size_t>(head))) << from_zero.Events().size();
  ASSERT_TRUE(from_now.WaitFor(static_cast<size_t>(head - history))) << from_now.Events().size();

  const std::vector<json> log = ReadWholeLog(*client);
  ASSERT_EQ(static_cast<int64_t>(log.size()), head);
  ExpectEventsMatchLog(from_zero.Events(), log, 1, static_cast<size_t>(head));
  ExpectEventsMatchLog(from_now.Events(), log, history + 1, static_cast<size_t>(head - history));
  EXPECT_TRUE(from_zero.Errors().empty()) << from_zero.Errors().front();
  EXPECT_TRUE(from_now.Errors().empty()) << from_now.Errors().front();

  // Last-Event-ID resumes after that id (and `from` wins over it).
  const int64_t last_seen = 123;
  SseReader resumed(port, "/log/live", {{"Last-Event-ID", std::to_string(last_seen)}});
  ASSERT_TRUE(resumed.WaitFor(static_cast<size_t>(head - last_seen)));
  ExpectEventsMatchLog(resumed.Events(), log, last_seen + 1, static_cast<size_t>(head - last_seen));
  SseReader both(port, "/log/live?from=300", {{"Last-Event-ID", "5"}});
  ASSERT_TRUE(both.WaitFor(static_cast<size_t>(head - 300)));
  ExpectEventsMatchLog(both.Events(), log, 301, static_cast<size_t>(head - 300));

  // A bad `from` is a problem, not a stream.
  Reply bad = ToReply(client->Get("/log/live?from=x"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  Reply negative = ToReply(client->Get("/log/live?from=-1"));
  EXPECT_EQ(negative.status, 400) << negative.body;

  // Stop reading: each receiver returns false on its next call, which the next append causes.
  for (SseReader* reader : {&from_zero, &from_now, &resumed, &both}) reader->RequestStop();
  const int64_t last = Note(*client, 1000);
  for (SseReader* reader : {&from_zero, &from_now, &resumed, &both}) {
    EXPECT_TRUE(reader->WaitForEnd());
  }
  // Nothing past the stop was delivered out of order: every tail is still a prefix of the log.
  auto everything = from_zero.Events();
  EXPECT_LE(static_cast<int64_t>(everything.size()), last);
  for (size_t i = 0; i < everything.size(); ++i) {
    EXPECT_EQ(everything[i].id, static_cast<int64_t>(i + 1));
  }

  // The server still serves, and stops cleanly with a tail open.
  SseReader open_tail(port, "/log/live?from=0");
  ASSERT_TRUE(open_tail.WaitFor(1));
  EXPECT_EQ(ToReply(client->Get("/healthz")).status, 200);
  client.reset();
  server->Terminate();
  EXPECT_TRUE(open_tail.WaitForEnd());
}

// Random cart commands over HTTP until `stop` or a transport error (the server went away).
void CartTraffic(int port, unsigned seed, std::atomic<bool>& stop, std::atomic<int>& acked,
                 std::atomic<int>& server_errors) {
  auto client = NewClient(port);
  client->set_read_timeout(10);
  std::mt19937 random(seed);
  std::vector<std::string> carts;
  const char* items[] = {"apple", "pear", "plum", "fig", "kiwi"};
  const auto deadline = Clock::now() + 60s;
  while (!stop && Clock::now() < deadline) {
    Reply reply;
    if (carts.empty() || random() % 6 == 0) {
      reply = ToReply(client->Post("/carts", httplib::Headers{}));
      if (reply.status == 201) carts.push_back(reply.Json().value("cart_id", ""));
    } else {
      const std::string& id = carts[random() % carts.size()];
      const std::string item = items[random() % 5];
      switch (random() % 8) {
        case 0:
          reply = ToReply(client->Delete("/carts/" + id + "/items/" + item));
          break;
        case 1:
          reply = ToReply(client->Post("/carts/" + id + "/checkout", httplib::Headers{}));
          break;
        default: {
          json body = {{"name", item},
                       {"quantity", 1 + random() % 3},
                       {"unit_price_cents", 10 * (1 + random() % 20)}};
          reply = ToReply(client->Post("/carts/" + id + "/items", body.dump(), kJson));
        }
      }
    }
    if (reply.status == -1) break;  // refused or cut off: the server is gone
    if (reply.status >= 500) ++server_errors;
    if (reply.status < 300) ++acked;
  }
}

// 3: the projection survives SIGKILL in the middle of traffic: after a restart it catches up,
// and its read model equals a fresh build of the same log.
TEST(ServeFeedProjection, KilledMidTrafficThenRestartedEqualsAFreshBuild) {
  testing::TempDir dir;
  const std::string data = dir.File("data");
  constexpr int kRounds = 3;
  constexpr int kClients = 6;
  constexpr int kAcked = 120;  // acknowledged commands per round before the SIGKILL
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    {
      int port = 0;
      auto server = StartServer(data, port);
      ASSERT_GT(port, 0);
      std::atomic<bool> stop{false};
      std::atomic<int> acked{0};
      std::atomic<int> server_errors{0};
      std::vector<std::thread> clients;
      for (int t = 0; t < kClients; ++t) {
        clients.emplace_back([&, t] {
          CartTraffic(port, static_cast<unsigned>(round * 100 + t), stop, acked, server_errors);
        });
      }
      // Let traffic build up (and the projection work through it), then SIGKILL mid-way.
      const auto busy = Clock::now() + 30s;
      while (acked < kAcked && Clock::now() < busy) std::this_thread::sleep_for(2ms);
      EXPECT_GE(acked, kAcked);
      server->Kill();
      stop = true;
      for (auto& t : clients) t.join();
      EXPECT_EQ(server_errors, 0);
    }
    {
      // Restarted: the projection catches up from its checkpoint.
      int port = 0;
      auto server = StartServer(data, port);
      ASSERT_GT(port, 0);
      auto client = NewClient(port);
      const int64_t head = Head(*client);
      ASSERT_GT(head, 0);
      ASSERT_TRUE(WaitForLagZero(*client, kProjection, head));
      // The read model answers for every cart in the log.
      int pages = 0;
      const auto ids = PageAllCarts(*client, "", 1000, pages);
      std::set<std::string> streams;
      for (const json& e : ReadWholeLog(*client)) {
        if (e.value("type", "") == "CartOpened") streams.insert(e.value("stream_id", ""));
      }
      EXPECT_EQ(ids.size(), streams.size());
      client.reset();
      server->Terminate();
    }
    // In-process: a fresh build of the same log must equal the killed-and-restarted one. The
    // server made the data folder with the default engine, the log engine.
    LogStoreOptions options;
    options.folder = data + "/log";
    auto store = OpenLogEventStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    cart::CartSummaryProjection projection;
    ProjectionOptions projection_options;
    projection_options.path = dir.File("fresh-" + std::to_string(round) + ".sqlite");
    auto runner = ProjectionRunner::Open(**store, projection, projection_options);
    ASSERT_TRUE(runner.ok()) << runner.error().message;
    ASSERT_TRUE((*runner)->Start().ok());
    const int64_t head = *(*store)->HeadPosition();
    ASSERT_TRUE((*runner)->WaitUntil(head, std::chrono::milliseconds(kCatchUpTimeout)));
    (*runner)->Stop();
    const std::string fresh = DumpCartReadModel(projection_options.path);
    const std::string served = DumpCartReadModel(data + "/cart_summary.sqlite");
    EXPECT_GT(fresh.size(), 20u);
    EXPECT_EQ(served, fresh);
  }
}

}  // namespace
}  // namespace evs
