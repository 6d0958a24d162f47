// Filtered reads of the log (src/feed/log_filter.h): which events a filter keeps, and that a read
// examines a bounded number of events and always says where it got to.
#include "feed/log_filter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"

namespace evs::feed {
namespace {

RecordedEvent Event(std::string stream, std::string type) {
  RecordedEvent e;
  e.stream_id = std::move(stream);
  e.type = std::move(type);
  return e;
}

void AppendN(EventStore& store, const std::string& stream, const std::string& type, int n) {
  EventData event;
  event.type = type;
  std::vector<EventData> events(static_cast<size_t>(n), event);
  ASSERT_TRUE(store.Append(stream, ExpectedVersion::Any(), std::move(events)).ok());
}

std::vector<int64_t> Positions(const FilteredLogPage& page) {
  std::vector<int64_t> out;
  for (const auto& e : page.events) out.push_back(e.position);
  return out;
}

TEST(LogFilter, CategoryIsThePartBeforeTheFirstDash) {
  EXPECT_EQ(CategoryOf("cart-1"), "cart");
  EXPECT_EQ(CategoryOf("cart-1-2"), "cart");
  EXPECT_EQ(CategoryOf("cart"), "");
  EXPECT_EQ(CategoryOf("-x"), "");
}

TEST(LogFilter, MatchesByCategoryAndType) {
  LogFilter cart{{"cart"}, {}};
  EXPECT_TRUE(cart.Matches(Event("cart-1", "A")));
  EXPECT_FALSE(cart.Matches(Event("carts-1", "A")));  // a prefix, but another category
  EXPECT_FALSE(cart.Matches(Event("cart", "A")));     // no '-': no category
  EXPECT_FALSE(cart.Matches(Event("order-1", "A")));
  EXPECT_FALSE(cart.Matches(Event("cart-1", std::string(kScavengedEventType))));

  LogFilter both{{"cart", "order"}, {"A", "B"}};
  EXPECT_TRUE(both.Matches(Event("order-9", "B")));
  EXPECT_FALSE(both.Matches(Event("order-9", "C")));
  EXPECT_FALSE(both.Matches(Event("user-9", "A")));

  LogFilter none;
  EXPECT_TRUE(none.Matches(Event("x", std::string(kScavengedEventType))));  // as ReadLog shows
}

TEST(LogFilter, ReadsMatchesInLogOrderAndPages) {
  auto store = NewMemoryEventStore();
  AppendN(*store, "cart-1", "A", 2);   // 1, 2
  AppendN(*store, "order-1", "A", 2);  // 3, 4
  AppendN(*store, "cart-2", "B", 2);   // 5, 6
  const LogFilter cart{{"cart"}, {}};

  auto all = ReadFilteredLog(*store, 0, 100, cart);
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(Positions(*all), (std::vector<int64_t>{1, 2, 5, 6}));
  EXPECT_EQ(all->next_position, 6);
  EXPECT_EQ(all->head_position, 6);

  // A full page stops at its last match, so the next page starts right after it.
  auto first = ReadFilteredLog(*store, 0, 2, cart);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Positions(*first), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(first->next_position, 2);
  auto second = ReadFilteredLog(*store, first->next_position, 2, cart);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Positions(*second), (std::vector<int64_t>{5, 6}));

  auto type_b = ReadFilteredLog(*store, 0, 100, LogFilter{{}, {"B"}});
  ASSERT_TRUE(type_b.ok());
  EXPECT_EQ(Positions(*type_b), (std::vector<int64_t>{5, 6}));

  auto unknown = ReadFilteredLog(*store, 0, 100, LogFilter{{"nothing"}, {}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(unknown->events.empty());
  EXPECT_EQ(unknown->next_position, 6);  // examined to the head
}

TEST(LogFilter, AScanStopsAtItsBudgetAndSaysWhereItGot) {
  auto store = NewMemoryEventStore();
  AppendN(*store, "other-1", "X", 1000);  // 1..1000
  AppendN(*store, "other-2", "X", 1000);  // 1001..2000
  AppendN(*store, "other-3", "X", 500);   // 2001..2500
  AppendN(*store, "cart-1", "A", 1);      // 2501
  const LogFilter cart{{"cart"}, {}};
  const ScanBudget budget{.max_events = 1000, .max_bytes = 1 << 30, .events_per_read = 300};

  int64_t after = 0;
  std::vector<int64_t> found;
  int pages = 0;
  for (; pages < 100 && after < 2501; ++pages) {
    auto page = ReadFilteredLog(*store, after, 10, cart, budget);
    ASSERT_TRUE(page.ok());
    EXPECT_LE(page->examined, 1000u);
    EXPECT_GT(page->next_position, after);  // always progress
    for (int64_t p : Positions(*page)) found.push_back(p);
    after = page->next_position;
  }
  EXPECT_EQ(pages, 3);  // 1000 + 1000 + 501
  EXPECT_EQ(found, std::vector<int64_t>{2501});

  // The byte budget: each event here is 12 bytes (id 7, type 1, data and metadata 2 each); the
  // scan stops once it has examined 25 bytes or more, so after the third event.
  auto small =
      ReadFilteredLog(*store, 0, 10, cart,
                      ScanBudget{.max_events = 10000, .max_bytes = 25, .events_per_read = 256});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->examined, 3u);
  EXPECT_EQ(small->next_position, 3);
}

TEST(LogFilter, WithoutACriterionItIsOneReadLog) {
  auto store = NewMemoryEventStore();
  AppendN(*store, "a", "X", 5);
  auto page = ReadFilteredLog(*store, 1, 3, LogFilter{},
                              ScanBudget{.max_events = 1, .max_bytes = 1, .events_per_read = 1});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Positions(*page), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(page->next_position, 4);
  EXPECT_EQ(page->head_position, 5);
}

}  // namespace
}  // namespace evs::feed
