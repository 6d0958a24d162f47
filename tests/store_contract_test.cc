// The event store contract (docs/architecture.md), run against every backend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fake_clock.h"
#include "store/commit_planner.h"
#include "store/group_commit.h"
#include "store/sqlite_schema.h"
#include "store_factory.h"

namespace evs {
namespace {

EventData Event(std::string type, std::string data = "{}") {
  EventData e;
  e.type = std::move(type);
  e.data = std::move(data);
  return e;
}

std::vector<EventData> Events(int n, const std::string& type = "Tick") {
  std::vector<EventData> events;
  for (int i = 0; i < n; ++i) {
    events.push_back(Event(type, "{\"i\":" + std::to_string(i) + "}"));
    events.back().id = Uuid::Random();  // set by the caller, so that a resend is a retry
  }
  return events;
}

// Collects AppendAsync outcomes, in the order they are called back, from any thread.
class Outcomes {
 public:
  // A callback that records its outcome under `index`.
  EventStore::AppendCallback Callback(int index) {
    return [this, index](Result<AppendResult> result) {
      std::lock_guard guard(mu_);
      order_.push_back(index);
      results_.emplace_back(index, std::move(result));
      cv_.notify_all();
    };
  }
  // Waits (bounded: a minute, far beyond any run) until `n` outcomes are in; returns how many.
  size_t WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::minutes(1), [&] { return order_.size() >= n; });
    return order_.size();
  }
  size_t Count() {
    std::lock_guard guard(mu_);
    return order_.size();
  }
  std::vector<int> Order() {
    std::lock_guard guard(mu_);
    return order_;
  }
  // The outcome recorded under `index` (the first, if called back twice).
  Result<AppendResult> Of(int index) {
    std::lock_guard guard(mu_);
    for (auto& [i, r] : results_) {
      if (i == index) return r;
    }
    return Error::Make(ErrorCode::kNotFound, "no outcome for " + std::to_string(index));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> order_;
  std::vector<std::pair<int, Result<AppendResult>>> results_;
};

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    factory_ = testing::MakeFactory(GetParam());
    if (auto reason = factory_->SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }

  AppendResult MustAppend(const std::string& stream, ExpectedVersion expected,
                          std::vector<EventData> events) {
    auto r = store_->Append(stream, expected, std::move(events));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : AppendResult{};
  }

  void ExpectConflict(const std::string& stream, ExpectedVersion expected, int64_t actual) {
    auto r = store_->Append(stream, expected, Events(1));
    ASSERT_FALSE(r.ok()) << "expected " << expected.ToString() << " should have failed";
    EXPECT_EQ(r.error().code, ErrorCode::kWrongExpectedVersion) << r.error().message;
    ASSERT_TRUE(r.error().conflict.has_value());
    EXPECT_EQ(r.error().conflict->expected, expected.ToString());
    EXPECT_EQ(r.error().conflict->actual, actual);
  }

  ErrorCode AppendError(const std::string& stream, std::vector<EventData> events) {
    auto r = store_->Append(stream, ExpectedVersion::Any(), std::move(events));
    EXPECT_FALSE(r.ok());
    return r.ok() ? ErrorCode::kUnsupported : r.error().code;
  }

  // Positions on a backend with a global log; 0 on one without.
  int64_t Position(int64_t position) const { return factory_->HasGlobalLog() ? position : 0; }

  // The log's head on a backend with a global log.
  void ExpectHead(int64_t head) {
    if (factory_->HasGlobalLog()) {
      EXPECT_EQ(*store_->HeadPosition(), head);
    }
  }

  std::unique_ptr<testing::StoreFactory> factory_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(StoreContract, FirstAppendStartsAtVersionOneAndPositionOne) {
  auto r = MustAppend("s", ExpectedVersion::Any(), Events(3));
  EXPECT_EQ(r.first_version, 1);
  EXPECT_EQ(r.last_version, 3);
  EXPECT_EQ(r.first_position, Position(1));
  EXPECT_EQ(r.last_position, Position(3));
  EXPECT_EQ(*store_->StreamVersion("s"), 3);
  EXPECT_EQ(*store_->StreamVersion("other"), 0);
  ExpectHead(3);
}

TEST_P(StoreContract, RecordedEventsKeepEveryField) {
  EventData e = Event("ItemAdded", R"({"name":"apple","quantity":2})");
  e.id = Uuid::Random();
  e.metadata = R"({"correlation_id":"abc"})";
  const auto before = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  MustAppend("cart-1", ExpectedVersion::NoStream(), {e});
  auto page = store_->ReadStream("cart-1", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 1u);
  const RecordedEvent& got = page->events[0];
  EXPECT_EQ(got.stream_id, "cart-1");
  EXPECT_EQ(got.version, 1);
  EXPECT_EQ(got.position, Position(1));
  EXPECT_EQ(got.id, e.id);
  EXPECT_EQ(got.type, "ItemAdded");
  EXPECT_EQ(got.data, e.data);
  EXPECT_EQ(got.metadata, e.metadata);
  EXPECT_GE(got.recorded_at_us, before);
  EXPECT_LT(got.recorded_at_us, before + 60'000'000);
}

TEST_P(StoreContract, NilIdsGetRandomIdsAndEmptyMetadataBecomesAnObject) {
  EventData e = Event("T");
  e.metadata = "";
  MustAppend("s", ExpectedVersion::Any(), {e, Event("T")});
  auto page = store_->ReadStream("s", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_FALSE(page->events[0].id.IsNil());
  EXPECT_NE(page->events[0].id, page->events[1].id);
  EXPECT_EQ(page->events[0].metadata, "{}");
}

TEST_P(StoreContract, NoStreamSucceedsOnceThenConflicts) {
  MustAppend("s", ExpectedVersion::NoStream(), Events(2));
  ExpectConflict("s", ExpectedVersion::NoStream(), 2);
  EXPECT_EQ(*store_->StreamVersion("s"), 2);
}

TEST_P(StoreContract, ExactZeroIsNoStream) {
  MustAppend("s", ExpectedVersion::Exact(0), Events(1));
  ExpectConflict("s", ExpectedVersion::Exact(0), 1);
}

TEST_P(StoreContract, StreamExistsNeedsAnEvent) {
  ExpectConflict("s", ExpectedVersion::StreamExists(), 0);
  MustAppend("s", ExpectedVersion::Any(), Events(1));
  auto r = MustAppend("s", ExpectedVersion::StreamExists(), Events(1));
  EXPECT_EQ(r.first_version, 2);
}

TEST_P(StoreContract, ExactVersionMustMatch) {
  MustAppend("s", ExpectedVersion::Any(), Events(3));
  ExpectConflict("s", ExpectedVersion::Exact(2), 3);
  ExpectConflict("s", ExpectedVersion::Exact(4), 3);
  ExpectConflict("new", ExpectedVersion::Exact(1), 0);
  auto r = MustAppend("s", ExpectedVersion::Exact(3), Events(2));
  EXPECT_EQ(r.first_version, 4);
  EXPECT_EQ(r.last_version, 5);
}

TEST_P(StoreContract, ExpectedVersionOutOfRangeIsInvalid) {
  MustAppend("s", ExpectedVersion::Any(), Events(1));
  for (int64_t v : {int64_t{-1}, INT64_MIN, INT64_MAX}) {
    auto r = store_->Append("s", ExpectedVersion::Exact(v), Events(1));
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << v;
  }
  EXPECT_EQ(*store_->StreamVersion("s"), 1);
}

TEST_P(StoreContract, AnyAlwaysAppends) {
  MustAppend("s", ExpectedVersion::Any(), Events(1));
  auto r = MustAppend("s", ExpectedVersion::Any(), Events(1));
  EXPECT_EQ(r.first_version, 2);
}

TEST_P(StoreContract, ConflictWritesNothing) {
  MustAppend("s", ExpectedVersion::Any(), Events(1));
  ExpectConflict("s", ExpectedVersion::NoStream(), 1);
  ExpectHead(1);
  auto page = store_->ReadStream("s", {});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->events.size(), 1u);
}

TEST_P(StoreContract, PositionsInterleaveAcrossStreams) {
  if (!factory_->HasGlobalLog()) GTEST_SKIP() << GetParam() << " has no global log";
  MustAppend("a", ExpectedVersion::Any(), Events(2));
  auto b = MustAppend("b", ExpectedVersion::Any(), Events(1));
  auto a = MustAppend("a", ExpectedVersion::Any(), Events(1));
  EXPECT_EQ(b.first_position, 3);
  EXPECT_EQ(a.first_position, 4);
  EXPECT_EQ(a.first_version, 3);
  auto log = store_->ReadLog(0, 100);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->events.size(), 4u);
  std::vector<std::string> streams;
  for (const auto& e : log->events) streams.push_back(e.stream_id);
  EXPECT_EQ(streams, (std::vector<std::string>{"a", "a", "b", "a"}));
  for (size_t i = 0; i < log->events.size(); ++i) {
    EXPECT_EQ(log->events[i].position, static_cast<int64_t>(i + 1));
  }
}

TEST_P(StoreContract, ReadStreamForwardInPages) {
  MustAppend("s", ExpectedVersion::Any(), Events(10));
  ReadStreamOptions read;
  read.limit = 4;
  read.from = 1;
  std::vector<int64_t> versions;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->ReadStream("s", read);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->stream_version, 10);
    for (const auto& e : page->events) versions.push_back(e.version);
    if (page->end_of_stream) break;
    read.from = page->events.back().version + 1;
  }
  ASSERT_EQ(versions.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(versions[i], i + 1);

  read.from = 8;
  read.limit = 100;
  auto tail = store_->ReadStream("s", read);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->events.size(), 3u);
  EXPECT_EQ(tail->events[0].version, 8);
  EXPECT_EQ(tail->events[0].data, "{\"i\":7}");
  EXPECT_TRUE(tail->end_of_stream);

  read.from = 11;
  auto past = store_->ReadStream("s", read);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->events.empty());
  EXPECT_TRUE(past->end_of_stream);
}

TEST_P(StoreContract, ReadStreamBackward) {
  MustAppend("s", ExpectedVersion::Any(), Events(5));
  ReadStreamOptions read;
  read.direction = Direction::kBackward;
  read.limit = 2;
  auto page = store_->ReadStream("s", read);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 5);
  EXPECT_EQ(page->events[1].version, 4);
  EXPECT_FALSE(page->end_of_stream);
  read.from = 2;
  read.limit = 10;
  page = store_->ReadStream("s", read);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 2);
  EXPECT_EQ(page->events[1].version, 1);
  EXPECT_TRUE(page->end_of_stream);
}

TEST_P(StoreContract, MissingStreamIsNotFound) {
  auto page = store_->ReadStream("nope", {});
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreContract, ReadLogInPagesFromAPosition) {
  if (!factory_->HasGlobalLog()) GTEST_SKIP() << GetParam() << " has no global log";
  for (int i = 0; i < 7; ++i)
    MustAppend("s" + std::to_string(i % 3), ExpectedVersion::Any(), Events(1));
  int64_t after = 0;
  std::vector<int64_t> positions;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->ReadLog(after, 3);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->head_position, 7);
    if (page->events.empty()) break;
    for (const auto& e : page->events) positions.push_back(e.position);
    after = page->next_position;
  }
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  auto from_five = store_->ReadLog(5, 100);
  ASSERT_TRUE(from_five.ok());
  ASSERT_EQ(from_five->events.size(), 2u);
  EXPECT_EQ(from_five->events[0].position, 6);
  EXPECT_EQ(from_five->next_position, 7);
  auto empty = store_->ReadLog(7, 100);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->events.empty());
  EXPECT_EQ(empty->next_position, 7);
}

// A LogReader returns what ReadLog does, page after page into the same page (whose events it
// reuses), whether a read continues the one before or jumps, across appends of events of every
// size and lifecycle changes between them.
TEST_P(StoreContract, ALogReaderReadsWhatReadLogReturns) {
  if (!factory_->HasGlobalLog()) GTEST_SKIP() << GetParam() << " has no global log";
  auto reader = store_->NewLogReader();
  LogPage page;
  auto same_as_read_log = [&](int64_t after, size_t limit) {
    SCOPED_TRACE("after " + std::to_string(after) + ", limit " + std::to_string(limit));
    auto read = reader->Read(after, limit, page);
    ASSERT_TRUE(read.ok()) << read.error().message;
    auto expected = store_->ReadLog(after, limit);
    ASSERT_TRUE(expected.ok()) << expected.error().message;
    EXPECT_EQ(page.next_position, expected->next_position);
    EXPECT_EQ(page.head_position, expected->head_position);
    ASSERT_EQ(page.events.size(), expected->events.size());
    for (size_t i = 0; i < page.events.size(); ++i) {
      const RecordedEvent& a = page.events[i];
      const RecordedEvent& b = expected->events[i];
      EXPECT_EQ(a.stream_id, b.stream_id);
      EXPECT_EQ(a.version, b.version);
      EXPECT_EQ(a.position, b.position);
      EXPECT_EQ(a.id, b.id);
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.data, b.data);
      EXPECT_EQ(a.metadata, b.metadata);
      EXPECT_EQ(a.recorded_at_us, b.recorded_at_us);
    }
  };
  int64_t after = 0;
  for (int round = 0; round < 12; ++round) {
    std::vector<EventData> events;
    for (int i = 0; i <= round % 5; ++i) {
      EventData e =
          Event(round % 2 ? "Long" + std::string(40, 'x') : "T",
                "{\"pad\":\"" +
                    std::string(static_cast<size_t>((round * 37 + i * 101) % 700), 'p') + "\"}");
      if (round % 3 == 0)
        e.metadata = "{\"m\":\"" + std::string(static_cast<size_t>(round * 10), 'm') + "\"}";
      events.push_back(std::move(e));
    }
    MustAppend("stream-" + std::to_string(round % 4) + std::string(static_cast<size_t>(round), 's'),
               ExpectedVersion::Any(), std::move(events));
    if (round % 4 == 1) {
      StreamMetadata metadata;
      metadata.custom = "{\"round\":" + std::to_string(round) + "}";
      (void)store_->SetStreamMetadata("stream-1", metadata);  // where the backend keeps it
    }
    // Continue page by page to the head, with limits that cut commits in the middle.
    for (int pages = 0; pages < 100; ++pages) {
      const size_t limit = static_cast<size_t>(1 + (round + pages) % 4);
      same_as_read_log(after, limit);
      if (::testing::Test::HasFailure() || page.events.empty()) break;
      after = page.next_position;
    }
  }
  // Jumps: back, forward, to the head, past it, and a page larger than the log.
  for (int64_t jump :
       {int64_t{0}, int64_t{3}, int64_t{1}, int64_t{17}, after - 1, after, after + 5}) {
    same_as_read_log(std::max<int64_t>(jump, 0), 5);
  }
  same_as_read_log(0, 1000);
  same_as_read_log(2, 2);
  // The arguments ReadLog refuses, it refuses.
  auto bad = reader->Read(-5, 10, page);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreContract, ListStreamsInPages) {
  for (auto s : {"c", "a", "b", "d"}) MustAppend(s, ExpectedVersion::Any(), Events(1));
  MustAppend("b", ExpectedVersion::Any(), Events(2));
  auto first = store_->ListStreams("", 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->streams.size(), 3u);
  EXPECT_EQ(first->streams[0].stream_id, "a");
  EXPECT_EQ(first->streams[1].stream_id, "b");
  EXPECT_EQ(first->streams[1].version, 3);
  EXPECT_EQ(first->next_after, "c");
  auto second = store_->ListStreams(first->next_after, 3);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->streams.size(), 1u);
  EXPECT_EQ(second->streams[0].stream_id, "d");
  EXPECT_TRUE(second->next_after.empty());
}

// --- Idempotent retries ---------------------------------------------------------------------

TEST_P(StoreContract, ExactRetryReturnsTheOriginalResultAndWritesNothing) {
  MustAppend("s", ExpectedVersion::Any(), Events(2));
  auto events = Events(3);
  auto first = MustAppend("s", ExpectedVersion::Exact(2), events);
  MustAppend("other", ExpectedVersion::Any(), Events(1));
  auto retry = MustAppend("s", ExpectedVersion::Exact(2), events);
  EXPECT_EQ(retry.first_version, first.first_version);
  EXPECT_EQ(retry.last_version, first.last_version);
  EXPECT_EQ(retry.first_position, first.first_position);
  EXPECT_EQ(retry.last_position, first.last_position);
  EXPECT_EQ(*store_->StreamVersion("s"), 5);
  ExpectHead(6);
}

TEST_P(StoreContract, NoStreamAndAnyRetriesAreIdempotent) {
  auto events = Events(2);
  auto first = MustAppend("s", ExpectedVersion::NoStream(), events);
  auto retry = MustAppend("s", ExpectedVersion::NoStream(), events);
  EXPECT_EQ(retry.first_position, first.first_position);
  auto more = Events(1);
  auto any = MustAppend("s", ExpectedVersion::Any(), more);
  auto any_retry = MustAppend("s", ExpectedVersion::Any(), more);
  EXPECT_EQ(any_retry.first_version, 3);
  EXPECT_EQ(any_retry.last_position, any.last_position);
  EXPECT_EQ(*store_->StreamVersion("s"), 3);
}

TEST_P(StoreContract, PartialRetryIsAnError) {
  auto events = Events(2);
  MustAppend("s", ExpectedVersion::NoStream(), events);
  auto changed = events;
  changed[1].id = Uuid::Random();
  auto r = store_->Append("s", ExpectedVersion::NoStream(), changed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId);
  auto longer = events;
  longer.push_back(Event("T"));
  r = store_->Append("s", ExpectedVersion::NoStream(), longer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId);
  EXPECT_EQ(*store_->StreamVersion("s"), 2);
}

TEST_P(StoreContract, SameIdElsewhereIsAnError) {
  if (!factory_->ChecksEventIdsEverywhere()) {
    GTEST_SKIP() << GetParam() << " checks event ids only where an append lands";
  }
  auto events = Events(1);
  MustAppend("a", ExpectedVersion::Any(), events);
  auto r = store_->Append("b", ExpectedVersion::Any(), events);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId);
  EXPECT_NE(r.error().message.find("position 1"), std::string::npos) << r.error().message;
  MustAppend("a", ExpectedVersion::Any(), Events(1));
  r = store_->Append("a", ExpectedVersion::Exact(2), events);  // same stream, another place
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId);
  EXPECT_EQ(*store_->StreamVersion("b"), 0);
}

TEST_P(StoreContract, SameIdTwiceInOneAppendIsAnError) {
  auto events = Events(2);
  events[1].id = events[0].id = Uuid::Random();
  EXPECT_EQ(AppendError("s", events), ErrorCode::kDuplicateEventId);
}

// --- Limits and invalid input ---------------------------------------------------------------

TEST_P(StoreContract, StreamIdLimits) {
  EXPECT_EQ(AppendError("", Events(1)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AppendError(std::string(257, 'x'), Events(1)), ErrorCode::kLimitExceeded);
  EXPECT_EQ(AppendError("bad\xff\xfe", Events(1)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AppendError(std::string("nul\0x", 5), Events(1)), ErrorCode::kInvalidArgument);
  MustAppend(std::string(256, 'x'), ExpectedVersion::Any(), Events(1));
  MustAppend("caf\xc3\xa9", ExpectedVersion::Any(), Events(1));
}

TEST_P(StoreContract, TypeNameLimits) {
  EXPECT_EQ(AppendError("s", {Event("")}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AppendError("s", {Event(std::string(257, 't'))}), ErrorCode::kLimitExceeded);
  EXPECT_EQ(AppendError("s", {Event("\xc3\x28")}), ErrorCode::kInvalidArgument);
}

TEST_P(StoreContract, EventSizeAndCountLimits) {
  std::string big = "\"" + std::string(1 << 20, 'x') + "\"";
  EXPECT_EQ(AppendError("s", {Event("T", big)}), ErrorCode::kLimitExceeded);
  EXPECT_EQ(AppendError("s", Events(1001)), ErrorCode::kLimitExceeded);
  EXPECT_EQ(AppendError("s", {}), ErrorCode::kInvalidArgument);
  MustAppend("s", ExpectedVersion::Any(), Events(1000));
}

TEST_P(StoreContract, ConfiguredLimitsApply) {
  Limits limits;
  limits.max_events_per_append = 2;
  limits.max_event_bytes = 64;
  store_.reset();
  store_ = factory_->Open(limits);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(AppendError("s", Events(3)), ErrorCode::kLimitExceeded);
  EXPECT_EQ(AppendError("s", {Event("T", "\"" + std::string(80, 'x') + "\"")}),
            ErrorCode::kLimitExceeded);
  MustAppend("s", ExpectedVersion::Any(), Events(2));
}

TEST_P(StoreContract, DataAndMetadataMustBeJson) {
  EXPECT_EQ(AppendError("s", {Event("T", "{not json")}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AppendError("s", {Event("T", "")}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AppendError("s", {Event("T", "{} trailing")}), ErrorCode::kInvalidArgument);
  EventData e = Event("T");
  e.metadata = "[1,";
  EXPECT_EQ(AppendError("s", {e}), ErrorCode::kInvalidArgument);
  MustAppend("s", ExpectedVersion::Any(), {Event("T", "[1, 2.5, \"x\", null, true]")});
}

TEST_P(StoreContract, AnInvalidEventFailsTheWholeAppend) {
  auto events = Events(3);
  events[2].data = "nope";
  EXPECT_EQ(AppendError("s", events), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*store_->StreamVersion("s"), 0);
  ExpectHead(0);
}

// --- Persistence ------------------------------------------------------------------------------

TEST_P(StoreContract, ReopenedStoreKeepsEventsHeadsAndRetries) {
  if (!factory_->Persistent()) GTEST_SKIP() << "backend keeps nothing across opens";
  auto events = Events(2);
  MustAppend("a", ExpectedVersion::NoStream(), events);
  MustAppend("b", ExpectedVersion::Any(), Events(1));
  store_.reset();
  store_ = factory_->Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*store_->StreamVersion("a"), 2);
  ExpectHead(3);
  ExpectConflict("a", ExpectedVersion::NoStream(), 2);
  auto retry = MustAppend("a", ExpectedVersion::NoStream(), events);
  EXPECT_EQ(retry.first_version, 1);
  EXPECT_EQ(retry.first_position, Position(1));
  auto next = MustAppend("a", ExpectedVersion::Exact(2), Events(1));
  EXPECT_EQ(next.first_version, 3);
  EXPECT_EQ(next.first_position, Position(4));
}

// --- Recorded times -----------------------------------------------------------------------------

// Point-in-time replay ("every event recorded at or before T") is a prefix of the log only if
// recorded times never decrease in position order.
void ExpectTimesNonDecreasing(EventStore& store, size_t expected_events) {
  auto page = store.ReadLog(0, expected_events + 1);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), expected_events);
  for (size_t i = 1; i < page->events.size(); ++i) {
    ASSERT_GE(page->events[i].recorded_at_us, page->events[i - 1].recorded_at_us)
        << "at position " << page->events[i].position;
  }
}

// Without a global log, per-stream order is the only order: times never decrease within a
// stream.
void ExpectStreamTimesNonDecreasing(EventStore& store, const std::string& stream,
                                    size_t expected_events) {
  ReadStreamOptions read;
  read.limit = expected_events + 1;
  auto page = store.ReadStream(stream, read);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), expected_events);
  for (size_t i = 1; i < page->events.size(); ++i) {
    ASSERT_GE(page->events[i].recorded_at_us, page->events[i - 1].recorded_at_us)
        << "at version " << page->events[i].version;
  }
}

TEST_P(StoreContract, RecordedTimesNeverDecreaseInCommitOrder) {
  // Concurrent appends, so that the embedded store commits them in batches of several.
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([this, t] {
      for (int i = 0; i < 50; ++i) {
        auto r =
            store_->Append("s-" + std::to_string(t), ExpectedVersion::Any(), Events(1 + i % 3));
        EXPECT_TRUE(r.ok()) << r.error().message;
      }
    });
  }
  for (auto& w : writers) w.join();
  if (!factory_->HasGlobalLog()) {
    for (int t = 0; t < 4; ++t)
      ExpectStreamTimesNonDecreasing(*store_, "s-" + std::to_string(t), 99);
    return;
  }
  ExpectTimesNonDecreasing(*store_, 4 * (17 * 1 + 17 * 2 + 16 * 3));
  if (!factory_->Persistent()) return;
  store_.reset();
  store_ = factory_->Open();
  ASSERT_NE(store_, nullptr);
  for (int i = 0; i < 20; ++i) MustAppend("after", ExpectedVersion::Any(), Events(1));
  ExpectTimesNonDecreasing(*store_, 4 * 99 + 20);
}

// Backends without a global log say so, rather than answer with an empty one.
TEST_P(StoreContract, GlobalLogReadsAreUnsupportedWithoutOne) {
  if (factory_->HasGlobalLog()) GTEST_SKIP() << GetParam() << " has a global log";
  MustAppend("s", ExpectedVersion::Any(), Events(2));
  std::vector<Error> errors;
  auto log = store_->ReadLog(0, 10);
  ASSERT_FALSE(log.ok());
  errors.push_back(log.error());
  auto head = store_->HeadPosition();
  ASSERT_FALSE(head.ok());
  errors.push_back(head.error());
  const auto start = std::chrono::steady_clock::now();
  auto wait = store_->WaitForHead(0, std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "it waited";
  ASSERT_FALSE(wait.ok());
  errors.push_back(wait.error());
  for (const Error& e : errors) {
    EXPECT_EQ(e.code, ErrorCode::kUnsupported) << e.message;
    EXPECT_NE(e.message.find("global log"), std::string::npos) << e.message;
  }
}

// The embedded store's writer, driven directly to step its clock back.
TEST(EmbeddedWriter, RecordedTimesHoldWhenTheClockStepsBack) {
  testing::TempDir dir;
  const std::string path = dir.File("events.sqlite");
  testing::FakeClock fake_clock;
  store::GroupCommitOptions options{path, /*durable=*/false, 1024};
  options.clock = &fake_clock;
  auto append = [&](store::GroupCommitWriter& writer, int64_t clock, ExpectedVersion expected,
                    int count) {
    fake_clock.SetWall(clock);
    return writer.Append("s", expected, Events(count));
  };
  {
    auto db = store::Database::Open(path, /*read_only=*/false);
    ASSERT_TRUE(db.ok()) << db.error().message;
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode = WAL").ok());
    ASSERT_TRUE(db->Exec(store::kSchema).ok());
    store::CommitPlanner planner(1000);
    std::atomic<int64_t> head{0};
    store::GroupCommitWriter writer(options, std::move(db).value(), planner, head);
    ASSERT_TRUE(writer.Start().ok());
    ASSERT_TRUE(append(writer, 2000, ExpectedVersion::Any(), 2).ok());
    ASSERT_TRUE(append(writer, 1000, ExpectedVersion::Any(), 1).ok());  // stepped back
    // A failed append records nothing, and moves no time on.
    ASSERT_FALSE(append(writer, 9000, ExpectedVersion::Exact(1), 1).ok());
    ASSERT_TRUE(append(writer, 3000, ExpectedVersion::Exact(3), 1).ok());
  }
  {
    // Reopened: the last recorded time comes from the file.
    auto db = store::Database::Open(path, /*read_only=*/false);
    ASSERT_TRUE(db.ok()) << db.error().message;
    store::CommitPlanner planner(1000);
    planner.LoadHead("s", store::StreamHead{1, 4, 0, false, nullptr});
    std::atomic<int64_t> head{4};
    store::GroupCommitWriter writer(options, std::move(db).value(), planner, head);
    ASSERT_TRUE(writer.Start().ok());
    ASSERT_TRUE(append(writer, 1500, ExpectedVersion::Exact(4), 1).ok());
  }
  SqliteStoreOptions store_options;
  store_options.path = path;
  auto store = OpenSqliteEventStore(store_options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto log = (*store)->ReadLog(0, 10);
  ASSERT_TRUE(log.ok()) << log.error().message;
  std::vector<int64_t> times;
  for (const auto& e : log->events) times.push_back(e.recorded_at_us);
  EXPECT_EQ(times, (std::vector<int64_t>{2000, 2000, 2000, 3000, 3000}));
}

// A library caller's negative position or version, or a limit that a cast to SQLite's signed
// LIMIT would turn into "no limit", is a clear error, not a read of something else.
TEST_P(StoreContract, OutOfRangeReadArgumentsAreClearErrors) {
  MustAppend("s", ExpectedVersion::Any(), Events(3));
  ReadStreamOptions negative;
  negative.from = -1;
  auto stream = store_->ReadStream("s", negative);
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(stream.error().message.find("-1"), std::string::npos) << stream.error().message;
  ReadStreamOptions huge;
  huge.limit = SIZE_MAX;
  stream = store_->ReadStream("s", huge);
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.error().code, ErrorCode::kInvalidArgument);
  auto streams = store_->ListStreams("", SIZE_MAX);
  ASSERT_FALSE(streams.ok());
  EXPECT_EQ(streams.error().code, ErrorCode::kInvalidArgument);
  auto log = store_->ReadLog(-5, 10);
  if (!log.ok() && log.error().code == ErrorCode::kUnsupported) return;  // no global log
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(log.error().message.find("-5"), std::string::npos) << log.error().message;
  log = store_->ReadLog(0, SIZE_MAX);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::kInvalidArgument);
  // In range, the same reads work.
  log = store_->ReadLog(0, 10);
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_EQ(log->events.size(), 3u);
}

// AppendAsync gives what Append would: results, conflicts and refusals, each called back once.
TEST_P(StoreContract, AppendAsyncCallsBackOnceWithWhatAppendWouldReturn) {
  Outcomes outcomes;
  store_->AppendAsync("s", ExpectedVersion::NoStream(), Events(2), outcomes.Callback(0));
  ASSERT_EQ(outcomes.WaitFor(1), 1u);
  store_->AppendAsync("s", ExpectedVersion::Exact(2), Events(3), outcomes.Callback(1));
  store_->AppendAsync("s", ExpectedVersion::Exact(2), Events(1), outcomes.Callback(2));
  // Refused up front: may be called back before AppendAsync returns.
  store_->AppendAsync("", ExpectedVersion::Any(), Events(1), outcomes.Callback(3));
  ASSERT_EQ(outcomes.WaitFor(4), 4u);
  auto first = outcomes.Of(0);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->first_version, 1);
  EXPECT_EQ(first->last_version, 2);
  EXPECT_EQ(first->last_position, Position(2));
  auto second = outcomes.Of(1);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->first_version, 3);
  EXPECT_EQ(second->last_version, 5);
  auto conflict = outcomes.Of(2);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kWrongExpectedVersion);
  ASSERT_TRUE(conflict.error().conflict.has_value());
  EXPECT_EQ(conflict.error().conflict->actual, 5);
  auto invalid = outcomes.Of(3);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(outcomes.Count(), 4u);  // once each
  auto page = store_->ReadStream("s", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->events.size(), 5u);
}

// 1,000 appends in flight from one thread: every one is acknowledged, in the order submitted,
// and readable.
TEST_P(StoreContract, AThousandAsyncAppendsFromOneThreadAreAllAcknowledgedInOrder) {
  constexpr int kAppends = 1000;
  Outcomes outcomes;
  for (int i = 0; i < kAppends; ++i) {
    const std::string stream = "s-" + std::to_string(i % 10);
    store_->AppendAsync(stream, ExpectedVersion::Exact(i / 10), Events(1), outcomes.Callback(i));
  }
  ASSERT_EQ(outcomes.WaitFor(kAppends), static_cast<size_t>(kAppends));
  std::vector<int> order = outcomes.Order();
  for (int i = 0; i < kAppends; ++i) {
    ASSERT_EQ(order[static_cast<size_t>(i)], i) << "completed out of submission order";
    auto r = outcomes.Of(i);
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().message;
    EXPECT_EQ(r->first_version, i / 10 + 1);
  }
  for (int s = 0; s < 10; ++s) {
    auto page = store_->ReadStream("s-" + std::to_string(s), {});
    ASSERT_TRUE(page.ok()) << page.error().message;
    EXPECT_EQ(page->events.size(), static_cast<size_t>(kAppends / 10));
  }
  ExpectHead(kAppends);
}

// A callback may append again, asynchronously: a chain of appends, each from the last one's
// completion.
TEST_P(StoreContract, AnAsyncCallbackMayAppendAsyncAgain) {
  constexpr int kChain = 50;
  Outcomes outcomes;
  std::function<void(int)> next = [&](int i) {
    store_->AppendAsync("chain", ExpectedVersion::Exact(i), Events(1),
                        [&, i](Result<AppendResult> result) {
                          const bool ok = result.ok();
                          outcomes.Callback(i)(std::move(result));
                          if (ok && i + 1 < kChain) next(i + 1);
                        });
  };
  next(0);
  ASSERT_EQ(outcomes.WaitFor(kChain), static_cast<size_t>(kChain));
  EXPECT_EQ(*store_->StreamVersion("chain"), kChain);
}

// Closing the store completes every append in flight before the destructor returns; what was
// acknowledged is there after a reopen.
TEST_P(StoreContract, ClosingTheStoreCompletesEveryAsyncAppendInFlight) {
  constexpr int kAppends = 300;
  Outcomes outcomes;
  for (int i = 0; i < kAppends; ++i) {
    store_->AppendAsync("s", ExpectedVersion::Any(), Events(1), outcomes.Callback(i));
  }
  store_.reset();
  ASSERT_EQ(outcomes.Count(), static_cast<size_t>(kAppends));
  int64_t acknowledged = 0;
  for (int i = 0; i < kAppends; ++i) {
    auto r = outcomes.Of(i);
    if (r.ok()) {
      ++acknowledged;
    } else {
      EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
    }
  }
  if (!factory_->Persistent()) return;
  store_ = factory_->Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*store_->StreamVersion("s"), acknowledged);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, testing::kContractBackends,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace evs
