// Stream lifecycle: metadata (max_count, max_age, truncate_before, custom), soft and hard
// deletes, and scavenging, on the memory store, the embedded store and PostgreSQL (skipped unless
// EVS_TEST_POSTGRES_URL is set).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "evs/object_store.h"
#include "evs/postgres.h"
#include "evs/s3.h"
#include "evs/subscription.h"
#include "evs/upcasting.h"
#include "evs/verify.h"
#include "fake_clock.h"
#include "postgres_test_env.h"
#include "temp_dir.h"

namespace evs {
namespace {

std::vector<EventData> Events(int n, size_t data_bytes = 0) {
  std::vector<EventData> events(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    events[i].type = "Tick";
    events[i].data =
        "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(data_bytes, 'x') + "\"}";
    events[i].id = Uuid::Random();
  }
  return events;
}

class StreamLifecycleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    if (GetParam() == "memory") {
      if (!memory_) memory_ = NewMemoryEventStore({}, clock_);
      return;
    }
    if (GetParam() == "log") {
      LogStoreOptions options;
      options.folder = dir_.File("log");
      options.segment_bytes = 1 << 20;
      options.clock = clock_;
      auto store = OpenLogEventStore(options);
      ASSERT_TRUE(store.ok()) << store.error().message;
      store_ = std::move(store).value();
      return;
    }
    if (GetParam() == "postgres") {
      if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
      if (!database_) database_ = std::make_unique<testing::PostgresTestDatabase>();
      ASSERT_FALSE(database_->url().empty());
      PostgresStoreOptions options;
      options.url = database_->url();
      options.clock = clock_;
      auto store = OpenPostgresEventStore(options);
      ASSERT_TRUE(store.ok()) << store.error().message;
      store_ = std::move(store).value();
      return;
    }
    SqliteStoreOptions options;
    options.path = Path();
    options.clock = clock_;
    auto store = OpenSqliteEventStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }
  // Reopens a persistent store; the memory store stays as it is.
  void Reopen() { Open(); }
  bool Persistent() const { return GetParam() != "memory"; }
  // Every backend scavenges.
  bool Scavenges() const { return true; }
  // The backend with a file, a read-only view and archives of its own: the SQLite store.
  bool Embedded() const { return GetParam() == "sqlite"; }
  std::string Path() const { return dir_.File("events.sqlite"); }
  EventStore& store() { return store_ ? *store_ : *memory_; }

  void Append(const std::string& stream, int n, size_t data_bytes = 0) {
    auto r = store().Append(stream, ExpectedVersion::Any(), Events(n, data_bytes));
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::vector<int64_t> Versions(const std::string& stream, Direction direction, int64_t from = 0,
                                size_t limit = 1000) {
    ReadStreamOptions options;
    options.direction = direction;
    options.from = from;
    options.limit = limit;
    auto page = store().ReadStream(stream, options);
    EXPECT_TRUE(page.ok()) << page.error().message;
    std::vector<int64_t> versions;
    if (page.ok()) {
      for (const auto& e : page->events) versions.push_back(e.version);
    }
    return versions;
  }
  ErrorCode ReadError(const std::string& stream) {
    auto page = store().ReadStream(stream, {});
    EXPECT_FALSE(page.ok());
    return page.ok() ? ErrorCode::kCorruption : page.error().code;
  }
  std::vector<RecordedEvent> Log() {
    auto page = store().ReadLog(0, 10000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? page->events : std::vector<RecordedEvent>{};
  }
  void SetMetadata(const std::string& stream, StreamMetadata metadata) {
    auto s = store().SetStreamMetadata(stream, metadata);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::PostgresTestDatabase> database_;  // "postgres": kept across Reopen()
  std::shared_ptr<testing::FakeClock> clock_ = std::make_shared<testing::FakeClock>();
  std::unique_ptr<EventStore> memory_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(StreamLifecycleTest, MetadataIsKeptAndReadBack) {
  EXPECT_EQ(store().GetStreamLifecycle("cart-1").error().code, ErrorCode::kNotFound);
  StreamMetadata metadata;
  metadata.max_count = 5;
  metadata.max_age_seconds = 3600;
  metadata.truncate_before = 2;
  metadata.custom = R"({"owner":"billing"})";
  SetMetadata("cart-1", metadata);  // before the stream has events
  Append("cart-1", 3);
  Reopen();
  auto lifecycle = store().GetStreamLifecycle("cart-1");
  ASSERT_TRUE(lifecycle.ok()) << lifecycle.error().message;
  EXPECT_EQ(lifecycle->metadata.max_count, 5);
  EXPECT_EQ(lifecycle->metadata.max_age_seconds, 3600);
  EXPECT_EQ(lifecycle->metadata.truncate_before, 2);
  EXPECT_EQ(lifecycle->metadata.custom, R"({"owner":"billing"})");
  EXPECT_EQ(lifecycle->version, 3);
  EXPECT_FALSE(lifecycle->hard_deleted);
  // Replacing clears what is not set again.
  SetMetadata("cart-1", StreamMetadata{});
  lifecycle = store().GetStreamLifecycle("cart-1");
  ASSERT_TRUE(lifecycle.ok());
  EXPECT_FALSE(lifecycle->metadata.max_count.has_value());
  EXPECT_EQ(Versions("cart-1", Direction::kForward), (std::vector<int64_t>{1, 2, 3}));
}

TEST_P(StreamLifecycleTest, BadMetadataIsRefusedAndNamesTheField) {
  struct Case {
    StreamMetadata metadata;
    ErrorCode code;
    const char* names;
  };
  StreamMetadata negative_count, zero_age, negative_truncate, not_json, array, too_big, too_old;
  negative_count.max_count = -1;
  zero_age.max_age_seconds = 0;
  negative_truncate.truncate_before = -7;
  not_json.custom = "{not json";
  array.custom = "[1,2]";
  too_big.custom = "{\"a\":\"" + std::string(70000, 'x') + "\"}";
  too_old.max_age_seconds = INT64_MAX;
  const Case cases[] = {
      {negative_count, ErrorCode::kInvalidArgument, "max_count"},
      {zero_age, ErrorCode::kInvalidArgument, "max_age_seconds"},
      {negative_truncate, ErrorCode::kInvalidArgument, "truncate_before"},
      {not_json, ErrorCode::kInvalidArgument, "JSON object"},
      {array, ErrorCode::kInvalidArgument, "JSON object"},
      {too_big, ErrorCode::kLimitExceeded, "custom"},
      {too_old, ErrorCode::kInvalidArgument, "max_age_seconds"},
  };
  for (const Case& c : cases) {
    auto s = store().SetStreamMetadata("s", c.metadata);
    ASSERT_FALSE(s.ok()) << c.names;
    EXPECT_EQ(s.error().code, c.code) << s.error().message;
    EXPECT_NE(s.error().message.find(c.names), std::string::npos) << s.error().message;
  }
  EXPECT_EQ(store().SetStreamMetadata("", {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().GetStreamLifecycle("s").error().code, ErrorCode::kNotFound);
}

TEST_P(StreamLifecycleTest, MaxCountAndTruncateBeforeHideTheOldestVersions) {
  Append("s", 10);
  StreamMetadata metadata;
  metadata.max_count = 3;
  SetMetadata("s", metadata);
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{8, 9, 10}));
  EXPECT_EQ(Versions("s", Direction::kBackward), (std::vector<int64_t>{10, 9, 8}));
  EXPECT_EQ(Versions("s", Direction::kForward, 9), (std::vector<int64_t>{9, 10}));
  EXPECT_EQ(Versions("s", Direction::kBackward, 7), std::vector<int64_t>{});
  // Pages end where the visible events end.
  ReadStreamOptions page_options;
  page_options.limit = 2;
  auto page = store().ReadStream("s", page_options);
  ASSERT_TRUE(page.ok());
  EXPECT_FALSE(page->end_of_stream);
  page_options.direction = Direction::kBackward;
  page_options.limit = 3;
  page = store().ReadStream("s", page_options);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->end_of_stream);
  EXPECT_EQ(page->stream_version, 10);
  // The bound moves with the stream.
  Append("s", 2);
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{10, 11, 12}));
  metadata = {};
  metadata.truncate_before = 5;
  SetMetadata("s", metadata);
  EXPECT_EQ(Versions("s", Direction::kForward).front(), 5);
  // Both set: the stricter wins.
  metadata.max_count = 2;
  SetMetadata("s", metadata);
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{11, 12}));
  // The version and the log are untouched until scavenged; appends go on at the version.
  EXPECT_EQ(*store().StreamVersion("s"), 12);
  EXPECT_EQ(Log().size(), 12u);
  auto r = store().Append("s", ExpectedVersion::Exact(12), Events(1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->first_version, 13);
  // Everything truncated: the stream exists, its page is empty.
  metadata = {};
  metadata.truncate_before = 100;
  SetMetadata("s", metadata);
  EXPECT_TRUE(Versions("s", Direction::kForward).empty());
  Reopen();
  EXPECT_TRUE(Versions("s", Direction::kBackward).empty());
}

TEST_P(StreamLifecycleTest, MaxAgeHidesEventsRecordedBeforeIt) {
  Append("s", 2);  // at t
  clock_->Advance(50'000'000);
  Append("s", 2);  // at t + 50 s
  StreamMetadata metadata;
  metadata.max_age_seconds = 60;
  SetMetadata("s", metadata);
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{1, 2, 3, 4}));
  clock_->Advance(20'000'000);  // t + 70 s: the first two are older than 60 s
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(Versions("s", Direction::kBackward), (std::vector<int64_t>{4, 3}));
  clock_->Advance(60'000'000);
  EXPECT_TRUE(Versions("s", Direction::kForward).empty());
}

TEST_P(StreamLifecycleTest, SoftDeleteReadsAsNotFoundAndAnAppendStartsItAgain) {
  Append("s", 3);
  Append("other", 1);
  ASSERT_TRUE(store().DeleteStream("s", DeleteMode::kSoft).ok());
  EXPECT_EQ(ReadError("s"), ErrorCode::kNotFound);
  auto listed = store().ListStreams("", 100);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->streams.size(), 1u);
  EXPECT_EQ(listed->streams[0].stream_id, "other");
  // Deleting twice: not found.
  auto again = store().DeleteStream("s", DeleteMode::kSoft);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_NE(again.error().message.find("deleted already"), std::string::npos);
  // "exists" does not match a deleted stream; no-stream does, and versions go on.
  auto exists = store().Append("s", ExpectedVersion::StreamExists(), Events(1));
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, ErrorCode::kWrongExpectedVersion);
  Reopen();
  EXPECT_EQ(ReadError("s"), ErrorCode::kNotFound);
  auto r = store().Append("s", ExpectedVersion::NoStream(), Events(2));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->first_version, 4);
  EXPECT_EQ(Versions("s", Direction::kForward), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Versions("s", Direction::kBackward), (std::vector<int64_t>{5, 4}));
  // Started again, it is a stream like any other: no-stream conflicts now.
  auto no_stream = store().Append("s", ExpectedVersion::NoStream(), Events(1));
  ASSERT_FALSE(no_stream.ok());
  EXPECT_EQ(no_stream.error().code, ErrorCode::kWrongExpectedVersion);
  // Unknown streams: not found.
  EXPECT_EQ(store().DeleteStream("nope", DeleteMode::kSoft).error().code, ErrorCode::kNotFound);
  // A delete that expects another version conflicts.
  auto stale = store().DeleteStream("s", DeleteMode::kSoft, ExpectedVersion::Exact(3));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kWrongExpectedVersion);
  EXPECT_TRUE(store().DeleteStream("s", DeleteMode::kSoft, ExpectedVersion::Exact(5)).ok());
}

TEST_P(StreamLifecycleTest, HardDeleteIsATombstone) {
  Append("s", 3);
  ASSERT_TRUE(store().DeleteStream("s", DeleteMode::kHard).ok());
  Reopen();
  EXPECT_EQ(ReadError("s"), ErrorCode::kStreamDeleted);
  for (auto expected : {ExpectedVersion::Any(), ExpectedVersion::NoStream()}) {
    auto r = store().Append("s", expected, Events(1));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kStreamDeleted);
    EXPECT_NE(r.error().message.find("deleted for good"), std::string::npos);
  }
  EXPECT_EQ(store().DeleteStream("s", DeleteMode::kHard).error().code, ErrorCode::kStreamDeleted);
  EXPECT_EQ(store().DeleteStream("s", DeleteMode::kSoft).error().code, ErrorCode::kStreamDeleted);
  EXPECT_EQ(store().SetStreamMetadata("s", {}).error().code, ErrorCode::kStreamDeleted);
  auto lifecycle = store().GetStreamLifecycle("s");
  ASSERT_TRUE(lifecycle.ok());
  EXPECT_TRUE(lifecycle->hard_deleted);
  EXPECT_EQ(lifecycle->version, 3);
  // A soft-deleted stream can be deleted for good; a stream never written can be reserved.
  Append("t", 1);
  ASSERT_TRUE(store().DeleteStream("t", DeleteMode::kSoft).ok());
  ASSERT_TRUE(store().DeleteStream("t", DeleteMode::kHard).ok());
  EXPECT_EQ(ReadError("t"), ErrorCode::kStreamDeleted);
  ASSERT_TRUE(store().DeleteStream("never", DeleteMode::kHard).ok());
  EXPECT_EQ(store().Append("never", ExpectedVersion::Any(), Events(1)).error().code,
            ErrorCode::kStreamDeleted);
}

TEST_P(StreamLifecycleTest, AppendsMayNotUseTheScavengedMarkerType) {
  auto events = Events(1);
  events[0].type = std::string(kScavengedEventType);
  auto r = store().Append("s", ExpectedVersion::Any(), events);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("reserved"), std::string::npos);
}

TEST_P(StreamLifecycleTest, ScavengeTurnsHiddenEventsIntoMarkersAndKeepsTheLogDense) {
  if (!Scavenges()) GTEST_SKIP() << GetParam() << " does not scavenge yet";
  Append("kept", 2);
  Append("counted", 10);
  Append("soft", 3);
  Append("hard", 2);
  Append("aged", 2);
  clock_->Advance(100'000'000);
  Append("aged", 1);
  StreamMetadata count;
  count.max_count = 4;
  SetMetadata("counted", count);
  StreamMetadata age;
  age.max_age_seconds = 60;
  SetMetadata("aged", age);
  ASSERT_TRUE(store().DeleteStream("soft", DeleteMode::kSoft).ok());
  ASSERT_TRUE(store().DeleteStream("hard", DeleteMode::kHard).ok());
  Append("soft", 1);  // started again at version 4: kept
  const auto before = Log();
  std::vector<ScavengeProgress> progress;
  ScavengeOptions options;
  options.events_per_step = 2;  // several steps per stream
  options.progress = [&](const ScavengeProgress& p) { progress.push_back(p); };
  auto report = store().Scavenge(options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 6 + 3 + 2 + 2);
  EXPECT_EQ(report->streams_examined, 4);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().events_scavenged, 13);
  EXPECT_EQ(progress.back().streams_done, progress.back().streams_total);
  // Dense positions, each stream's versions in order, only the hidden events are markers.
  const auto after = Log();
  ASSERT_EQ(after.size(), before.size());
  int markers = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    const RecordedEvent& a = after[i];
    const RecordedEvent& b = before[i];
    EXPECT_EQ(a.position, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(a.stream_id, b.stream_id);
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.recorded_at_us, b.recorded_at_us);
    const bool hidden = (a.stream_id == "counted" && a.version <= 6) ||
                        (a.stream_id == "soft" && a.version <= 3) || a.stream_id == "hard" ||
                        (a.stream_id == "aged" && a.version <= 2);
    if (hidden) {
      ++markers;
      EXPECT_EQ(a.type, kScavengedEventType) << a.stream_id << " " << a.version;
      EXPECT_EQ(a.data, "{}");
    } else {
      EXPECT_EQ(a.type, b.type) << a.stream_id << " " << a.version;
      EXPECT_EQ(a.data, b.data);
    }
  }
  EXPECT_EQ(markers, 13);
  // Reads return what they returned before.
  EXPECT_EQ(Versions("counted", Direction::kForward), (std::vector<int64_t>{7, 8, 9, 10}));
  EXPECT_EQ(Versions("soft", Direction::kForward), (std::vector<int64_t>{4}));
  EXPECT_EQ(Versions("aged", Direction::kForward), (std::vector<int64_t>{3}));
  EXPECT_EQ(Versions("kept", Direction::kForward), (std::vector<int64_t>{1, 2}));
  // Again: nothing new to reclaim; after more appends only what they pushed out.
  report = store().Scavenge();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->events_scavenged, 0);
  Append("counted", 2);
  Reopen();
  report = store().Scavenge();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->events_scavenged, 2);
  EXPECT_EQ(Versions("counted", Direction::kForward), (std::vector<int64_t>{9, 10, 11, 12}));
}

TEST_P(StreamLifecycleTest, ScavengedSpaceIsGivenBackToTheFileSystem) {
  if (!Embedded()) GTEST_SKIP() << "only the SQLite store gives scavenged space back to a file";
  for (int i = 0; i < 40; ++i) Append("big", 50, 2000);  // ~4 MB
  Append("small", 5);
  ASSERT_TRUE(store().DeleteStream("big", DeleteMode::kHard).ok());
  // The WAL checkpointed: the size compared is the database file's own.
  Reopen();
  const auto size_before = std::filesystem::file_size(Path());
  auto report = store().Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 2000);
  EXPECT_TRUE(report->file_shrinks);
  EXPECT_LT(report->file_bytes_after, report->file_bytes_before / 4)
      << report->file_bytes_before << " -> " << report->file_bytes_after;
  EXPECT_LT(std::filesystem::file_size(Path()), size_before / 4);
  EXPECT_GT(report->longest_step_ms, 0);
  EXPECT_EQ(Versions("small", Direction::kForward), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Log().size(), 2005u);
}

TEST_P(StreamLifecycleTest, AppendsGoOnWhileScavenging) {
  if (!Scavenges()) GTEST_SKIP() << GetParam() << " does not scavenge yet";
  for (int i = 0; i < 20; ++i) Append("old", 100, 200);
  ASSERT_TRUE(store().DeleteStream("old", DeleteMode::kSoft).ok());
  std::atomic<bool> done{false};
  std::atomic<int> appended{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 2000 && !done; ++i) {
        auto r = store().Append("live-" + std::to_string(t), ExpectedVersion::Any(), Events(1));
        ASSERT_TRUE(r.ok()) << r.error().message;
        ++appended;
      }
    });
  }
  ScavengeOptions options;
  options.events_per_step = 100;
  auto report = store().Scavenge(options);
  done = true;
  for (auto& w : writers) w.join();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 2000);
  int64_t live = 0;
  for (int t = 0; t < 3; ++t) live += *store().StreamVersion("live-" + std::to_string(t));
  EXPECT_EQ(live, appended.load());
  const auto log = Log();
  EXPECT_EQ(static_cast<int64_t>(log.size()), 2000 + live);
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].position, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(log[i].type == kScavengedEventType, log[i].stream_id == "old");
  }
}

TEST_P(StreamLifecycleTest, TheReadOnlyViewHonoursTheLifecycle) {
  if (!Embedded())
    GTEST_SKIP() << "the lifecycle in a read-only view is tested on the SQLite store";
  Append("s", 5);
  Append("gone", 1);
  StreamMetadata metadata;
  metadata.max_count = 2;
  SetMetadata("s", metadata);
  ASSERT_TRUE(store().DeleteStream("gone", DeleteMode::kHard).ok());
  auto view = OpenSqliteEventStoreReader(Path());
  ASSERT_TRUE(view.ok()) << view.error().message;
  auto page = (*view)->ReadStream("s", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 4);
  EXPECT_EQ((*view)->ReadStream("gone", {}).error().code, ErrorCode::kStreamDeleted);
  auto listed = (*view)->ListStreams("", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->streams.size(), 1u);
  EXPECT_EQ(listed->streams[0].stream_id, "s");
}

// Collects what a handler is handed.
class Collect final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    events_.insert(events_.end(), batch.begin(), batch.end());
    return OkStatus();
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard guard(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<RecordedEvent> events_;
};

TEST_P(StreamLifecycleTest, AScavengedStoreAndItsArchiveVerifyReplayAndRestore) {
  if (!Embedded()) GTEST_SKIP() << "archives of a scavenged store are tested on the SQLite store";
  Append("keep", 3);
  Append("gone", 4);
  auto objects = OpenObjectStore(dir_.File("archive"));
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ArchiverOptions archiver;
  archiver.segment_max_events = 3;
  ASSERT_TRUE(ArchiveOnce(store(), **objects, archiver).ok());  // archived before the scavenge
  ASSERT_TRUE(store().DeleteStream("gone", DeleteMode::kSoft).ok());
  Append("gone", 2);  // versions 5 and 6
  auto scavenged = store().Scavenge();
  ASSERT_TRUE(scavenged.ok()) << scavenged.error().message;
  ASSERT_EQ(scavenged->events_scavenged, 4);
  Append("keep", 1);
  ASSERT_TRUE(ArchiveOnce(store(), **objects, archiver).ok());  // and after it
  auto report = Verify(&store(), objects->get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_EQ(report->compared_events, 10);
  EXPECT_EQ(report->scavenged_in_store, 4);

  // A subscriber sees every event but the markers, in log order.
  auto checkpoints = OpenSqliteCheckpointStore(dir_.File("checkpoints.sqlite"));
  ASSERT_TRUE(checkpoints.ok());
  Collect seen;
  SubscriptionOptions options;
  options.name = "lifecycle";
  auto sub = Subscription::Start(store(), **checkpoints, seen, options);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->WaitUntil(10, std::chrono::seconds(10)));
  sub->reset();
  std::vector<std::string> got;
  for (const auto& e : seen.events()) got.push_back(e.stream_id + "@" + std::to_string(e.version));
  EXPECT_EQ(got,
            (std::vector<std::string>{"keep@1", "keep@2", "keep@3", "gone@5", "gone@6", "keep@4"}));

  // The archive replays what it holds: the events archived before the scavenge; the markers
  // only to a handler without an upcaster, as raw log readers see them.
  auto reader = ArchiveReader::Open(**objects);
  ASSERT_TRUE(reader.ok());
  Collect raw;
  ASSERT_TRUE((*reader)->Replay({}, raw).ok());
  EXPECT_EQ(raw.events().size(), 10u);
  auto upcaster = UpcasterBuilder().Build();
  ASSERT_TRUE(upcaster.ok());
  ReplayOptions upcast;
  upcast.upcaster = *upcaster;
  Collect domain;
  ASSERT_TRUE((*reader)->Replay(upcast, domain).ok());
  for (const auto& e : domain.events()) EXPECT_NE(e.type, kScavengedEventType);

  // A restore is the archive's copy, and verifies against it.
  const std::string restored_path = dir_.File("restored.sqlite");
  ASSERT_TRUE(RestoreSqliteEventStore(**reader, {}, restored_path).ok());
  SqliteStoreOptions restored_options;
  restored_options.path = restored_path;
  auto restored = OpenSqliteEventStore(restored_options);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto restored_report = Verify(restored->get(), objects->get());
  ASSERT_TRUE(restored_report.ok());
  EXPECT_TRUE(restored_report->ok());
}

// PostgreSQL keeps the space of markers for new events (VACUUM); with `compact` (VACUUM FULL)
// its table shrinks.
TEST_P(StreamLifecycleTest, PostgresGivesScavengedSpaceBackWithCompact) {
  if (GetParam() != "postgres") GTEST_SKIP() << "the embedded store's file is tested above";
  // ~2 MB that PostgreSQL cannot compress away: random text.
  for (int i = 0; i < 20; ++i) {
    std::vector<EventData> events = Events(50);
    for (EventData& e : events) {
      std::string pad;
      while (pad.size() < 2000) pad += Uuid::Random().ToString();
      e.data = "{\"pad\":\"" + pad + "\"}";
    }
    ASSERT_TRUE(store().Append("big", ExpectedVersion::Any(), std::move(events)).ok());
  }
  Append("small", 5);
  ASSERT_TRUE(store().DeleteStream("big", DeleteMode::kHard).ok());
  ScavengeOptions options;
  options.compact = true;
  auto report = store().Scavenge(options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 1000);
  EXPECT_EQ(report->streams_examined, 1);
  EXPECT_TRUE(report->file_shrinks);
  EXPECT_LT(report->file_bytes_after, report->file_bytes_before / 2)
      << report->file_bytes_before << " -> " << report->file_bytes_after;
  EXPECT_EQ(Versions("small", Direction::kForward), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Log().size(), 1005u);
  // Without compact: nothing new, and the space is kept for new events.
  report = store().Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 0);
  EXPECT_FALSE(report->file_shrinks);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamLifecycleTest,
                         ::testing::Values(std::string("memory"), std::string("sqlite"),
                                           std::string("log"), std::string("postgres")),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace evs
