// The archive through real components: a SQLite store, a folder object store, zstd segments.
// Round trip to an identical store, cutting, resuming, refusing corruption, point-in-time replay,
// and verify's findings.
#include "evs/archive.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cart/cart_summary_projection.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/projection.h"
#include "evs/verify.h"
#include "fake_clock.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::TempDir;

std::string DecompressForTest(const std::string& object) {
  std::string text(ZSTD_getFrameContentSize(object.data(), object.size()), '\0');
  text.resize(ZSTD_decompress(text.data(), text.size(), object.data(), object.size()));
  return text;
}

std::unique_ptr<EventStore> OpenStore(const std::string& path) {
  SqliteStoreOptions options;
  options.path = path;
  auto store = OpenSqliteEventStore(options);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

std::unique_ptr<ObjectStore> OpenFolder(const std::string& path) {
  DirectoryObjectStoreOptions options;
  options.path = path;
  auto objects = OpenDirectoryObjectStore(options);
  EXPECT_TRUE(objects.ok()) << objects.error().message;
  return objects.ok() ? std::move(objects).value() : nullptr;
}

EventData Event(std::string type, std::string data, std::string metadata = "{}") {
  EventData e;
  e.id = Uuid::Random();
  e.type = std::move(type);
  e.data = std::move(data);
  e.metadata = std::move(metadata);
  return e;
}

// Data whose text must come back byte for byte, including forms that cannot sit on one JSON line
// as they are.
const std::vector<std::string> kOddData = {
    "{}",
    "{\"name\":\"caf\xc3\xa9 \\\"cr\xc3\xa8me\\\"\",\"q\":2}",
    "{ \"spaced\" : [1, 2 ,3] }",
    " {\"leading\":\"space\"}",
    "{\"trailing\":true} ",
    "{\n  \"multi\": \"line\"\n}",
    "[1,2,3]",
    "42",
    "\"just a string\"",
    "null",
    "{\"tab\":\"a\\tb\",\"escaped_newline\":\"x\\ny\"}",
};

// Appends `streams` streams with events of every odd shape; returns the head.
int64_t Fill(EventStore& store, int streams, int events_per_stream) {
  for (int round = 0; round < events_per_stream; ++round) {
    for (int s = 0; s < streams; ++s) {
      const std::string& data =
          kOddData[static_cast<size_t>(round * streams + s) % kOddData.size()];
      std::vector<EventData> events;
      events.push_back(
          Event(s % 2 ? "ItemAdded" : "Ev\"ent", data,
                round % 3 ? "{}" : "{\"correlation_id\":\"c-" + std::to_string(s) + "\"}"));
      auto appended = store.Append("stream-" + std::to_string(s) + (s == 3 ? "-\xc3\xa9\\\"" : ""),
                                   ExpectedVersion::Any(), std::move(events));
      EXPECT_TRUE(appended.ok()) << appended.error().message;
    }
  }
  return *store.HeadPosition();
}

std::vector<RecordedEvent> WholeLog(EventStore& store) {
  std::vector<RecordedEvent> all;
  for (int64_t after = 0;;) {
    auto page = store.ReadLog(after, 1000);
    EXPECT_TRUE(page.ok());
    if (!page.ok() || page->events.empty()) break;
    all.insert(all.end(), page->events.begin(), page->events.end());
    after = page->events.back().position;
  }
  return all;
}

void ExpectSameEvent(const RecordedEvent& a, const RecordedEvent& b) {
  EXPECT_EQ(a.position, b.position);
  EXPECT_EQ(a.stream_id, b.stream_id) << "at " << a.position;
  EXPECT_EQ(a.version, b.version) << "at " << a.position;
  EXPECT_EQ(a.id, b.id) << "at " << a.position;
  EXPECT_EQ(a.type, b.type) << "at " << a.position;
  EXPECT_EQ(a.data, b.data) << "at " << a.position;
  EXPECT_EQ(a.metadata, b.metadata) << "at " << a.position;
  EXPECT_EQ(a.recorded_at_us, b.recorded_at_us) << "at " << a.position;
}

// Collects what a replay delivers.
class Collector final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    ++batches;
    events.insert(events.end(), batch.begin(), batch.end());
    return OkStatus();
  }
  std::vector<RecordedEvent> events;
  int batches = 0;
};

std::vector<std::string> Keys(ObjectStore& objects) {
  std::vector<std::string> keys;
  ListOptions list;
  auto page = objects.List(list);
  EXPECT_TRUE(page.ok());
  for (const auto& o : page->objects) keys.push_back(o.key);
  return keys;
}

ArchiverOptions Segments(size_t events) {
  ArchiverOptions options;
  options.segment_max_events = events;
  return options;
}

class ArchiveTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::unique_ptr<EventStore> store_ = OpenStore(dir_.File("events.sqlite"));
  std::unique_ptr<ObjectStore> objects_ = OpenFolder(dir_.File("archive"));
};

TEST_F(ArchiveTest, RoundTripRestoresAnIdenticalStore) {
  const int64_t head = Fill(*store_, 7, 9);
  ASSERT_EQ(head, 63);
  auto archived = ArchiveOnce(*store_, *objects_, Segments(10));
  ASSERT_TRUE(archived.ok()) << archived.error().message;
  EXPECT_EQ(archived->archived_up_to, head);
  EXPECT_EQ(Keys(*objects_).size(), 7u);  // 6 full segments of 10 and one of 3

  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  const std::string restored_path = dir_.File("restored/events.sqlite");
  std::filesystem::create_directories(dir_.File("restored"));
  auto restored = RestoreSqliteEventStore(**reader, ReplayOptions{}, restored_path);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->events, head);
  EXPECT_EQ(restored->segments, 7);

  auto copy = OpenStore(restored_path);
  ASSERT_NE(copy, nullptr);
  const auto original = WholeLog(*store_);
  const auto again = WholeLog(*copy);
  ASSERT_EQ(original.size(), again.size());
  for (size_t i = 0; i < original.size(); ++i) ExpectSameEvent(original[i], again[i]);
  // Streams, their versions and their reads agree too.
  auto streams = store_->ListStreams("", 100);
  auto copied_streams = copy->ListStreams("", 100);
  ASSERT_TRUE(streams.ok() && copied_streams.ok());
  ASSERT_EQ(streams->streams.size(), copied_streams->streams.size());
  for (size_t i = 0; i < streams->streams.size(); ++i) {
    EXPECT_EQ(streams->streams[i].stream_id, copied_streams->streams[i].stream_id);
    EXPECT_EQ(streams->streams[i].version, copied_streams->streams[i].version);
    auto page = copy->ReadStream(streams->streams[i].stream_id, {});
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(static_cast<int64_t>(page->events.size()), streams->streams[i].version);
  }
  // The restored store takes appends where the original would.
  auto next = copy->Append("stream-0", ExpectedVersion::Exact(9), {Event("T", "{}")});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, head + 1);
  EXPECT_EQ(next->first_version, 10);

  auto report = Verify(store_.get(), objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_EQ(report->compared_events, head);
  EXPECT_EQ(report->store_streams, 7);
}

TEST_F(ArchiveTest, EventsLargerThanTheParsersBatchRoundTrip) {
  // Limits raised past the archive parser's 4 MiB batch: such lines are parsed in a second pass.
  Limits limits;
  limits.max_event_bytes = 12u << 20;
  auto store = NewMemoryEventStore(limits);
  const std::string big = "{\"blob\":\"" + std::string(5u << 20, 'x') + "\"}";
  const std::string big_lines = "{\n\"blob\":\"" + std::string(3u << 20, 'y') + "\"\n}";
  for (const std::string* data : {&kOddData[1], &big, &kOddData[5], &big_lines, &kOddData[2]}) {
    ASSERT_TRUE(store->Append("big", ExpectedVersion::Any(), {Event("T", *data)}).ok());
  }
  ASSERT_TRUE(ArchiveOnce(*store, *objects_, {}).ok());
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  Collector all;
  ASSERT_TRUE((*reader)->Replay({}, all).ok());
  const auto log = WholeLog(*store);
  ASSERT_EQ(all.events.size(), log.size());
  for (size_t i = 0; i < log.size(); ++i) ExpectSameEvent(all.events[i], log[i]);
}

TEST_F(ArchiveTest, RestoreRefusesAnExistingStoreAndAStartAfterOne) {
  Fill(*store_, 2, 2);
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, {}).ok());
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  auto over = RestoreSqliteEventStore(**reader, {}, dir_.File("events.sqlite"));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidArgument);
  ReplayOptions later;
  later.from = 2;
  auto partial = RestoreSqliteEventStore(**reader, later, dir_.File("other.sqlite"));
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.error().message.find("position 1"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("other.sqlite")));
}

TEST_F(ArchiveTest, SegmentsAreCutByCountBytesAndAge) {
  Fill(*store_, 5, 5);  // 25 events
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(10)).ok());
  EXPECT_EQ(Keys(*objects_),
            (std::vector<std::string>{SegmentKey(1, 10), SegmentKey(11, 20), SegmentKey(21, 25)}));

  // By bytes: each segment ends at the first event that reaches the limit.
  auto by_bytes = OpenFolder(dir_.File("by-bytes"));
  ArchiverOptions small;
  small.segment_max_bytes = 400;
  ASSERT_TRUE(ArchiveOnce(*store_, *by_bytes, small).ok());
  auto reader = ArchiveReader::Open(*by_bytes);
  ASSERT_TRUE(reader.ok());
  EXPECT_GT((*reader)->Segments().size(), 3u);
  EXPECT_LT((*reader)->Segments().size(), 25u);
  EXPECT_EQ((*reader)->LastPosition(), 25);

  // By age: an archiver whose segments may wait 0 ms writes one per batch handed to it.
  auto by_age = OpenFolder(dir_.File("by-age"));
  ArchiverOptions young;
  young.segment_max_age = std::chrono::milliseconds(0);
  auto archiver = Archiver::Open(*by_age, young);
  ASSERT_TRUE(archiver.ok());
  const auto log = WholeLog(*store_);
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 4)).ok());
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(4, 3)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());  // waits for the segment in flight
  EXPECT_EQ(Keys(*by_age), (std::vector<std::string>{SegmentKey(1, 4), SegmentKey(5, 7)}));
}

// Segment ages and header times come from the archiver's clock: a test sets them, no sleeping.
TEST_F(ArchiveTest, SegmentAgeAndHeaderTimeFollowTheArchiversClock) {
  Fill(*store_, 2, 3);  // 6 events
  auto objects = OpenFolder(dir_.File("by-clock"));
  auto clock = std::make_shared<testing::FakeClock>(1'800'000'000'000'000);
  ArchiverOptions options;
  options.segment_max_age = std::chrono::seconds(60);
  options.clock = clock;
  auto archiver = Archiver::Open(*objects, options);
  ASSERT_TRUE(archiver.ok());
  const auto log = WholeLog(*store_);
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 2)).ok());
  clock->Advance(59'000'000);  // 59 s: not due yet
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(2, 2)).ok());
  clock->Advance(1'000'000);  // 60 s since the segment's first event: due
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(4, 1)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_EQ(Keys(*objects), (std::vector<std::string>{SegmentKey(1, 5)}));
  auto reader = ArchiveReader::Open(*objects);
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ((*reader)->Segments().size(), 1u);
  auto object = objects->Get(SegmentKey(1, 5), std::nullopt);
  ASSERT_TRUE(object.ok());
  const std::string text = DecompressForTest(*object);
  EXPECT_NE(text.find("\"created_at_us\":1800000060000000"), std::string::npos)
      << text.substr(0, 300);
}

TEST_F(ArchiveTest, TheRunnerCutsAQuietSegmentByAgeAndFlushesOnStop) {
  ArchiverOptions options;
  options.segment_max_age = std::chrono::milliseconds(100);
  auto runner = ArchiveRunner::Start(*store_, *objects_, options);
  ASSERT_TRUE(runner.ok());
  Fill(*store_, 3, 1);
  // Nothing more arrives: the age cut writes the segment.
  EXPECT_TRUE((*runner)->WaitUntilArchived(3, std::chrono::seconds(10)));
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 3)}));
  // A long age: only Stop() writes the rest.
  ASSERT_TRUE((*runner)->Stop().ok());
  ArchiverOptions patient;
  auto second = ArchiveRunner::Start(*store_, *objects_, patient);
  ASSERT_TRUE(second.ok());
  Fill(*store_, 2, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Keys(*objects_).size(), 1u);
  ASSERT_TRUE((*second)->Stop().ok());
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 3), SegmentKey(4, 5)}));
  EXPECT_EQ((*second)->GetStatus().state, ArchiveRunnerStatus::State::kStopped);
  // Stopped right after a commit, before its thread could read it: Stop() still archives it.
  auto third = ArchiveRunner::Start(*store_, *objects_, patient);
  ASSERT_TRUE(third.ok());
  Fill(*store_, 1, 1);
  ASSERT_TRUE((*third)->Stop().ok());
  EXPECT_EQ(Keys(*objects_).back(), SegmentKey(6, 6));
}

TEST_F(ArchiveTest, ResumesAfterACrashWithNoGapAndNoDuplicate) {
  Fill(*store_, 4, 3);  // 12 events
  const auto log = WholeLog(*store_);
  {
    auto archiver = Archiver::Open(*objects_, Segments(4));
    ASSERT_TRUE(archiver.ok());
    ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 10)).ok());
    EXPECT_GE((*archiver)->ArchivedUpTo(), 4);  // 5..8 may still be in flight
    // Dropped without Flush(): events 9 and 10 were only buffered, as in a crash. A put cut
    // short leaves a temporary file behind.
  }
  std::filesystem::create_directories(dir_.File("archive/segments"));
  const std::string leftover = dir_.File("archive/segments/.evs-tmp-interrupted");
  { std::ofstream(leftover) << "half a segment"; }

  auto archiver = Archiver::Open(*objects_, Segments(4));
  ASSERT_TRUE(archiver.ok());
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_EQ((*archiver)->ArchivedUpTo(), 8);
  // The feed delivers again from where its checkpoint said (earlier than needed): skipped.
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(5, 7)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_EQ(Keys(*objects_),
            (std::vector<std::string>{SegmentKey(1, 4), SegmentKey(5, 8), SegmentKey(9, 12)}));

  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  Collector all;
  ASSERT_TRUE((*reader)->Replay({}, all).ok());
  ASSERT_EQ(all.events.size(), 12u);
  for (size_t i = 0; i < log.size(); ++i) ExpectSameEvent(all.events[i], log[i]);
}

// A folder store with injected put faults: while `failing` is set puts fail (a full disk, a
// network outage); with `lose_next` the next put lands but reports failure (a lost answer, a
// failed fsync of the folder).
class FaultyObjects final : public ObjectStore {
 public:
  explicit FaultyObjects(ObjectStore& inner) : inner_(inner) {}
  Status Put(std::string_view key, std::string_view bytes) override {
    if (failing) return Error::Make(ErrorCode::kIOError, "injected: no space left on device");
    Status s = inner_.Put(key, bytes);
    if (s.ok() && lose_next.exchange(false)) {
      return Error::Make(ErrorCode::kIOError, "injected: the answer was lost");
    }
    return s;
  }
  Result<std::string> Get(std::string_view key, std::optional<ByteRange> range) override {
    return inner_.Get(key, range);
  }
  Result<ObjectInfo> Head(std::string_view key) override { return inner_.Head(key); }
  Result<ObjectList> List(const ListOptions& options) override { return inner_.List(options); }
  Status Delete(std::string_view key) override { return inner_.Delete(key); }
  Result<size_t> RemoveIncompleteWrites() override { return inner_.RemoveIncompleteWrites(); }
  std::string Location() const override { return inner_.Location(); }
  std::atomic<bool> failing{false};
  std::atomic<bool> lose_next{false};

 private:
  ObjectStore& inner_;
};

TEST_F(ArchiveTest, AFailedWriteIsReportedAndWrittenAgainInOrder) {
  Fill(*store_, 4, 5);  // 20 events
  const auto log = WholeLog(*store_);
  FaultyObjects flaky(*objects_);
  auto archiver = Archiver::Open(flaky, Segments(5));
  ASSERT_TRUE(archiver.ok());
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 5)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  flaky.failing = true;
  // 6..10 is handed to the writer, whose put fails; the next hand-off or Flush reports it.
  Status handed = (*archiver)->Handle(std::span(log).subspan(5, 10));
  Status flushed = (*archiver)->Flush();
  EXPECT_FALSE(handed.ok() && flushed.ok());
  EXPECT_NE((handed.ok() ? flushed : handed).error().message.find("injected"), std::string::npos);
  EXPECT_EQ((*archiver)->ArchivedUpTo(), 5);
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 5)}));
  flaky.failing = false;
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(8, 12)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 5), SegmentKey(6, 10),
                                                       SegmentKey(11, 15), SegmentKey(16, 20)}));
  auto report = Verify(store_.get(), objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->compared_events, 20);
}

TEST_F(ArchiveTest, TheRunnerRetriesAFailingArchiveAndCatchesUp) {
  FaultyObjects flaky(*objects_);
  flaky.failing = true;
  ArchiverOptions options = Segments(3);
  options.segment_max_age = std::chrono::milliseconds(20);
  auto runner = ArchiveRunner::Start(*store_, flaky, options);
  ASSERT_TRUE(runner.ok());
  Fill(*store_, 5, 2);  // 10 events
  for (int i = 0; i < 500 && (*runner)->GetStatus().error.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const ArchiveRunnerStatus failing = (*runner)->GetStatus();
  EXPECT_EQ(failing.state, ArchiveRunnerStatus::State::kFailed);
  EXPECT_NE(failing.error.find("injected"), std::string::npos) << failing.error;
  flaky.failing = false;
  EXPECT_TRUE((*runner)->WaitUntilArchived(10, std::chrono::seconds(20)));
  ASSERT_TRUE((*runner)->Stop().ok());
  auto report = Verify(store_.get(), objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->archive_events, 10);
}

TEST_F(ArchiveTest, ASegmentWhosePutAnswerWasLostIsAdoptedNotRewritten) {
  Fill(*store_, 3, 3);  // 9 events
  const auto log = WholeLog(*store_);
  FaultyObjects lossy(*objects_);
  auto archiver = Archiver::Open(lossy, Segments(3));
  ASSERT_TRUE(archiver.ok());
  lossy.lose_next = true;
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 3)).ok());
  // The writer's put landed but reported failure; the retry finds that very segment and adopts
  // it (before, it took it for another archiver's and stalled).
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_FALSE(lossy.lose_next);
  EXPECT_EQ((*archiver)->ArchivedUpTo(), 3);
  ASSERT_TRUE((*archiver)->Handle(std::span(log)).ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_EQ(Keys(*objects_),
            (std::vector<std::string>{SegmentKey(1, 3), SegmentKey(4, 6), SegmentKey(7, 9)}));
  EXPECT_EQ((*archiver)->LastArchivedEventId(), log.back().id);
}

// ---------------------------------------------------------------------------------------------
// A feed without global positions that keeps checkpoints of its own (a Kinesis consumer).

// The log's events with position 0, as a Kinesis consumer hands them.
std::vector<RecordedEvent> WithoutPositions(std::vector<RecordedEvent> events) {
  for (RecordedEvent& e : events) e.position = 0;
  return events;
}

TEST_F(ArchiveTest, ACheckpointedArchiveNumbersEventsAndKeepsTheFeedsCheckpoints) {
  Fill(*store_, 4, 6);  // 24 events
  const auto feed = WithoutPositions(WholeLog(*store_));
  {
    auto archiver = CheckpointedArchiver::Open(*objects_, Segments(5));
    ASSERT_TRUE(archiver.ok()) << archiver.error().message;
    CheckpointStore& checkpoints = **archiver;
    EXPECT_FALSE(*checkpoints.Load("c/s/shard-1"));
    // Batches of 3 from two "shards"; segments are cut only where a checkpoint was saved, so
    // each holds whole batches (6, one batch past the 5 asked for).
    for (size_t at = 0; at < 18; at += 3) {
      const std::string shard = (at / 3) % 2 ? "c/s/shard-2" : "c/s/shard-1";
      ASSERT_TRUE((*archiver)->Handle(std::span(feed).subspan(at, 3)).ok());
      ASSERT_TRUE(checkpoints.Save(shard, "seq-" + std::to_string(at + 3)).ok());
    }
    // A batch handed over without its checkpoint saved (the consumer stopped in between) is not
    // archived: it comes again.
    ASSERT_TRUE((*archiver)->Handle(std::span(feed).subspan(18, 3)).ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
    EXPECT_EQ((*archiver)->ArchivedUpTo(), 18);
    EXPECT_EQ(*checkpoints.Load("c/s/shard-2"), "seq-18");
    EXPECT_EQ(checkpoints.Park(ParkedEvent{}).error().code, ErrorCode::kUnsupported);
  }
  EXPECT_EQ(Keys(*objects_),
            (std::vector<std::string>{SegmentKey(1, 6), SegmentKey(7, 12), SegmentKey(13, 18)}));
  {
    // Reopened: the checkpoints are those of the last segment; the feed resumes after them.
    auto archiver = CheckpointedArchiver::Open(*objects_, Segments(5));
    ASSERT_TRUE(archiver.ok()) << archiver.error().message;
    EXPECT_EQ(*(*archiver)->Load("c/s/shard-1"), "seq-15");
    EXPECT_EQ(*(*archiver)->Load("c/s/shard-2"), "seq-18");
    ASSERT_TRUE((*archiver)->Handle(std::span(feed).subspan(18)).ok());
    ASSERT_TRUE((*archiver)->Save("c/s/shard-1", "seq-24").ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
    EXPECT_EQ((*archiver)->ArchivedUpTo(), 24);
  }
  // Every event exactly once, numbered in arrival order, and the archive verifies on its own.
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  Collector got;
  ASSERT_TRUE((*reader)->Replay({}, got).ok());
  ASSERT_EQ(got.events.size(), feed.size());
  for (size_t i = 0; i < feed.size(); ++i) {
    RecordedEvent want = feed[i];
    want.position = static_cast<int64_t>(i) + 1;
    ExpectSameEvent(got.events[i], want);
  }
  auto report = Verify(nullptr, objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
}

TEST_F(ArchiveTest, ACheckpointedArchiveRetriesAFailedWriteThroughTheFeed) {
  Fill(*store_, 3, 4);  // 12 events
  const auto feed = WithoutPositions(WholeLog(*store_));
  FaultyObjects flaky(*objects_);
  auto archiver = CheckpointedArchiver::Open(flaky, Segments(3));
  ASSERT_TRUE(archiver.ok());
  flaky.failing = true;
  ASSERT_TRUE((*archiver)->Handle(std::span(feed).subspan(0, 3)).ok());
  // The full segment is handed to the writer; its failure is not the checkpoint's...
  ASSERT_TRUE((*archiver)->Save("k", "3").ok());
  Status flushed = (*archiver)->Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_NE(flushed.error().message.find("injected"), std::string::npos);
  // ...and the next batch is refused while the segment cannot be written: the feed retries.
  Status refused = (*archiver)->Handle(std::span(feed).subspan(3, 3));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("injected"), std::string::npos);
  flaky.failing = false;
  ASSERT_TRUE((*archiver)->Handle(std::span(feed).subspan(3, 3)).ok());
  ASSERT_TRUE((*archiver)->Save("k", "6").ok());
  ASSERT_TRUE((*archiver)->Flush().ok());
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 3), SegmentKey(4, 6)}));
  auto reopened = CheckpointedArchiver::Open(*objects_, Segments(3));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->Load("k"), "6");
}

TEST_F(ArchiveTest, AFeedsRepeatsAreSkippedInARunAndVerifyFindsTheRest) {
  Fill(*store_, 2, 3);  // 6 events: s0 and s1, versions 1..3 each
  const auto feed = WithoutPositions(WholeLog(*store_));
  {
    // A feed that hands s0@2 twice (a relay retry): the archiver takes it once.
    auto archiver = CheckpointedArchiver::Open(*objects_, Segments(100));
    ASSERT_TRUE(archiver.ok());
    std::vector<RecordedEvent> repeated(feed.begin(), feed.begin() + 4);
    repeated.push_back(feed[2]);
    ASSERT_TRUE((*archiver)->Handle(repeated).ok());
    ASSERT_TRUE((*archiver)->Save("k", "1").ok());
    ASSERT_TRUE((*archiver)->Handle({&feed[2], 1}).ok());  // and again after the save
    ASSERT_TRUE((*archiver)->Save("k", "2").ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
    EXPECT_EQ((*archiver)->ArchivedUpTo(), 4);
  }
  {
    // After a restart the archiver does not know s0@2 was taken: a repeat then is archived,
    // and so is a stream that starts past version 1 (the feed began after its first events).
    auto archiver = CheckpointedArchiver::Open(*objects_, Segments(100));
    ASSERT_TRUE(archiver.ok());
    std::vector<RecordedEvent> more{feed[2]};
    more.insert(more.end(), feed.begin() + 4, feed.end());
    RecordedEvent late = feed[0];
    late.stream_id = "late";
    late.version = 2;
    more.push_back(late);
    ASSERT_TRUE((*archiver)->Handle(more).ok());
    ASSERT_TRUE((*archiver)->Save("k", "3").ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
  }
  auto report = Verify(store_.get(), objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->feed_archive);
  EXPECT_EQ(report->compared_events, 0) << "a feed's archive is not compared with the log";
  ASSERT_EQ(report->problem_count, 2) << ::testing::PrintToString(report->problems);
  EXPECT_NE(report->problems[0].find("has version 2 after 2 (at position 5"), std::string::npos)
      << report->problems[0];
  EXPECT_NE(report->problems[1].find("stream 'late' has version 2 after 0"), std::string::npos)
      << report->problems[1];
}

TEST_F(ArchiveTest, AnArchiveOfTheLogAndOneOfACheckpointedFeedAreNotMixed) {
  Fill(*store_, 2, 2);
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(10)).ok());
  auto checkpointed = CheckpointedArchiver::Open(*objects_, Segments(10));
  ASSERT_FALSE(checkpointed.ok());
  EXPECT_NE(checkpointed.error().message.find("needs an archive of its own"), std::string::npos);

  auto other = OpenFolder(dir_.File("kinesis-archive"));
  {
    auto archiver = CheckpointedArchiver::Open(*other, Segments(10));
    ASSERT_TRUE(archiver.ok());
    const auto feed = WithoutPositions(WholeLog(*store_));
    ASSERT_TRUE((*archiver)->Handle(feed).ok());
    ASSERT_TRUE((*archiver)->Save("k", "1").ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
  }
  auto plain = Archiver::Open(*other, Segments(10));
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().message.find("needs an archive of its own"), std::string::npos);
}

TEST_F(ArchiveTest, AnArchiveOfAnotherHistoryIsRefused) {
  Fill(*store_, 2, 5);  // 10 events
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(4)).ok());
  // The store restored to position 5, then new events: positions 6.. hold another history.
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  ReplayOptions upto5;
  upto5.to = 5;
  std::filesystem::create_directories(dir_.File("restored"));
  ASSERT_TRUE(RestoreSqliteEventStore(**reader, upto5, dir_.File("restored/events.sqlite")).ok());
  auto restored = OpenStore(dir_.File("restored/events.sqlite"));
  Status refused = ArchiveOnce(*restored, *objects_, Segments(4)).ok()
                       ? Status(OkStatus())
                       : ArchiveOnce(*restored, *objects_, Segments(4)).error();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("past the store's head 5"), std::string::npos)
      << refused.error().message;
  Fill(*restored, 2, 5);
  auto moved_on = ArchiveOnce(*restored, *objects_, Segments(4));
  ASSERT_FALSE(moved_on.ok());
  EXPECT_NE(moved_on.error().message.find("belongs to another history"), std::string::npos)
      << moved_on.error().message;
  auto runner = ArchiveRunner::Start(*restored, *objects_, {});
  ASSERT_FALSE(runner.ok());
  // A fresh archive for the restored store works.
  auto fresh = OpenFolder(dir_.File("fresh"));
  ASSERT_TRUE(ArchiveOnce(*restored, *fresh, {}).ok());
}

TEST_F(ArchiveTest, AProjectionIsRebuiltOnlyFromItsOwnStoresWholeHistory) {
  Fill(*store_, 3, 3);
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(4)).ok());
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  cart::CartSummaryProjection projection;
  ProjectionOptions options;
  options.path = dir_.File("cart_summary.sqlite");
  auto runner = ProjectionRunner::Open(*store_, projection, options);
  ASSERT_TRUE(runner.ok());
  const std::string before = (*runner)->CheckpointName();
  auto replay = [&](ReplayOptions o) {
    return [&, o](EventHandler& h) -> Status {
      auto r = (*reader)->Replay(o, h);
      return r.ok() ? Status(OkStatus()) : Status(r.error());
    };
  };
  // Not from the start: refused, the read model untouched.
  ReplayOptions later;
  later.from = 3;
  Status partial = (*runner)->RebuildFrom(replay(later));
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.error().message.find("from position 1"), std::string::npos);
  EXPECT_EQ((*runner)->CheckpointName(), before);
  // Another store's history: refused.
  TempDir other_dir;
  auto other = OpenStore(other_dir.File("events.sqlite"));
  Fill(*other, 3, 3);
  ProjectionOptions other_options;
  other_options.path = other_dir.File("p.sqlite");
  auto other_runner = ProjectionRunner::Open(*other, projection, other_options);
  ASSERT_TRUE(other_runner.ok());
  Status foreign = (*other_runner)->RebuildFrom(replay({}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("another history"), std::string::npos)
      << foreign.error().message;
  // Its own: swapped in.
  ASSERT_TRUE((*runner)->RebuildFrom(replay({})).ok());
  EXPECT_NE((*runner)->CheckpointName(), before);
}

TEST_F(ArchiveTest, AFeedThatSkipsEventsIsRefused) {
  Fill(*store_, 3, 2);
  const auto log = WholeLog(*store_);
  auto archiver = Archiver::Open(*objects_, {});
  ASSERT_TRUE(archiver.ok());
  ASSERT_TRUE((*archiver)->Handle(std::span(log).subspan(0, 2)).ok());
  Status skipped = (*archiver)->Handle(std::span(log).subspan(3, 2));
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.error().message.find("position 4 where 3 comes next"), std::string::npos)
      << skipped.error().message;
}

TEST_F(ArchiveTest, OnlyOneArchiverWritesAtATime) {
  Fill(*store_, 2, 2);
  const auto log = WholeLog(*store_);
  auto first = Archiver::Open(*objects_, {});
  auto second = Archiver::Open(*objects_, {});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Handle(std::span(log).subspan(0, 2)).ok());
  ASSERT_TRUE((*first)->Flush().ok());
  ASSERT_TRUE((*second)->Handle(std::span(log)).ok());
  Status overlapping = (*second)->Flush();
  ASSERT_FALSE(overlapping.ok());
  EXPECT_EQ(overlapping.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(Keys(*objects_), (std::vector<std::string>{SegmentKey(1, 2)}));
}

TEST_F(ArchiveTest, ReplayDeliversExactlyTheRangeAskedFor) {
  Fill(*store_, 5, 6);  // 30 events in segments of 7
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(7)).ok());
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  ReplayOptions options;
  options.from = 6;
  options.to = 23;
  options.batch_size = 4;
  std::vector<int64_t> progress;
  options.progress = [&](const ArchiveProgress& p) { progress.push_back(p.position); };
  Collector range;
  auto result = (*reader)->Replay(options, range);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(range.events.size(), 18u);
  EXPECT_EQ(range.events.front().position, 6);
  EXPECT_EQ(range.events.back().position, 23);
  EXPECT_EQ(result->first_position, 6);
  EXPECT_EQ(result->last_position, 23);
  EXPECT_EQ(result->segments, 4);  // 1-7, 8-14, 15-21, 22-28
  EXPECT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), 23);

  ReplayOptions past;
  past.from = 31;
  Collector none;
  auto nothing = (*reader)->Replay(past, none);
  ASSERT_TRUE(nothing.ok());
  EXPECT_EQ(nothing->events, 0);
}

TEST_F(ArchiveTest, PointInTimeReplayStopsAtTheRightEvent) {
  for (int group = 0; group < 3; ++group) {
    Fill(*store_, 4, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(5)).ok());
  const auto log = WholeLog(*store_);
  ASSERT_EQ(log.size(), 12u);
  for (size_t i = 1; i < log.size(); ++i) {
    ASSERT_LE(log[i - 1].recorded_at_us, log[i].recorded_at_us) << "times go back at " << i;
  }
  auto reader = ArchiveReader::Open(*objects_);
  ASSERT_TRUE(reader.ok());
  // Each event's own time includes it and everything recorded at the same time, nothing later.
  for (size_t cut : {0u, 5u, 7u, 11u}) {
    ReplayOptions options;
    options.until_us = log[cut].recorded_at_us;
    size_t expected = cut + 1;
    while (expected < log.size() && log[expected].recorded_at_us <= *options.until_us) ++expected;
    Collector upto;
    auto result = (*reader)->Replay(options, upto);
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(upto.events.size(), expected) << "until the time of position " << cut + 1;
    EXPECT_LE(upto.events.back().recorded_at_us, *options.until_us);
  }
  // Before the first event: nothing.
  ReplayOptions before;
  before.until_us = log[0].recorded_at_us - 1;
  Collector none;
  ASSERT_TRUE((*reader)->Replay(before, none).ok());
  EXPECT_TRUE(none.events.empty());
}

// ---- corruption: every kind is refused with an error that names the object -----------------

class CorruptArchiveTest : public ArchiveTest {
 protected:
  void SetUp() override {
    Fill(*store_, 5, 6);  // 30 events
    ASSERT_TRUE(ArchiveOnce(*store_, *objects_, Segments(10)).ok());
  }

  std::string SegmentFile(int64_t first, int64_t last) {
    return dir_.File("archive/" + SegmentKey(first, last));
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteFile(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  // The segment's text, edited by `edit`, compressed again (a valid zstd frame).
  void Rewrite(int64_t first, int64_t last, const std::function<void(std::string&)>& edit) {
    const std::string path = SegmentFile(first, last);
    const std::string object = ReadFile(path);
    std::string text(ZSTD_getFrameContentSize(object.data(), object.size()), '\0');
    ASSERT_EQ(ZSTD_decompress(text.data(), text.size(), object.data(), object.size()), text.size());
    edit(text);
    std::string compressed(ZSTD_compressBound(text.size()), '\0');
    compressed.resize(
        ZSTD_compress(compressed.data(), compressed.size(), text.data(), text.size(), 3));
    WriteFile(path, compressed);
  }

  // The error replaying the whole archive gives (it must fail), and verify's problems.
  std::string ReplayError() {
    auto reader = ArchiveReader::Open(*objects_);
    if (!reader.ok()) return reader.error().message;
    Collector sink;
    auto result = (*reader)->Replay({}, sink);
    EXPECT_FALSE(result.ok()) << "the replay accepted a damaged archive";
    if (result.ok()) return "";
    EXPECT_EQ(result.error().code, ErrorCode::kCorruption);
    // Nothing of a bad segment is delivered: only whole segments before it.
    EXPECT_EQ(sink.events.size() % 10, 0u);
    return result.error().message;
  }

  std::vector<std::string> VerifyProblems() {
    auto report = Verify(store_.get(), objects_.get());
    EXPECT_TRUE(report.ok());
    EXPECT_FALSE(report->ok());
    return report->problems;
  }
};

TEST_F(CorruptArchiveTest, AFlippedByteIsNamed) {
  std::string bytes = ReadFile(SegmentFile(11, 20));
  bytes[bytes.size() / 2] ^= 0x20;
  WriteFile(SegmentFile(11, 20), bytes);
  const std::string error = ReplayError();
  EXPECT_NE(error.find(SegmentKey(11, 20)), std::string::npos) << error;
  ASSERT_EQ(VerifyProblems().size(), 1u);
  EXPECT_NE(VerifyProblems()[0].find(SegmentKey(11, 20)), std::string::npos);
}

TEST_F(CorruptArchiveTest, AChangedEventFailsTheChecksum) {
  Rewrite(11, 20, [](std::string& text) {
    const size_t at = text.find("\"version\":", text.find('\n'));
    text[at + 10] = text[at + 10] == '9' ? '8' : '9';
  });
  const std::string error = ReplayError();
  EXPECT_NE(error.find(SegmentKey(11, 20)), std::string::npos) << error;
  EXPECT_NE(error.find("checksum mismatch"), std::string::npos) << error;
}

TEST_F(CorruptArchiveTest, ATruncatedObjectIsNamed) {
  const std::string bytes = ReadFile(SegmentFile(21, 30));
  WriteFile(SegmentFile(21, 30), bytes.substr(0, bytes.size() - 7));
  const std::string error = ReplayError();
  EXPECT_NE(error.find(SegmentKey(21, 30)), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;

  Rewrite(11, 20, [](std::string& text) { text.resize(text.rfind('\n', text.size() - 2) + 1); });
  const std::string no_trailer = ReplayError();
  EXPECT_NE(no_trailer.find(SegmentKey(11, 20)), std::string::npos) << no_trailer;
}

TEST_F(CorruptArchiveTest, AMissingSegmentIsAGap) {
  std::filesystem::remove(SegmentFile(11, 20));
  const std::string error = ReplayError();
  EXPECT_NE(error.find("gap: positions 11..20"), std::string::npos) << error;
  EXPECT_NE(error.find(SegmentKey(21, 30)), std::string::npos) << error;
  EXPECT_NE(VerifyProblems()[0].find("gap"), std::string::npos);
  // Nor will an archiver write after a gap.
  auto archiver = Archiver::Open(*objects_, {});
  ASSERT_FALSE(archiver.ok());
  EXPECT_EQ(archiver.error().code, ErrorCode::kCorruption);
}

TEST_F(CorruptArchiveTest, OverlappingSegmentsAreRefused) {
  std::filesystem::copy_file(SegmentFile(11, 20), dir_.File("archive/" + SegmentKey(15, 20)));
  const std::string error = ReplayError();
  EXPECT_NE(error.find("overlap"), std::string::npos) << error;
  EXPECT_NE(error.find(SegmentKey(15, 20)), std::string::npos) << error;
}

TEST_F(CorruptArchiveTest, AnUnknownFormatVersionIsRefused) {
  Rewrite(1, 10, [](std::string& text) {
    const size_t at = text.find("\"version\":1");
    text.replace(at, 11, "\"version\":2");
  });
  const std::string error = ReplayError();
  EXPECT_NE(error.find(SegmentKey(1, 10)), std::string::npos) << error;
  EXPECT_NE(error.find("unknown segment format version 2"), std::string::npos) << error;
}

TEST_F(CorruptArchiveTest, ASegmentWhoseContentDisagreesWithItsKeyIsRefused) {
  std::filesystem::rename(SegmentFile(21, 30), dir_.File("archive/" + SegmentKey(21, 29)));
  std::filesystem::copy_file(dir_.File("archive/" + SegmentKey(21, 29)), SegmentFile(30, 30));
  const std::string error = ReplayError();
  EXPECT_NE(error.find(SegmentKey(21, 29)), std::string::npos) << error;
  EXPECT_NE(error.find("not those of its key"), std::string::npos) << error;
}

TEST_F(CorruptArchiveTest, VerifyFindsAStoreThatDisagreesWithTheArchive) {
  // Another store with the same shape but other ids: every event differs.
  TempDir other_dir;
  auto other = OpenStore(other_dir.File("events.sqlite"));
  Fill(*other, 5, 6);
  auto report = Verify(other.get(), objects_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->problem_count, 30);
  EXPECT_EQ(report->compared_events, 30);
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find("position 1: the archive and the store differ in id"),
            std::string::npos)
      << report->problems[0];
  // An archive longer than the store: the store lost events.
  TempDir short_dir;
  auto short_store = OpenStore(short_dir.File("events.sqlite"));
  Fill(*short_store, 5, 2);
  auto shorter = Verify(short_store.get(), objects_.get());
  ASSERT_TRUE(shorter.ok());
  EXPECT_FALSE(shorter->ok());
  bool named = false;
  for (const auto& p : shorter->problems)
    named |= p.find("past the store's head 10") != std::string::npos;
  EXPECT_TRUE(named);
}

}  // namespace
}  // namespace evs
