// Category and event-type streams over HTTP, through the real server on a real SQLite store:
// GET /streams/$ce-{category} and /streams/$et-{type}, the ?category= and ?type= filters of
// GET /log and GET /log/live, bounded scans across long stretches of events that do not match,
// checkpoints of a filtered live tail that a reconnect resumes from, and the refusals.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "evs/event_store.h"
#include "http_client.h"
#include "served_api.h"
#include "sse_reader.h"

namespace evs::http {
namespace {

using nlohmann::json;
using testing::Reply;
using testing::ToReply;

constexpr const char* kJson = "application/json";
constexpr int64_t kScanBudget = 10000;  // kFilteredReadBudget.max_events

// An event as GET /log and the virtual streams show it: where it is and what.
struct Seen {
  int64_t position;
  std::string stream_id;
  std::string type;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> SeenIn(const json& events) {
  std::vector<Seen> out;
  for (const auto& e : events) {
    out.push_back(
        {e.value("position", int64_t{-1}), e.value("stream_id", ""), e.value("type", "")});
  }
  return out;
}

class HttpCategoryStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GT(served_.port(), 0) << "the server did not start"; }
  Reply Get(const std::string& target) { return ToReply(served_.client().Get(target)); }

  // Appends `n` events of `type` to `stream` through the store (one commit); their positions.
  std::vector<int64_t> Append(const std::string& stream, const std::string& type, int n = 1) {
    EventData event;
    event.type = type;
    std::vector<EventData> events(static_cast<size_t>(n), event);
    auto result = served_.store().Append(stream, ExpectedVersion::Any(), std::move(events));
    EXPECT_TRUE(result.ok()) << result.error().message;
    std::vector<int64_t> positions;
    for (int64_t p = result->first_position; result.ok() && p <= result->last_position; ++p) {
      positions.push_back(p);
    }
    return positions;
  }

  // Pages through `target` (which has a '?') with `limit`, following next_from until the head;
  // the events, and the pages it took.
  std::vector<Seen> ReadAll(const std::string& target, int limit, int& pages) {
    std::vector<Seen> seen;
    int64_t from = 0;
    pages = 0;
    for (int i = 0; i < 100; ++i) {
      ++pages;
      Reply reply =
          Get(target + "&limit=" + std::to_string(limit) + "&from=" + std::to_string(from));
      EXPECT_EQ(reply.status, 200) << reply.body;
      if (reply.status != 200) break;
      const json body = reply.Json();
      for (const Seen& s : SeenIn(body["events"])) seen.push_back(s);
      const int64_t next = body.value("next_from", int64_t{-1});
      const int64_t head = body.value("head_position", int64_t{-1});
      EXPECT_LE(body["events"].size(), static_cast<size_t>(limit));
      // Every page makes progress, and examines at most the budget.
      EXPECT_TRUE(next > from || next == head) << body;
      EXPECT_LE(next - from, kScanBudget) << body;
      if (next == head) return seen;
      from = next;
    }
    ADD_FAILURE() << target << " did not reach the head";
    return seen;
  }

  testing::ServedApi served_;
};

json ExpectProblem(const Reply& reply, int status, const std::string& code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_EQ(reply.ContentType(), "application/problem+json") << reply.body;
  json body = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(body.is_object() ? body.value("code", "") : "", code) << reply.body;
  return body;
}

TEST_F(HttpCategoryStreamsTest, CategoryAndTypeStreamsHoldTheirEventsInLogOrder) {
  const auto a1 = Append("cart-1", "Opened");    // 1
  const auto b1 = Append("order-1", "Placed");   // 2
  const auto a2 = Append("cart-2", "Opened");    // 3
  const auto a3 = Append("cart-1", "Added", 2);  // 4, 5
  Append("carts-1", "Opened");                   // another category that "cart" prefixes
  Append("cart", "Opened");                      // no '-': in no category
  const auto b2 = Append("order-1", "Added");    // 8

  Reply cart = Get("/streams/$ce-cart");
  ASSERT_EQ(cart.status, 200) << cart.body;
  const json body = cart.Json();
  EXPECT_EQ(body.value("stream_id", ""), "$ce-cart");
  EXPECT_EQ(SeenIn(body["events"]), (std::vector<Seen>{{a1[0], "cart-1", "Opened"},
                                                       {a2[0], "cart-2", "Opened"},
                                                       {a3[0], "cart-1", "Added"},
                                                       {a3[1], "cart-1", "Added"}}));
  EXPECT_EQ(body.value("next_from", int64_t{-1}), 8);  // examined to the head
  EXPECT_EQ(body.value("head_position", int64_t{-1}), 8);
  EXPECT_EQ(body["events"][0]["data"], json::object());  // the log's event shape

  Reply added = Get("/streams/$et-Added");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(SeenIn(added.Json()["events"]), (std::vector<Seen>{{a3[0], "cart-1", "Added"},
                                                               {a3[1], "cart-1", "Added"},
                                                               {b2[0], "order-1", "Added"}}));
  // Percent-encoded, the same stream.
  EXPECT_EQ(Get("/streams/%24et-Added").Json()["events"], added.Json()["events"]);

  // The same through GET /log's filters, both at once, and comma lists.
  EXPECT_EQ(SeenIn(Get("/log?category=cart").Json()["events"]), SeenIn(body["events"]));
  EXPECT_EQ(SeenIn(Get("/log?category=order&type=Added").Json()["events"]),
            (std::vector<Seen>{{b2[0], "order-1", "Added"}}));
  EXPECT_EQ(SeenIn(Get("/log?type=Placed,Added&category=order,cart").Json()["events"]),
            (std::vector<Seen>{{b1[0], "order-1", "Placed"},
                               {a3[0], "cart-1", "Added"},
                               {a3[1], "cart-1", "Added"},
                               {b2[0], "order-1", "Added"}}));
  EXPECT_EQ(Get("/log?category=cart&upcast=true").status, 200);

  // An unknown category is an empty page at the head, not a 404: it may fill later.
  Reply none = Get("/streams/$ce-nothing");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_TRUE(none.Json()["events"].empty());
  EXPECT_EQ(none.Json().value("next_from", int64_t{-1}), 8);
  Append("nothing-1", "Opened");
  EXPECT_EQ(Get("/streams/$ce-nothing?from=8").Json()["events"].size(), 1u);
}

TEST_F(HttpCategoryStreamsTest, PagesFollowNextFrom) {
  std::vector<Seen> expected;
  for (int i = 0; i < 7; ++i) {
    for (int64_t p : Append("cart-" + std::to_string(i), "Opened")) {
      expected.push_back({p, "cart-" + std::to_string(i), "Opened"});
    }
    Append("other-" + std::to_string(i), "Opened", 3);
  }
  int pages = 0;
  EXPECT_EQ(ReadAll("/streams/$ce-cart?", 2, pages), expected);
  EXPECT_EQ(pages, 4);
  // A page that fills up ends at its last event: the next one starts right after it.
  Reply first = Get("/log?category=cart&limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Json().value("next_from", int64_t{-1}), expected[1].position);
  Reply second = Get("/log?category=cart&limit=2&from=" + std::to_string(expected[1].position));
  EXPECT_EQ(SeenIn(second.Json()["events"]), (std::vector<Seen>{expected[2], expected[3]}));
}

// 25,000 events of other streams between two of the category: crossed in pages that each examine
// at most the scan budget and return the position they reached, matches or not.
TEST_F(HttpCategoryStreamsTest, ALongStretchIsCrossedInBoundedPages) {
  const int64_t first = Append("cart-1", "Opened")[0];
  for (int i = 0; i < 25; ++i) Append("other-" + std::to_string(i), "Noise", 1000);
  const int64_t last = Append("cart-1", "Added")[0];
  ASSERT_EQ(last, 25002);

  for (const std::string target :
       {"/streams/$ce-cart?", "/log?category=cart", "/streams/$et-Added?"}) {
    int pages = 0;
    const std::vector<Seen> seen = ReadAll(target, 100, pages);
    std::vector<Seen> expected = {{first, "cart-1", "Opened"}, {last, "cart-1", "Added"}};
    if (target.find("Added") != std::string::npos) expected.erase(expected.begin());
    EXPECT_EQ(seen, expected) << target;
    EXPECT_GE(pages, 3) << target;  // 25,002 events at most 10,000 a page
    EXPECT_LE(pages, 4) << target;
  }
  // A page with no match still moves on: from the first event, the budget's worth further.
  Reply empty = Get("/log?category=cart&from=" + std::to_string(first));
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_TRUE(empty.Json()["events"].empty());
  EXPECT_EQ(empty.Json().value("next_from", int64_t{-1}), first + kScanBudget);
}

// A filtered live tail delivers only matching events, in order, crosses a long stretch, tells
// the client the position it reached (an id with no data), and a reconnect with that
// Last-Event-ID resumes past the stretch.
TEST_F(HttpCategoryStreamsTest, LiveTailWithFiltersDeliversMatchesAndCheckpoints) {
  const int64_t first = Append("cart-1", "Opened")[0];
  Append("order-1", "Placed");
  for (int i = 0; i < 25; ++i) Append("other-" + std::to_string(i), "Noise", 1000);
  const int64_t head = served_.store().HeadPosition().value();

  int64_t checkpoint = 0;
  {
    testing::SseReader tail(served_.port(), "/log/live?from=0&category=cart");
    ASSERT_TRUE(tail.WaitFor(1));
    EXPECT_EQ(tail.status(), 200);
    // Nothing matches after the first event: the tail reports the head it reached.
    ASSERT_TRUE(tail.WaitForCheckpoint(head));
    checkpoint = tail.Checkpoints().back();
    EXPECT_EQ(checkpoint, head);
    const int64_t second = Append("cart-2", "Opened")[0];
    Append("order-1", "Added");
    const int64_t third = Append("cart-1", "Added")[0];
    ASSERT_TRUE(tail.WaitFor(3));
    tail.RequestStop();
    Append("cart-1", "Added");  // wakes the reader, which then stops
    ASSERT_TRUE(tail.WaitForEnd());
    const auto events = tail.Events();
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events[0].id, first);
    EXPECT_EQ(events[1].id, second);
    EXPECT_EQ(events[2].id, third);
    for (const auto& e : events) {
      EXPECT_EQ(e.data.value("stream_id", "").rfind("cart-", 0), 0u) << e.data;
    }
    EXPECT_TRUE(tail.Errors().empty());
  }

  // The reconnect resumes after the checkpoint: the stretch is not examined again, and only
  // what matches since then comes.
  testing::SseReader resumed(served_.port(), "/log/live?type=Added",
                             {{"Last-Event-ID", std::to_string(checkpoint)}});
  ASSERT_TRUE(resumed.WaitForComment());
  EXPECT_EQ(resumed.Comments().front(),
            ": evs live tail after position " + std::to_string(checkpoint));
  ASSERT_TRUE(resumed.WaitFor(3));
  resumed.RequestStop();
  Append("order-2", "Added");
  ASSERT_TRUE(resumed.WaitForEnd());
  const auto events = resumed.Events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].data.value("stream_id", ""), "order-1");
  EXPECT_EQ(events[1].data.value("stream_id", ""), "cart-1");
  EXPECT_EQ(events[2].data.value("stream_id", ""), "cart-1");
  for (const auto& e : events) {
    EXPECT_EQ(e.type, "Added");
    EXPECT_GT(e.id, checkpoint);
  }
}

TEST_F(HttpCategoryStreamsTest, VirtualStreamsRefuseWrites) {
  Append("cart-1", "Opened");
  const std::string events = json::array({{{"type", "Opened"}, {"data", json::object()}}}).dump();
  for (const std::string stream : {"$ce-cart", "$et-Opened", "%24ce-cart"}) {
    httplib::Client& client = served_.client();
    json problem = ExpectProblem(ToReply(client.Post("/streams/" + stream, events, kJson)), 405,
                                 "read_only_stream");
    EXPECT_NE(problem.value("detail", "").find("virtual stream"), std::string::npos) << problem;
    Reply deleted = ToReply(client.Delete("/streams/" + stream));
    ExpectProblem(deleted, 405, "read_only_stream");
    EXPECT_EQ(deleted.Header("Allow"), "GET");
    ExpectProblem(
        ToReply(client.Put("/streams/" + stream + "/metadata", R"({"max_count": 1})", kJson)), 405,
        "read_only_stream");
  }
  // Nothing was written.
  EXPECT_EQ(served_.store().HeadPosition().value(), 1);
  EXPECT_EQ(Get("/streams?limit=10").Json()["streams"].size(), 1u);
}

TEST_F(HttpCategoryStreamsTest, BadFiltersAre400) {
  Append("cart-1", "Opened");
  for (const std::string query : {"category=", "category=a-b", "category=cart,",
                                  "type=", "type=A,,B", "category=cart&type="}) {
    ExpectProblem(Get("/log?" + query), 400, "invalid_filter");
    ExpectProblem(Get("/log/live?" + query), 400, "invalid_filter");
  }
  std::string many = "a";
  for (int i = 0; i < 40; ++i) many += ",a" + std::to_string(i);
  ExpectProblem(Get("/log?type=" + many), 400, "invalid_filter");
  ExpectProblem(Get("/log?type=" + std::string(300, 'x')), 400, "invalid_filter");
  for (const std::string stream : {"$ce-", "$et-", "$ce-a-b"}) {
    ExpectProblem(Get("/streams/" + stream), 400, "invalid_stream_id");
  }
  ExpectProblem(Get("/streams/$ce-cart?direction=backward"), 400, "invalid_parameter");
  ExpectProblem(Get("/streams/$ce-cart?limit=0"), 400, "invalid_parameter");
  ExpectProblem(Get("/streams/$ce-cart?from=-1"), 400, "invalid_parameter");
  ExpectProblem(Get("/streams/$ce-cart?upcast=maybe"), 400, "invalid_parameter");
  EXPECT_EQ(Get("/streams/$ce-cart?direction=forward").status, 200);
}

}  // namespace
}  // namespace evs::http
