// The log engine at the level of its files: torn tails, bad checksums, preallocated segments,
// roll-over, and the disk failing under it (through a FileSystem that injects faults).
#include "evs/log_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fault_file_system.h"
#include "store/log/log_format.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::FaultFileSystem;

bool LogContains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<EventData> LogEvents(int n, size_t data_bytes = 0) {
  std::vector<EventData> events(static_cast<size_t>(n));
  for (auto& e : events) {
    e.id = Uuid::Random();
    e.type = "Noted";
    e.data = "{\"pad\":\"" + std::string(data_bytes, 'x') + "\"}";
  }
  return events;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteWholeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Where each record of a segment's bytes starts and ends (the format of log_format.h: a 16-byte
// segment header, then 16-byte record headers whose bytes 8..11 are the payload's length).
std::vector<std::pair<size_t, size_t>> RecordsOf(const std::string& segment) {
  std::vector<std::pair<size_t, size_t>> records;
  for (size_t at = 16; at + 16 <= segment.size() && records.size() < 100000;) {
    if (segment.compare(at, 16, std::string(16, '\0')) == 0) break;
    uint32_t length;
    std::memcpy(&length, segment.data() + at + 8, 4);
    records.emplace_back(at, at + 16 + length);
    at += 16 + length;
  }
  return records;
}

std::vector<RecordedEvent> WholeLogOf(EventStore& store) {
  std::vector<RecordedEvent> all;
  for (int64_t after = 0; all.size() < 1000000;) {
    auto page = store.ReadLog(after, 997);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->events.empty()) break;
    all.insert(all.end(), page->events.begin(), page->events.end());
    after = page->next_position;
  }
  return all;
}

class LogStoreTest : public ::testing::Test {
 protected:
  LogStoreOptions Options() {
    LogStoreOptions options;
    options.folder = dir_.File("log");
    options.segment_bytes = segment_bytes_;
    options.file_system = fs_;
    return options;
  }
  Result<std::unique_ptr<EventStore>> Open() { return OpenLogEventStore(Options()); }
  void Reopen() {
    store_.reset();
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }
  void Close() { store_.reset(); }
  std::string Segment(int n) const {
    char name[32];
    std::snprintf(name, sizeof name, "/%08d.log", n);
    return dir_.File("log") + name;
  }
  AppendResult AppendOk(const std::string& stream, int n, size_t data_bytes = 0) {
    auto r = store_->Append(stream, ExpectedVersion::Any(), LogEvents(n, data_bytes));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : AppendResult{};
  }
  // Checks the whole log: positions dense from 1, and `expected` events.
  void ExpectDenseLog(size_t expected) {
    auto log = WholeLogOf(*store_);
    ASSERT_EQ(log.size(), expected);
    for (size_t i = 0; i < log.size(); ++i) {
      ASSERT_EQ(log[i].position, static_cast<int64_t>(i) + 1);
    }
    EXPECT_EQ(*store_->HeadPosition(), static_cast<int64_t>(expected));
  }

  uint64_t segment_bytes_ = 1 << 20;
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(LogStoreTest, ASegmentIsPreallocatedToItsFullSizeWhenTheStoreIsCreated) {
  Reopen();
  EXPECT_EQ(std::filesystem::file_size(Segment(1)), segment_bytes_);
  AppendOk("a", 3);
  // Commits overwrite the zeros: the file's size never changes.
  EXPECT_EQ(std::filesystem::file_size(Segment(1)), segment_bytes_);
  // One fsync of the segment per sequential commit, nothing else.
  const int64_t before = fs_->Fsyncs();
  for (int i = 0; i < 3; ++i) AppendOk("a", 1);
  EXPECT_EQ(fs_->Fsyncs() - before, 3);
}

TEST_F(LogStoreTest, ASecondOpenerOfTheFolderIsUnavailable) {
  Reopen();
  auto second = Open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
}

TEST_F(LogStoreTest, ATornLastRecordIsDroppedWhereverItIsCut) {
  Reopen();
  AppendOk("a", 3);
  AppendOk("b", 2);
  AppendOk("a", 2, 40);  // the last record: cut at every byte
  Close();
  const std::string pristine = ReadWholeFile(Segment(1));
  const auto records = RecordsOf(pristine);
  ASSERT_EQ(records.size(), 3u);
  const auto [start, end] = records.back();
  for (size_t cut = start; cut < end; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    std::string torn = pristine;
    std::fill(torn.begin() + static_cast<std::ptrdiff_t>(cut),
              torn.begin() + static_cast<std::ptrdiff_t>(end), '\0');
    WriteWholeFile(Segment(1), torn);
    Reopen();
    EXPECT_EQ(*store_->HeadPosition(), 5);
    EXPECT_EQ(*store_->StreamVersion("a"), 3);
    ExpectDenseLog(5);
    // The torn bytes were zeroed: what is after the end can never come back.
    Close();
    const std::string after = ReadWholeFile(Segment(1));
    EXPECT_EQ(after.substr(start), std::string(after.size() - start, '\0'));
    ASSERT_EQ(after.substr(0, start), pristine.substr(0, start));
  }
  Reopen();
  auto next = store_->Append("a", ExpectedVersion::Exact(3), LogEvents(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 6);
  Reopen();
  ExpectDenseLog(6);
}

TEST_F(LogStoreTest, AFlippedByteAnywhereInTheLastRecordDropsIt) {
  Reopen();
  AppendOk("a", 2);
  AppendOk("b", 1, 20);
  Close();
  const std::string pristine = ReadWholeFile(Segment(1));
  const auto records = RecordsOf(pristine);
  ASSERT_EQ(records.size(), 2u);
  for (size_t at = records[1].first; at < records[1].second; ++at) {
    SCOPED_TRACE("byte " + std::to_string(at));
    std::string bad = pristine;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    WriteWholeFile(Segment(1), bad);
    Reopen();
    EXPECT_EQ(*store_->HeadPosition(), 2);
    EXPECT_EQ(*store_->StreamVersion("b"), 0);
    Close();
  }
}

TEST_F(LogStoreTest, ABadChecksumInTheMiddleStopsRecoveryThere) {
  Reopen();
  for (int i = 0; i < 5; ++i) AppendOk("s" + std::to_string(i), 2);
  Close();
  std::string bytes = ReadWholeFile(Segment(1));
  const auto records = RecordsOf(bytes);
  ASSERT_EQ(records.size(), 5u);
  bytes[records[2].first + 30] ^= 1;  // inside the third commit's payload
  WriteWholeFile(Segment(1), bytes);
  // The index checkpoint written at close vouches for the log it covers (log_checkpoint.h);
  // without it, opening checks every record.
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();
  // Nothing after the first record that does not check out is trusted, even records that do.
  ExpectDenseLog(4);
  EXPECT_EQ(*store_->StreamVersion("s3"), 0);
  EXPECT_EQ(*store_->StreamVersion("s4"), 0);
  auto next = store_->Append("s4", ExpectedVersion::NoStream(), LogEvents(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 5);
  Reopen();
  ExpectDenseLog(5);
}

TEST_F(LogStoreTest, ARecordWithAnImpossibleLengthEndsTheLog) {
  Reopen();
  AppendOk("a", 2);
  AppendOk("a", 2);
  Close();
  std::string bytes = ReadWholeFile(Segment(1));
  const auto records = RecordsOf(bytes);
  ASSERT_EQ(records.size(), 2u);
  const uint32_t huge = 0x7fffffff;
  std::memcpy(bytes.data() + records[1].first + 8, &huge, 4);
  WriteWholeFile(Segment(1), bytes);
  Reopen();
  ExpectDenseLog(2);
}

TEST_F(LogStoreTest, SegmentsRollOverAndReopenAfterManyOfThem) {
  segment_bytes_ = 4096;
  Reopen();
  std::unordered_map<std::string, int64_t> versions;
  for (int i = 0; i < 300; ++i) {
    const std::string stream = "s" + std::to_string(i % 7);
    const AppendResult r = AppendOk(stream, 1 + i % 3, 50);
    versions[stream] = r.last_version;
  }
  Close();
  int segments = 0;
  for (int n = 1; std::filesystem::exists(Segment(n)) && n < 10000; ++n) ++segments;
  EXPECT_GE(segments, 10);
  Reopen();
  const int64_t head = *store_->HeadPosition();
  EXPECT_EQ(head, 600);  // 300 appends of 1, 2 or 3 events
  ExpectDenseLog(600);
  for (const auto& [stream, version] : versions) {
    EXPECT_EQ(*store_->StreamVersion(stream), version);
    auto page = store_->ReadStream(stream, {Direction::kForward, 1, 100000});
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(static_cast<int64_t>(page->events.size()), version);
    for (size_t i = 0; i < page->events.size(); ++i) {
      EXPECT_EQ(page->events[i].version, static_cast<int64_t>(i) + 1);
    }
    auto back = store_->ReadStream(stream, {Direction::kBackward, 0, 5});
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->events.size(), 5u);
    EXPECT_EQ(back->events[0].version, version);
  }
  // Reads of the log from anywhere, across segment boundaries.
  for (int64_t after : {0, 1, 99, 250, 598, 599, 600}) {
    auto page = store_->ReadLog(after, 7);
    ASSERT_TRUE(page.ok()) << page.error().message;
    const size_t want = static_cast<size_t>(std::min<int64_t>(7, 600 - after));
    ASSERT_EQ(page->events.size(), want) << after;
    for (size_t i = 0; i < want; ++i) {
      EXPECT_EQ(page->events[i].position, after + 1 + static_cast<int64_t>(i));
    }
  }
  AppendOk("new", 2);
  Reopen();
  ExpectDenseLog(602);
}

TEST_F(LogStoreTest, ACommitLargerThanASegmentGetsOneOfItsOwn) {
  segment_bytes_ = 4096;
  Reopen();
  AppendOk("a", 1);
  AppendOk("big", 10, 2000);  // about 20 KB
  AppendOk("a", 1);
  Reopen();
  ExpectDenseLog(12);
  auto page = store_->ReadStream("big", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 10u);
  EXPECT_EQ(page->events[9].data.size(), 2000u + 10);
}

TEST_F(LogStoreTest, AForeignFileAsASegmentIsAClearError) {
  Reopen();
  AppendOk("a", 1);
  Close();
  std::string bytes = ReadWholeFile(Segment(1));
  bytes[0] = 'X';
  WriteWholeFile(Segment(1), bytes);
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption);
  EXPECT_TRUE(LogContains(store.error().message, "00000001.log")) << store.error().message;
}

TEST_F(LogStoreTest, AMissingSegmentInTheMiddleIsAClearError) {
  segment_bytes_ = 4096;
  Reopen();
  for (int i = 0; i < 40; ++i) AppendOk("a", 1, 200);
  Close();
  ASSERT_TRUE(std::filesystem::exists(Segment(3)));
  std::filesystem::remove(Segment(2));
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption);
  EXPECT_TRUE(LogContains(store.error().message, "00000002.log")) << store.error().message;
}

TEST_F(LogStoreTest, MetadataAndDeletesSurviveAReopen) {
  Reopen();
  AppendOk("a", 5);
  StreamMetadata metadata;
  metadata.max_count = 2;
  metadata.custom = R"({"owner":"x"})";
  ASSERT_TRUE(store_->SetStreamMetadata("a", metadata).ok());
  AppendOk("b", 1);
  ASSERT_TRUE(store_->DeleteStream("b", DeleteMode::kHard).ok());
  Reopen();
  auto page = store_->ReadStream("a", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 4);
  auto lifecycle = store_->GetStreamLifecycle("a");
  ASSERT_TRUE(lifecycle.ok());
  EXPECT_EQ(lifecycle->metadata.custom, R"({"owner":"x"})");
  EXPECT_EQ(store_->ReadStream("b", {}).error().code, ErrorCode::kStreamDeleted);
  ExpectDenseLog(6);
  auto scavenge = store_->Scavenge();
  ASSERT_TRUE(scavenge.ok()) << scavenge.error().message;
  EXPECT_EQ(scavenge->events_scavenged, 3 + 1);
  Reopen();
  ExpectDenseLog(6);
  page = store_->ReadStream("a", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 4);
}

// --- The persisted index checkpoint ------------------------------------------------------------

// Everything reads answer, for comparing a store opened from a checkpoint with one rebuilt.
std::string DescribeStore(EventStore& store) {
  std::string out;
  for (const RecordedEvent& e : WholeLogOf(store)) {
    out += std::to_string(e.position) + " " + e.stream_id + " " + std::to_string(e.version) + " " +
           e.id.ToString() + " " + e.type + " " + e.data + "\n";
  }
  auto streams = store.ListStreams("", 100000);
  EXPECT_TRUE(streams.ok());
  for (const StreamInfo& s : streams->streams) {
    out += s.stream_id + "@" + std::to_string(s.version) + ";";
    auto page = store.ReadStream(s.stream_id, {Direction::kBackward, 0, 3});
    EXPECT_TRUE(page.ok()) << s.stream_id;
    for (const RecordedEvent& e : page->events) out += std::to_string(e.position) + ",";
    auto lifecycle = store.GetStreamLifecycle(s.stream_id);
    if (lifecycle.ok()) out += lifecycle->metadata.custom;
  }
  return out;
}

class LogCheckpointTest : public LogStoreTest {
 protected:
  void SetUp() override {
    segment_bytes_ = 8192;
    Reopen();
    for (int i = 0; i < 120; ++i) AppendOk("s" + std::to_string(i % 9), 1 + i % 2, 60);
    StreamMetadata metadata;
    metadata.custom = R"({"team":"a"})";
    ASSERT_TRUE(store_->SetStreamMetadata("s1", metadata).ok());
    ASSERT_TRUE(store_->SetStreamMetadata("only-metadata", metadata).ok());
    ASSERT_TRUE(store_->DeleteStream("s2", DeleteMode::kSoft).ok());
    expected_ = DescribeStore(*store_);
    Close();
  }
  std::string Index() const { return dir_.File("log") + "/INDEX"; }
  std::string expected_;
};

TEST_F(LogCheckpointTest, ClosingWritesACheckpointThatOpensToTheSameStore) {
  ASSERT_TRUE(std::filesystem::exists(Index()));
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), expected_);
  EXPECT_EQ(*store_->HeadPosition(), 180);
  EXPECT_EQ(store_->ReadStream("s2", {}).error().code, ErrorCode::kNotFound);
  auto next =
      store_->Append("s3", ExpectedVersion::Exact(*store_->StreamVersion("s3")), LogEvents(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 181);
  const std::string after = DescribeStore(*store_);
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), after);
}

TEST_F(LogCheckpointTest, RecordsAfterAnOlderCheckpointAreScanned) {
  const std::string older = ReadWholeFile(Index());
  Reopen();
  for (int i = 0; i < 50; ++i) AppendOk("late" + std::to_string(i % 3), 2, 80);
  const std::string after = DescribeStore(*store_);
  Close();
  WriteWholeFile(Index(), older);  // as if the store had crashed before writing the new one
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), after);
  EXPECT_EQ(*store_->HeadPosition(), 280);
}

TEST_F(LogCheckpointTest, ADamagedMissingOrForeignCheckpointIsIgnoredAndTheIndexRebuilt) {
  std::string bytes = ReadWholeFile(Index());
  bytes[bytes.size() / 2] ^= 0x20;
  WriteWholeFile(Index(), bytes);
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), expected_);
  Close();
  std::filesystem::remove(Index());
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), expected_);
  Close();
  // A checkpoint of another store: its last record is not this log's.
  testing::TempDir other;
  {
    LogStoreOptions options;
    options.folder = other.File("log");
    auto store = OpenLogEventStore(options);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Append("x", ExpectedVersion::Any(), LogEvents(3)).ok());
  }
  WriteWholeFile(Index(), ReadWholeFile(other.File("log") + "/INDEX"));
  Reopen();
  EXPECT_EQ(DescribeStore(*store_), expected_);
}

TEST_F(LogCheckpointTest, RetriesAreRecognisedAfterOpeningFromACheckpoint) {
  Reopen();
  std::vector<EventData> events = LogEvents(2);
  auto first = store_->Append("retry", ExpectedVersion::Any(), events);
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 5; ++i) AppendOk("other", 1);
  Reopen();
  auto again = store_->Append("retry", ExpectedVersion::Any(), events);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->first_position, first->first_position);
  EXPECT_EQ(*store_->StreamVersion("retry"), 2);
}

// --- The read-only view for other processes ----------------------------------------------------

TEST_F(LogCheckpointTest, AReadOnlyViewReadsWhatTheOwnerMadeDurableAndIsWokenByCommits) {
  Reopen();  // from the checkpoint
  auto view = OpenLogEventStoreReader(dir_.File("log"));
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(DescribeStore(**view), DescribeStore(*store_));
  auto refused = (*view)->Append("s1", ExpectedVersion::Any(), LogEvents(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);

  const int64_t head = *store_->HeadPosition();
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) AppendOk("live", 1, 30);
  });
  // Woken by the owner's commits (the wait is a bound, not a measurement).
  auto woken = (*view)->WaitForHead(head, std::chrono::seconds(30));
  writer.join();
  ASSERT_TRUE(woken.ok()) << woken.error().message;
  EXPECT_GT(*woken, head);
  EXPECT_EQ(*(*view)->HeadPosition(), head + 20);
  EXPECT_EQ(*(*view)->StreamVersion("live"), 20);
  EXPECT_EQ(DescribeStore(**view), DescribeStore(*store_));
  // A commit larger than a segment grows a file the view has open already.
  AppendOk("big", 5, 3000);
  AppendOk("live", 1);
  auto big = (*view)->ReadStream("big", {});
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->events.size(), 5u);
  EXPECT_EQ(DescribeStore(**view), DescribeStore(*store_));

  // A view opened without the checkpoint scans the whole log.
  Close();
  std::filesystem::remove(Index());
  Reopen();
  AppendOk("after", 1);
  auto rebuilt = OpenLogEventStoreReader(dir_.File("log"));
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ(DescribeStore(**rebuilt), DescribeStore(*store_));
}

// The LogReaders of the owner and of a read-only view read what ReadLog does, page after page
// into one page, while the owner appends (records written past what a page read, and segments
// rolled over, between two reads of the same reader).
TEST_F(LogStoreTest, LogReadersOfTheOwnerAndOfAViewReadWhatReadLogDoesWhileTheOwnerAppends) {
  segment_bytes_ = 8192;
  Reopen();
  AppendOk("first", 3, 10);
  auto view = OpenLogEventStoreReader(dir_.File("log"));
  ASSERT_TRUE(view.ok()) << view.error().message;
  for (EventStore* store : {store_.get(), view->get()}) {
    auto reader = store->NewLogReader();
    LogPage page;
    int64_t after = 0;
    for (int round = 0; round < 40; ++round) {
      AppendOk("s" + std::to_string(round % 3), 1 + round % 4,
               static_cast<size_t>(round * 29 % 400));
      for (int pages = 0; pages < 100; ++pages) {
        const size_t limit = static_cast<size_t>(1 + (round + pages) % 5);
        auto read = reader->Read(after, limit, page);
        ASSERT_TRUE(read.ok()) << read.error().message;
        auto expected = store->ReadLog(after, limit);
        ASSERT_TRUE(expected.ok()) << expected.error().message;
        ASSERT_EQ(page.events.size(), expected->events.size()) << "after " << after;
        for (size_t i = 0; i < page.events.size(); ++i) {
          EXPECT_EQ(page.events[i].position, expected->events[i].position);
          EXPECT_EQ(page.events[i].id, expected->events[i].id);
          EXPECT_EQ(page.events[i].stream_id, expected->events[i].stream_id);
          EXPECT_EQ(page.events[i].data, expected->events[i].data);
        }
        EXPECT_EQ(page.next_position, expected->next_position);
        if (page.events.empty()) break;
        after = page.next_position;
      }
      ASSERT_EQ(after, *store->HeadPosition());
    }
  }
}

TEST(LogStoreReader, AFolderWithoutAStoreIsNotFound) {
  testing::TempDir dir;
  auto view = OpenLogEventStoreReader(dir.File("nothing"));
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kNotFound);
}

// --- The disk failing under the store ---------------------------------------------------------

// One append as the test made it, and what the store answered.
struct LogAttempt {
  std::string stream;
  std::vector<EventData> events;
  bool acknowledged = false;
};

// Every acknowledged attempt wholly there; every other wholly there or absent; nothing else.
int ExpectLogHoldsAttempts(EventStore& store, const std::vector<LogAttempt>& attempts) {
  const auto log = WholeLogOf(store);
  std::unordered_map<Uuid, const RecordedEvent*, UuidHash> by_id;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].position, static_cast<int64_t>(i) + 1) << "a gap in the log";
    by_id[log[i].id] = &log[i];
  }
  size_t known = 0;
  int unacknowledged_present = 0;
  for (const LogAttempt& a : attempts) {
    size_t present = 0;
    for (const EventData& e : a.events) present += by_id.count(e.id);
    known += present;
    if (a.acknowledged) {
      EXPECT_EQ(present, a.events.size()) << "an acknowledged append of " << a.stream << " is lost";
    } else {
      EXPECT_TRUE(present == 0 || present == a.events.size()) << "half an append is there";
      if (present > 0) ++unacknowledged_present;
    }
    for (size_t i = 0; present == a.events.size() && i < a.events.size(); ++i) {
      EXPECT_EQ(by_id[a.events[i].id]->data, a.events[i].data);
      EXPECT_EQ(by_id[a.events[i].id]->stream_id, a.stream);
    }
  }
  EXPECT_EQ(known, log.size()) << "the log holds events nobody appended";
  return unacknowledged_present;
}

class LogStoreFaultsTest : public LogStoreTest {
 protected:
  void SetUp() override { Reopen(); }
  Result<AppendResult> Attempt(const std::string& stream, std::vector<EventData> events) {
    LogAttempt a{stream, events};
    auto r = store_->Append(stream, ExpectedVersion::Any(), std::move(events));
    a.acknowledged = r.ok();
    attempts_.push_back(std::move(a));
    return r;
  }
  std::vector<LogAttempt> attempts_;
};

TEST_F(LogStoreFaultsTest, AFailedFsyncRefusesWritesUntilReopenedAndLosesNothingAcknowledged) {
  ASSERT_TRUE(Attempt("a", LogEvents(3)).ok());
  ASSERT_TRUE(Attempt("b", LogEvents(2)).ok());
  fs_->FailFsyncs(1, FaultFileSystem::kFiles);
  auto failed = Attempt("a", LogEvents(3));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(LogContains(failed.error().message, "fsync failure after position 5"))
      << failed.error().message;
  fs_->Clear();
  for (const char* stream : {"a", "b", "new"}) {
    auto refused = Attempt(stream, LogEvents(1));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_TRUE(LogContains(refused.error().message, "until it is reopened"))
        << refused.error().message;
  }
  // Reads go on, bounded by what is durable.
  EXPECT_EQ(*store_->HeadPosition(), 5);
  EXPECT_EQ(*store_->StreamVersion("a"), 3);
  Reopen();
  ExpectLogHoldsAttempts(*store_, attempts_);
  auto next = Attempt("a", LogEvents(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
  Reopen();
  ExpectLogHoldsAttempts(*store_, attempts_);
}

TEST_F(LogStoreFaultsTest, AFailedFsyncFailsEveryAsyncAppendInFlight) {
  ASSERT_TRUE(Attempt("a", LogEvents(1)).ok());
  fs_->FailFsyncs(1, FaultFileSystem::kFiles);
  constexpr int kAppends = 200;
  std::mutex mu;
  std::vector<std::optional<bool>> outcome(kAppends);
  std::vector<LogAttempt> async(kAppends);
  std::atomic<int> done{0};
  for (int i = 0; i < kAppends; ++i) {
    async[i].stream = "s" + std::to_string(i % 5);
    async[i].events = LogEvents(2);
    store_->AppendAsync(async[i].stream, ExpectedVersion::Any(), async[i].events,
                        [&, i](Result<AppendResult> r) {
                          std::lock_guard guard(mu);
                          outcome[i] = r.ok();
                          ++done;
                        });
  }
  Close();  // completes every append in flight
  ASSERT_EQ(done.load(), kAppends);
  int failures = 0;
  for (int i = 0; i < kAppends; ++i) {
    async[i].acknowledged = *outcome[i];
    if (!*outcome[i]) ++failures;
    attempts_.push_back(async[i]);
  }
  EXPECT_GT(failures, 0);
  fs_->Clear();
  Reopen();
  ExpectLogHoldsAttempts(*store_, attempts_);
}

TEST_F(LogStoreFaultsTest, ADiskFullFailsTheCommitAndTheStoreGoesOnOnceThereIsSpace) {
  ASSERT_TRUE(Attempt("a", LogEvents(2)).ok());
  fs_->DiskFullAfter(3000);  // room for part of the next commit
  for (int i = 0; i < 2; ++i) {
    auto full = Attempt("a", LogEvents(20, 500));
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.error().code, ErrorCode::kIOError);
    EXPECT_TRUE(full.error().message.starts_with("disk full: ")) << full.error().message;
    EXPECT_TRUE(LogContains(full.error().message, "nothing of this commit was written"))
        << full.error().message;
  }
  fs_->Clear();
  auto next = Attempt("a", LogEvents(3, 10));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 3);  // the failed commits took no positions
  EXPECT_EQ(next->first_version, 3);
  EXPECT_EQ(ExpectLogHoldsAttempts(*store_, attempts_), 0);
  Reopen();
  EXPECT_EQ(ExpectLogHoldsAttempts(*store_, attempts_), 0);
  EXPECT_EQ(*store_->HeadPosition(), 5);
}

TEST_F(LogStoreFaultsTest, AShortWriteIsFinishedAndTheAppendGoesThrough) {
  ASSERT_TRUE(Attempt("a", LogEvents(2)).ok());
  fs_->ShortWrites(1);
  ASSERT_TRUE(Attempt("a", LogEvents(3, 500)).ok());
  EXPECT_EQ(fs_->Faults(), 1);
  Reopen();
  EXPECT_EQ(ExpectLogHoldsAttempts(*store_, attempts_), 0);
  EXPECT_EQ(*store_->StreamVersion("a"), 5);
}

TEST_F(LogStoreFaultsTest, AWriteThatMakesNoProgressRefusesWritesUntilReopened) {
  ASSERT_TRUE(Attempt("a", LogEvents(2)).ok());
  fs_->StalledWrites(1);
  auto failed = Attempt("a", LogEvents(2));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  auto refused = Attempt("a", LogEvents(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  Reopen();
  ExpectLogHoldsAttempts(*store_, attempts_);
  ASSERT_TRUE(Attempt("a", LogEvents(1)).ok());
}

TEST_F(LogStoreFaultsTest, APowerLossKeepsEveryAcknowledgedCommit) {
  segment_bytes_ = 8192;
  Reopen();
  fs_->TrackUnsynced();
  for (int i = 0; i < 60; ++i)
    ASSERT_TRUE(Attempt("s" + std::to_string(i % 4), LogEvents(2, 100)).ok());
  fs_->PowerLoss();
  Close();
  fs_->PowerOn();
  Reopen();
  EXPECT_EQ(ExpectLogHoldsAttempts(*store_, attempts_), 0);
  EXPECT_EQ(*store_->HeadPosition(), 120);
}

// tests/data/log-v1: a store written by the release before format version 2 (segments whose
// checksum chain runs across the whole log; tests/data/make-log-v1-fixture.cc says how it was
// made). This release opens it, reads it as it was, appends after it (into version 2 segments)
// and opens it again, with and without the index checkpoint.
class LogFormatV1Test : public LogStoreTest {
 protected:
  void SetUp() override {
    segment_bytes_ = 4096;
    std::filesystem::copy(std::string(EVS_TEST_DATA) + "/log-v1", dir_.File("log"));
  }
  static uint32_t HeaderVersion(const std::string& segment) {
    const std::string bytes = ReadWholeFile(segment);
    uint32_t version = 0;
    if (bytes.size() >= 16) std::memcpy(&version, bytes.data() + 8, 4);
    return version;
  }
  // The fixture's events, and `extra` appended after them to stream "after".
  void ExpectFixture(int extra) {
    auto log = WholeLogOf(*store_);
    ASSERT_EQ(log.size(), static_cast<size_t>(48 + extra));
    for (size_t p = 0; p < 48; ++p) {
      const int i = static_cast<int>(p % 12), n = static_cast<int>(p / 12) + 1;
      EXPECT_EQ(log[p].position, static_cast<int64_t>(p) + 1);
      EXPECT_EQ(log[p].stream_id, "order-" + std::to_string(i));
      EXPECT_EQ(log[p].version, n);
      EXPECT_EQ(log[p].type, "Step");
      EXPECT_EQ(log[p].data, "{\"i\":" + std::to_string(i) + ",\"n\":" + std::to_string(n) + "}");
    }
    for (int k = 0; k < extra; ++k) {
      EXPECT_EQ(log[48 + static_cast<size_t>(k)].stream_id, "after");
      EXPECT_EQ(log[48 + static_cast<size_t>(k)].version, k + 1);
    }
    auto order0 = store_->ReadStream("order-0", {});
    ASSERT_TRUE(order0.ok()) << order0.error().message;
    ASSERT_EQ(order0->events.size(), 4u);
    EXPECT_EQ(order0->events[3].data, "{\"i\":0,\"n\":4}");
    auto order3 = store_->ReadStream("order-3", {});
    ASSERT_TRUE(order3.ok()) << order3.error().message;
    ASSERT_EQ(order3->events.size(), 2u);
    EXPECT_EQ(order3->events[0].version, 3);
    EXPECT_FALSE(store_->ReadStream("order-5", {}).ok());
    EXPECT_FALSE(store_->ReadStream("order-7", {}).ok());
    EXPECT_EQ(*store_->StreamVersion("order-11"), 4);
  }
};

TEST_F(LogFormatV1Test, AVersion1StoreOpensReadsAndGoesOnInVersion2Segments) {
  ASSERT_EQ(HeaderVersion(Segment(1)), 1u);
  ASSERT_EQ(HeaderVersion(Segment(2)), 1u);
  Reopen();
  ExpectFixture(0);
  // Enough to fill segment 2 and roll over into new (version 2) segments.
  for (int k = 0; k < 60; ++k) {
    auto r = store_->Append("after", ExpectedVersion::Exact(k), LogEvents(1, 100));
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  ExpectFixture(60);
  Close();
  EXPECT_EQ(HeaderVersion(Segment(1)), 1u);
  EXPECT_EQ(HeaderVersion(Segment(3)), 2u);
  EXPECT_EQ(HeaderVersion(Segment(4)), 2u);
  Reopen();  // from the checkpoint
  ExpectFixture(60);
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();  // a scan of the whole log: chains across version 1 segments, then per segment
  ExpectFixture(60);
  auto r = store_->Append("after", ExpectedVersion::Exact(60), LogEvents(1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->first_position, 109);
}

// In format version 2 a segment's first record is seeded with the segment's own seed, not with
// the record before it; what the chain checked across segments, recovery checks by batch number:
// a first record (checksum right) from a batch older than the record before it ends the log.
TEST_F(LogStoreTest, AVersion2SegmentsFirstRecordFromAnOlderBatchEndsTheLog) {
  segment_bytes_ = 4096;
  Reopen();
  for (int k = 0; k < 90; ++k) AppendOk("s", 1, 100);
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  std::string s3 = ReadWholeFile(Segment(3));
  const auto first = RecordsOf(s3).front();
  auto reseal = [&](uint64_t attempt) {
    for (int i = 0; i < 8; ++i) s3[first.first + 16 + i] = static_cast<char>(attempt >> (8 * i));
    uint64_t chain = store::log::SegmentSeed(3);
    store::log::ResealRecord(s3.data() + first.first, chain);
    WriteWholeFile(Segment(3), s3);
  };
  uint64_t attempt = 0;
  std::memcpy(&attempt, s3.data() + first.first + 16, 8);
  reseal(attempt);  // the same record: the log is whole
  Reopen();
  ExpectDenseLog(90);
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  s3 = ReadWholeFile(Segment(3));
  reseal(attempt - 1);  // checks out under the seed, but older than the record before it
  Reopen();
  const auto log = WholeLogOf(*store_);
  ASSERT_FALSE(log.empty());
  EXPECT_LT(log.size(), 90u);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].position, static_cast<int64_t>(i) + 1);
  EXPECT_FALSE(std::filesystem::exists(Segment(4)));
}

// --- Scavenging (log_scavenger.h) ----------------------------------------------------------------

class LogScavengeTest : public LogStoreTest {
 protected:
  void SetUp() override {
    segment_bytes_ = 8192;
    Reopen();
  }
  static uint32_t HeaderVersion(const std::string& segment) {
    const std::string bytes = ReadWholeFile(segment);
    uint32_t version = 0;
    if (bytes.size() >= 16) std::memcpy(&version, bytes.data() + 8, 4);
    return version;
  }
  std::vector<EventData> retry_;
  int64_t first_retry_position_ = 0;
  // "old" (hidden once soft deleted) and "keep", interleaved over several segments.
  void Fill(int rounds) {
    for (int i = 0; i < rounds; ++i) {
      AppendOk("old", 2, 100);
      AppendOk("keep", 1, 100);
    }
  }
  // The whole log: "old"'s events markers (when `scavenged`), "keep"'s as appended.
  void ExpectLog(int rounds, bool scavenged) {
    const auto log = WholeLogOf(*store_);
    ASSERT_EQ(log.size(), static_cast<size_t>(rounds * 3));
    for (size_t i = 0; i < log.size(); ++i) {
      ASSERT_EQ(log[i].position, static_cast<int64_t>(i) + 1);
      if (log[i].stream_id == "old" && scavenged) {
        EXPECT_EQ(log[i].type, kScavengedEventType) << log[i].position;
        EXPECT_EQ(log[i].data, "{}");
        EXPECT_EQ(log[i].metadata, "{}");
      } else {
        EXPECT_EQ(log[i].type, "Noted") << log[i].position;
        EXPECT_NE(log[i].data, "{}");
      }
    }
    auto keep = store_->ReadStream("keep", {});
    ASSERT_TRUE(keep.ok()) << keep.error().message;
    ASSERT_EQ(keep->events.size(), static_cast<size_t>(rounds));
    for (size_t i = 0; i < keep->events.size(); ++i) {
      EXPECT_EQ(keep->events[i].version, static_cast<int64_t>(i) + 1);
    }
  }
};

TEST_F(LogScavengeTest, SealedSegmentsAreRewrittenAtTheirUsedSizeAndReopenWithAndWithoutIndex) {
  Fill(59);  // several segments
  AppendOk("old", 2, 100);
  retry_ = LogEvents(1, 100);
  auto first = store_->Append("keep", ExpectedVersion::Exact(59), retry_);
  ASSERT_TRUE(first.ok());
  first_retry_position_ = first->first_position;
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  const auto before = WholeLogOf(*store_);
  std::vector<ScavengeProgress> progress;
  ScavengeOptions options;
  options.progress = [&](const ScavengeProgress& p) { progress.push_back(p); };
  auto report = store_->Scavenge(options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 120);
  EXPECT_EQ(report->streams_examined, 1);
  EXPECT_TRUE(report->file_shrinks);
  EXPECT_LT(report->file_bytes_after, report->file_bytes_before);
  ASSERT_GE(progress.size(), 3u);  // a callback per segment rewritten, and one at the end
  EXPECT_EQ(progress.back().events_scavenged, 120);
  // Every segment that held "old" is a version 2 copy of its used size.
  for (int n = 1; std::filesystem::exists(Segment(n + 1)); ++n) {
    EXPECT_EQ(HeaderVersion(Segment(n)), 2u);
    EXPECT_LT(std::filesystem::file_size(Segment(n)), segment_bytes_) << n;
  }
  ExpectLog(60, true);
  const auto after = WholeLogOf(*store_);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].version, before[i].version);
    EXPECT_EQ(after[i].recorded_at_us, before[i].recorded_at_us);
  }
  // Appends and retries (which read ids back through the moved index) go on.
  const auto retried = store_->Append("keep", ExpectedVersion::Exact(59), retry_);
  ASSERT_TRUE(retried.ok()) << retried.error().message;
  EXPECT_EQ(retried->first_position, first_retry_position_);  // the original, not a new write
  EXPECT_EQ(*store_->StreamVersion("keep"), 60);
  AppendOk("keep", 1);
  EXPECT_EQ(*store_->StreamVersion("keep"), 61);
  Close();
  EXPECT_TRUE(std::filesystem::exists(dir_.File("log") + "/INDEX"));
  Reopen();  // from the checkpoint written at close
  {
    const auto log = WholeLogOf(*store_);
    ASSERT_EQ(log.size(), 181u);
    EXPECT_EQ(log[0].type, kScavengedEventType);
  }
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();  // every record checked again
  {
    const auto log = WholeLogOf(*store_);
    ASSERT_EQ(log.size(), 181u);
    for (size_t i = 0; i < log.size(); ++i) {
      EXPECT_EQ(log[i].type == kScavengedEventType, log[i].stream_id == "old");
    }
  }
  // Again: nothing new to reclaim.
  report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 0);
}

TEST_F(LogScavengeTest, AppendsAndReadsGoOnWhileScavenging) {
  Fill(40);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  std::atomic<bool> done{false};
  std::atomic<int> appended{0}, reads{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; !done || i < 50; ++i) {
      auto r = store_->Append("live", ExpectedVersion::Exact(i), LogEvents(1, 50));
      ASSERT_TRUE(r.ok()) << r.error().message;
      ++appended;
    }
  });
  std::atomic<int> readers{2};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      struct Exit {
        std::atomic<int>& readers;
        ~Exit() { --readers; }
      } exit{readers};
      while (!done) {
        // Whatever a read returns is whole: dense positions, each event "old"'s (original or
        // marker) or another stream's as appended.
        int64_t after = 0;
        for (int pages = 0; pages < 1000; ++pages) {
          auto page = store_->ReadLog(after, 37);
          ASSERT_TRUE(page.ok()) << page.error().message;
          if (page->events.empty()) break;
          for (const RecordedEvent& e : page->events) {
            ASSERT_EQ(e.position, after + 1);
            after = e.position;
            if (e.type == kScavengedEventType) {
              ASSERT_EQ(e.stream_id, "old");
              ASSERT_EQ(e.data, "{}");
            } else {
              ASSERT_EQ(e.type, "Noted");
              ASSERT_TRUE(LogContains(e.data, "pad"));
            }
          }
        }
        auto keep = store_->ReadStream("keep", {});
        ASSERT_TRUE(keep.ok()) << keep.error().message;
        ASSERT_EQ(keep->events.size(), 40u);
        for (size_t i = 0; i < keep->events.size(); ++i) {
          ASSERT_EQ(keep->events[i].version, static_cast<int64_t>(i) + 1);
          ASSERT_EQ(keep->events[i].type, "Noted");
        }
        ++reads;
      }
    });
  }
  int64_t scavenged = 0;
  for (int round = 0; round < 3; ++round) {
    auto report = store_->Scavenge();
    ASSERT_TRUE(report.ok()) << report.error().message;
    scavenged += report->events_scavenged;
  }
  // At least one more whole pass of each reader after the last swap.
  const int reads_after = reads.load() + 2;
  while (reads.load() < reads_after && readers.load() == 2) std::this_thread::yield();
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(scavenged, 80);
  EXPECT_EQ(*store_->StreamVersion("live"), appended.load());
  const auto log = WholeLogOf(*store_);
  ASSERT_EQ(log.size(), static_cast<size_t>(120 + appended.load()));
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].type == kScavengedEventType, log[i].stream_id == "old");
  }
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();
  EXPECT_EQ(WholeLogOf(*store_).size(), static_cast<size_t>(120 + appended.load()));
}

TEST_F(LogScavengeTest, AFailedFsyncOfTheCopyLeavesTheSegmentAsItWas) {
  Fill(30);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  const std::string segment1 = ReadWholeFile(Segment(1));
  fs_->FailFsyncsOf(".log.scavenge");
  auto report = store_->Scavenge();
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(LogContains(report.error().message, "fsync")) << report.error().message;
  // Nothing changed: the segment, the reads; no copy left behind; the store goes on.
  EXPECT_EQ(ReadWholeFile(Segment(1)), segment1);
  EXPECT_FALSE(std::filesystem::exists(Segment(1) + ".scavenge"));
  ExpectLog(30, false);
  AppendOk("keep", 1);
  // The next scavenge does it.
  report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 60);
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();
  const auto log = WholeLogOf(*store_);
  ASSERT_EQ(log.size(), 91u);
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].type == kScavengedEventType, log[i].stream_id == "old");
  }
}

TEST_F(LogScavengeTest, ACrashBetweenStepsLeavesTheOldOrTheNewSegment) {
  Fill(30);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  Close();
  // A crash after the copy was written, before the rename: the copy is a leftover, removed at
  // open, and the old segment is the log.
  WriteWholeFile(Segment(1) + ".scavenge", ReadWholeFile(Segment(1)).substr(0, 300));
  Reopen();
  EXPECT_FALSE(std::filesystem::exists(Segment(1) + ".scavenge"));
  ExpectLog(30, false);
  // A crash after the rename, before the store closed: the checkpoint was removed before the
  // first swap, so the next open scans the rewritten segments.
  auto report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("log") + "/INDEX"));
  const std::string folder = dir_.File("log");
  const std::string copy = dir_.File("crashed");
  std::filesystem::copy(folder, copy);  // the files as a crash would leave them
  Close();
  std::filesystem::remove_all(folder);
  std::filesystem::rename(copy, folder);
  std::filesystem::remove(folder + "/LOCK");
  Reopen();
  ExpectLog(30, true);
  // The log goes on after the rewritten segments (the one the seal rolled to was empty, and
  // recovery removed it), and opens again.
  AppendOk("keep", 1);
  Reopen();
  const auto log = WholeLogOf(*store_);
  ASSERT_EQ(log.size(), 91u);
  EXPECT_EQ(log.back().stream_id, "keep");
  EXPECT_EQ(log.back().version, 31);
}

TEST_F(LogScavengeTest, TheVersion1FixtureScavengesOnlyWhereTheChainAllows) {
  Close();
  std::filesystem::remove_all(dir_.File("log"));
  segment_bytes_ = 4096;
  std::filesystem::copy(std::string(EVS_TEST_DATA) + "/log-v1", dir_.File("log"));
  Reopen();
  // Segment 2 fills and the log goes on in version 2 segments.
  for (int k = 0; k < 40; ++k) AppendOk("after", 1, 100);
  const std::string segment1 = ReadWholeFile(Segment(1));
  auto report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  // Segment 1 is followed by a version 1 segment: it stays as it was; segment 2 is followed by
  // a version 2 segment: rewritten.
  EXPECT_EQ(ReadWholeFile(Segment(1)), segment1);
  EXPECT_EQ(HeaderVersion(Segment(1)), 1u);
  EXPECT_EQ(HeaderVersion(Segment(2)), 2u);
  const auto log = WholeLogOf(*store_);
  ASSERT_EQ(log.size(), 88u);
  int markers = 0;
  for (const RecordedEvent& e : log) {
    const bool hidden = e.stream_id == "order-5" || e.stream_id == "order-7" ||
                        (e.stream_id == "order-3" && e.version < 3);
    if (e.type == kScavengedEventType) {
      ++markers;
      EXPECT_TRUE(hidden) << e.stream_id << " " << e.version;
    }
  }
  EXPECT_GT(markers, 0);
  EXPECT_EQ(markers, report->events_scavenged);
  EXPECT_LT(markers, 10);  // the hidden events of segment 1 stay
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();
  EXPECT_EQ(WholeLogOf(*store_).size(), 88u);
  auto order3 = store_->ReadStream("order-3", {});
  ASSERT_TRUE(order3.ok());
  ASSERT_EQ(order3->events.size(), 2u);
  EXPECT_EQ(order3->events[0].version, 3);
}

TEST_F(LogScavengeTest, ReadOnlyViewsBeforeAndAfterAScavengeReadWholeRecords) {
  Fill(40);
  Close();  // INDEX written
  Reopen();
  auto before = OpenLogEventStoreReader(dir_.File("log"));  // from INDEX: every segment open
  ASSERT_TRUE(before.ok()) << before.error().message;
  ASSERT_EQ(WholeLogOf(**before).size(), 120u);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  auto report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 80);
  AppendOk("keep", 1);
  // The view opened before reads its own (old) files, whole; it goes on into new segments.
  auto old_view = WholeLogOf(**before);
  ASSERT_EQ(old_view.size(), 121u);
  for (size_t i = 0; i < old_view.size(); ++i) {
    EXPECT_EQ(old_view[i].position, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(old_view[i].type, "Noted");
  }
  // A view opened now reads the rewritten segments (INDEX is gone: it scans them).
  auto after = OpenLogEventStoreReader(dir_.File("log"));
  ASSERT_TRUE(after.ok()) << after.error().message;
  auto new_view = WholeLogOf(**after);
  ASSERT_EQ(new_view.size(), 121u);
  for (size_t i = 0; i < new_view.size(); ++i) {
    EXPECT_EQ(new_view[i].position, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(new_view[i].type == kScavengedEventType, new_view[i].stream_id == "old");
  }
  auto keep = (*after)->ReadStream("keep", {});
  ASSERT_TRUE(keep.ok()) << keep.error().message;
  EXPECT_EQ(keep->events.size(), 41u);
}

// Power lost after the first segment was swapped in (the progress callback cuts it): what that
// step did is durable, the rest of the log is as it was, and the store opens whole.
TEST_F(LogScavengeTest, APowerLossMidwayKeepsEachSwappedSegmentAndTheRestAsItWas) {
  Fill(40);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  fs_->TrackUnsynced();
  int calls = 0;
  ScavengeOptions options;
  options.progress = [&](const ScavengeProgress&) {
    if (++calls == 1) fs_->PowerLoss();
  };
  auto report = store_->Scavenge(options);
  EXPECT_FALSE(report.ok());  // the next segment's copy cannot be written
  Close();
  fs_->PowerOn();
  Reopen();
  const auto log = WholeLogOf(*store_);
  ASSERT_EQ(log.size(), 120u);
  int markers = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].position, static_cast<int64_t>(i) + 1);
    if (log[i].type == kScavengedEventType) {
      ++markers;
      EXPECT_EQ(log[i].stream_id, "old");
    } else {
      EXPECT_EQ(log[i].type, "Noted");
    }
  }
  EXPECT_GT(markers, 0);   // the first segment's, swapped before the power went
  EXPECT_LT(markers, 80);  // not the others
  EXPECT_EQ(log[0].type, kScavengedEventType);
  auto keep = store_->ReadStream("keep", {});
  ASSERT_TRUE(keep.ok()) << keep.error().message;
  EXPECT_EQ(keep->events.size(), 40u);
  // Scavenging again finishes the work.
  report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 80 - markers);
}

// Sealing the segment being written leaves its preallocated rest unused: when that is much, the
// segment is copied at its used size too, with nothing hidden in it.
TEST_F(LogScavengeTest, TheSegmentItSealsIsGivenBackItsUnusedSpace) {
  Close();
  std::filesystem::remove_all(dir_.File("log"));
  segment_bytes_ = 1 << 20;
  Reopen();
  Fill(10);
  const auto before = WholeLogOf(*store_);
  ASSERT_EQ(std::filesystem::file_size(Segment(1)), segment_bytes_);
  auto report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 0);
  EXPECT_LT(std::filesystem::file_size(Segment(1)), 8192u);
  // The sizes count the segment the writer went on in (preallocated when the seal made it).
  EXPECT_LT(report->file_bytes_after, report->file_bytes_before + 8192);
  ExpectLog(10, false);
  AppendOk("keep", 1);
  Close();
  std::filesystem::remove(dir_.File("log") + "/INDEX");
  Reopen();
  const auto after = WholeLogOf(*store_);
  ASSERT_EQ(after.size(), before.size() + 1);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].data, before[i].data);
  }
  // Nothing more to give back: the segments after it are left alone.
  report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 0);
}

// A LogReader (NewLogReader) keeps its cursor, buffer and resume place between pages: a
// scavenge between two pages moves records, and the next page reads them where they are now.
TEST_F(LogScavengeTest, ALogReaderReadsOnAcrossAScavenge) {
  Fill(40);
  ASSERT_TRUE(store_->DeleteStream("old", DeleteMode::kSoft).ok());
  auto reader = store_->NewLogReader();
  ASSERT_TRUE(reader);
  LogPage page;
  std::vector<RecordedEvent> all;
  ASSERT_TRUE(reader->Read(0, 37, page).ok());
  all.insert(all.end(), page.events.begin(), page.events.end());
  auto report = store_->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  ASSERT_EQ(report->events_scavenged, 80);
  for (int pages = 0; pages < 100 && !page.events.empty(); ++pages) {
    const int64_t after = page.next_position;
    ASSERT_TRUE(reader->Read(after, 37, page).ok());
    all.insert(all.end(), page.events.begin(), page.events.end());
  }
  ASSERT_EQ(all.size(), 120u);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].position, static_cast<int64_t>(i) + 1);
    if (i >= 37) {
      EXPECT_EQ(all[i].type == kScavengedEventType, all[i].stream_id == "old") << i;
    }
    if (all[i].stream_id == "keep") {
      EXPECT_TRUE(LogContains(all[i].data, "pad"));
    }
  }
}

}  // namespace
}  // namespace evs
