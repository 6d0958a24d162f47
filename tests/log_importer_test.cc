// The log engine's bulk importer (restore into the log engine, evs migrate) and the migration
// of a store into the log engine: what they write opens as an ordinary log store with every
// field, lifecycle and commit kept, appends go on after it, and bad input or an abandoned import
// leaves nothing behind.
#include "store/log/log_importer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cart/cart.h"
#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "evs/object_store.h"
#include "evs/repository.h"
#include "import_history.h"
#include "store/log/log_migration.h"
#include "temp_dir.h"

namespace evs {
namespace {

using store::log::LogImporter;

EventData Data(std::string type) {
  EventData e;
  e.id = Uuid::Random();
  e.type = std::move(type);
  return e;
}

std::vector<std::string> SortedFiles(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class LogImporterTest : public ::testing::Test {
 protected:
  std::string Folder() const { return dir_.File("log"); }

  std::unique_ptr<LogImporter> MustCreate(uint64_t segment_bytes = uint64_t{64} << 20) {
    auto importer = LogImporter::Create(Folder(), segment_bytes);
    EXPECT_TRUE(importer.ok()) << importer.error().message;
    return importer.ok() ? std::move(importer).value() : nullptr;
  }

  Result<std::unique_ptr<EventStore>> Open(uint64_t segment_bytes = uint64_t{64} << 20) {
    LogStoreOptions options;
    options.folder = Folder();
    options.segment_bytes = segment_bytes;
    return OpenLogEventStore(options);
  }

  static std::vector<RecordedEvent> ReadAll(EventStore& store) {
    auto page = store.ReadLog(0, 1'000'000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? page->events : std::vector<RecordedEvent>{};
  }

  testing::TempDir dir_;
};

TEST_F(LogImporterTest, ImportedEventsReadBackExactlyAndAppendsGoOn) {
  const std::vector<RecordedEvent> history = History(1000, 13);
  {
    auto importer = MustCreate();
    ASSERT_TRUE(importer);
    // In uneven slices, as a replay hands them over.
    for (size_t at = 0; at < history.size(); at += 77) {
      std::span<const RecordedEvent> slice(history.data() + at,
                                           std::min<size_t>(77, history.size() - at));
      ASSERT_TRUE(importer->Add(slice).ok());
    }
    EXPECT_FALSE(std::filesystem::exists(Folder())) << "the store appears only when finished";
    ASSERT_TRUE(importer->Finish().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(Folder() + ".importing"));
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto events = ReadAll(**store);
  ASSERT_EQ(events.size(), history.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], history[i]);
  auto stream = (*store)->ReadStream("cart-5", {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_GT(stream->events.size(), 70u);
  for (const RecordedEvent& e : stream->events) ExpectSame(e, history[e.position - 1]);

  // The store goes on where the import ended, with the imported versions and ids.
  auto appended = (*store)->Append("cart-5", ExpectedVersion::Exact(stream->stream_version),
                                   std::vector{Data("Next")});
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(appended->first_position, 1001);
  EXPECT_EQ(appended->first_version, stream->stream_version + 1);
  EXPECT_EQ((*store)
                ->Append("cart-5", ExpectedVersion::Exact(stream->stream_version),
                         std::vector{Data("Stale")})
                .error()
                .code,
            ErrorCode::kWrongExpectedVersion);
  // A retry of an imported append is recognised by its event id.
  EventData again = Data(history[0].type);
  again.id = history[0].id;
  again.data = history[0].data;
  again.metadata = history[0].metadata;
  auto retried =
      (*store)->Append(history[0].stream_id, ExpectedVersion::NoStream(), std::vector{again});
  ASSERT_TRUE(retried.ok()) << retried.error().message;
  EXPECT_EQ(retried->first_position, 1);
  store->reset();
  store = Open();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), 1001);
}

TEST_F(LogImporterTest, EventsOfOneCommitBecomeOneRecordAndSpanManySegments) {
  // Small segments: the import rolls over as the writer does, and what it wrote opens and takes
  // appends in its last segment.
  constexpr uint64_t kSegment = 4096;
  std::vector<RecordedEvent> history;
  for (int64_t i = 1; i <= 600; ++i) {
    // Runs of three events of a stream at one time: one commit each.
    RecordedEvent e = Recorded("s-" + std::to_string((i - 1) / 3 % 5), 0, i);
    e.recorded_at_us = 1'700'000'000'000'000 + (i - 1) / 3;
    history.push_back(e);
  }
  std::map<std::string, int64_t> versions;
  for (auto& e : history) e.version = ++versions[e.stream_id];
  {
    auto importer = MustCreate(kSegment);
    ASSERT_TRUE(importer);
    ASSERT_TRUE(importer->Add(history).ok());
    ASSERT_TRUE(importer->Finish().ok());
  }
  const auto files = SortedFiles(Folder());
  EXPECT_GT(std::count_if(files.begin(), files.end(),
                          [](const std::string& f) { return f.ends_with(".log"); }),
            5);
  auto store = Open(kSegment);
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto events = ReadAll(**store);
  ASSERT_EQ(events.size(), history.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], history[i]);
  // A stream read from the middle of a commit starts where it was asked to.
  auto middle = (*store)->ReadStream("s-0", {.from = 2, .limit = 2});
  ASSERT_TRUE(middle.ok());
  ASSERT_EQ(middle->events.size(), 2u);
  EXPECT_EQ(middle->events[0].position, 2);
  EXPECT_EQ(middle->events[1].position, 3);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*store)->Append("s-1", ExpectedVersion::Any(), std::vector{Data("More")}).ok());
  }
  store->reset();
  store = Open(kSegment);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), 650);
}

TEST_F(LogImporterTest, LifecyclesAreKeptAsTheyWere) {
  std::vector<RecordedEvent> history;
  for (int64_t i = 1; i <= 9; ++i) history.push_back(Recorded("s-" + std::to_string(i % 3), 0, i));
  std::map<std::string, int64_t> versions;
  for (auto& e : history) e.version = ++versions[e.stream_id];
  {
    auto importer = MustCreate();
    ASSERT_TRUE(importer);
    ASSERT_TRUE(importer->Add(history).ok());
    StreamLifecycle kept;
    kept.version = 3;
    kept.metadata.max_count = 2;
    kept.metadata.custom = R"({"owner":"x"})";
    ASSERT_TRUE(importer->SetLifecycle("s-0", kept).ok());
    StreamLifecycle soft;
    soft.version = 3;
    soft.deleted_through = 2;  // deleted at version 2, appended to since
    ASSERT_TRUE(importer->SetLifecycle("s-1", soft).ok());
    StreamLifecycle hard;
    hard.version = 3;
    hard.hard_deleted = true;
    ASSERT_TRUE(importer->SetLifecycle("s-2", hard).ok());
    StreamLifecycle only_metadata;
    only_metadata.metadata.max_age_seconds = 60;
    ASSERT_TRUE(importer->SetLifecycle("empty", only_metadata).ok());
    // A lifecycle with nothing set records nothing (s-0 keeps its metadata). A version the
    // import does not have is refused before anything is written.
    ASSERT_TRUE(importer->SetLifecycle("s-0", StreamLifecycle{.metadata = {}, .version = 3}).ok());
    StreamLifecycle wrong;
    wrong.version = 2;
    wrong.hard_deleted = true;
    EXPECT_EQ(importer->SetLifecycle("s-0", wrong).error().code, ErrorCode::kInvalidArgument);
    ASSERT_TRUE(importer->Finish().ok());
  }
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto kept = (*store)->ReadStream("s-0", {});
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->events.size(), 2u);  // max_count 2
  EXPECT_EQ(kept->events[0].version, 2);
  EXPECT_EQ((*store)->GetStreamLifecycle("s-0")->metadata.custom, R"({"owner":"x"})");
  auto soft = (*store)->ReadStream("s-1", {});
  ASSERT_TRUE(soft.ok());
  ASSERT_EQ(soft->events.size(), 1u);  // only what was appended after the delete
  EXPECT_EQ(soft->events[0].version, 3);
  EXPECT_EQ((*store)->ReadStream("s-2", {}).error().code, ErrorCode::kStreamDeleted);
  EXPECT_EQ((*store)->Append("s-2", ExpectedVersion::Any(), std::vector{Data("X")}).error().code,
            ErrorCode::kStreamDeleted);
  EXPECT_EQ((*store)->GetStreamLifecycle("empty")->metadata.max_age_seconds, 60);
  EXPECT_EQ(*(*store)->HeadPosition(), 9);
}

TEST_F(LogImporterTest, BadInputIsRefusedAndAnAbandonedImportLeavesNothing) {
  {
    auto importer = MustCreate();
    ASSERT_TRUE(importer);
    auto s = importer->Add(std::vector{Recorded("s", 1, 2)});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("must start at position 1"), std::string::npos);
    EXPECT_EQ(importer->Finish().error().code, ErrorCode::kUnavailable);
  }
  {
    auto importer = MustCreate();
    ASSERT_TRUE(importer);
    auto s = importer->Add(std::vector{Recorded("s", 1, 1), Recorded("s", 3, 2)});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("whose next version is 2"), std::string::npos)
        << s.error().message;
    auto importer2 = LogImporter::Create(Folder());
    EXPECT_EQ(importer2.error().code, ErrorCode::kUnavailable) << "one import at a time";
  }
  {
    auto importer = MustCreate();
    ASSERT_TRUE(importer);
    ASSERT_TRUE(importer->Add(History(100, 3)).ok());
    // Abandoned: the destructor removes the temporary folder.
  }
  EXPECT_FALSE(std::filesystem::exists(Folder()));
  EXPECT_FALSE(std::filesystem::exists(Folder() + ".importing"));
  // An existing folder is never overwritten.
  std::filesystem::create_directory(Folder());
  auto refused = LogImporter::Create(Folder());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

// --- migration ---

class LogMigrationTest : public LogImporterTest {
 protected:
  Result<std::unique_ptr<EventStore>> OpenSqlite() {
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    return OpenSqliteEventStore(options);
  }
};

TEST_F(LogMigrationTest, ASqliteStoreMovesWithItsCommitsLifecyclesAndScavengedMarkers) {
  auto sqlite = OpenSqlite();
  ASSERT_TRUE(sqlite.ok()) << sqlite.error().message;
  EventStore& source = **sqlite;
  for (int i = 0; i < 40; ++i) {
    const std::string stream = "s-" + std::to_string(i % 4);
    ASSERT_TRUE(
        source.Append(stream, ExpectedVersion::Any(), std::vector{Data("A"), Data("B"), Data("C")})
            .ok());
  }
  StreamMetadata truncated;
  truncated.truncate_before = 20;
  ASSERT_TRUE(source.SetStreamMetadata("s-0", truncated).ok());
  ASSERT_TRUE(source.DeleteStream("s-1", DeleteMode::kSoft).ok());
  ASSERT_TRUE(source.Append("s-1", ExpectedVersion::Any(), std::vector{Data("Again")}).ok());
  ASSERT_TRUE(source.DeleteStream("s-2", DeleteMode::kHard).ok());
  StreamMetadata only;
  only.custom = R"({"note":"no events yet"})";
  ASSERT_TRUE(source.SetStreamMetadata("later", only).ok());
  auto scavenged = source.Scavenge();
  ASSERT_TRUE(scavenged.ok()) << scavenged.error().message;
  ASSERT_GT(scavenged->events_scavenged, 0);

  std::vector<std::string> steps;
  const auto theirs = ReadAll(source);
  sqlite->reset();  // the migration takes the store's lock
  auto report = store::log::MigrateSqliteIntoLog(
      dir_.File("events.sqlite"), Folder(), uint64_t{1} << 20,
      [&](const char* step, int64_t, int64_t) { steps.push_back(step); });
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events, 121);
  EXPECT_EQ(report->last_position, 121);
  EXPECT_EQ(report->streams, 5);
  EXPECT_EQ(report->lifecycles, 4);
  EXPECT_NE(std::find(steps.begin(), steps.end(), "check"), steps.end());

  auto log = Open(uint64_t{1} << 20);
  ASSERT_TRUE(log.ok()) << log.error().message;
  sqlite = OpenSqlite();
  ASSERT_TRUE(sqlite.ok()) << sqlite.error().message;
  EventStore& source_again = **sqlite;
  const auto ours = ReadAll(**log);
  ASSERT_EQ(ours.size(), theirs.size());
  int markers = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    ExpectSame(ours[i], theirs[i]);
    markers += ours[i].type == kScavengedEventType;
  }
  EXPECT_EQ(markers, scavenged->events_scavenged);
  for (const char* stream : {"s-0", "s-1", "s-3"}) {
    auto a = source_again.ReadStream(stream, {});
    auto b = (*log)->ReadStream(stream, {});
    ASSERT_TRUE(a.ok() && b.ok()) << stream;
    ASSERT_EQ(a->events.size(), b->events.size()) << stream;
    for (size_t i = 0; i < a->events.size(); ++i) ExpectSame(b->events[i], a->events[i]);
  }
  EXPECT_EQ((*log)->ReadStream("s-2", {}).error().code, ErrorCode::kStreamDeleted);
  EXPECT_EQ((*log)->GetStreamLifecycle("later")->metadata.custom, only.custom);
  // Commits kept: the three events of an append are one commit in the log too.
  auto first = (*log)->ReadStream("s-3", {.limit = 3});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->events[0].recorded_at_us, first->events[2].recorded_at_us);

  // A second migration into the same folder is refused; the source never changed.
  sqlite->reset();
  log->reset();
  auto again = store::log::MigrateSqliteIntoLog(dir_.File("events.sqlite"), Folder(),
                                                uint64_t{1} << 20, nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
  sqlite = OpenSqlite();
  ASSERT_TRUE(sqlite.ok()) << sqlite.error().message;
  EXPECT_EQ(*(*sqlite)->HeadPosition(), 121);
  EXPECT_EQ(ReadAll(**sqlite).size(), theirs.size());
}

// tests/data/wave1: a data folder of the first release, migrated to the log engine and restored
// into it from its archive, reads the same carts.
class PreviousReleaseIntoLogTest : public LogImporterTest {
 protected:
  void SetUp() override {
    std::filesystem::copy(std::string(EVS_TEST_DATA) + "/wave1", dir_.File("wave1"),
                          std::filesystem::copy_options::recursive);
    std::ifstream in(dir_.File("wave1/expected.json"));
    expected_ = nlohmann::json::parse(in);
  }

  // The first `carts` carts of expected.json read the same from `store`.
  void ExpectCarts(EventStore& store, size_t carts) {
    RepositoryOptions options;
    options.upcaster = cart::CartUpcaster();
    Repository<cart::Cart> repo(store, options);
    for (size_t i = 0; i < carts; ++i) {
      const auto& expected = expected_["carts"][i];
      auto cart = repo.Fetch(expected["cart_id"]);
      ASSERT_TRUE(cart.ok()) << cart.error().message;
      const nlohmann::json actual = cart->ToJson();
      for (const auto& [key, value] : expected.items()) EXPECT_EQ(actual[key], value) << key;
    }
  }

  nlohmann::json expected_;
};

TEST_F(PreviousReleaseIntoLogTest, ItsStoreMigratesAndItsArchiveRestores) {
  {
    auto report = store::log::MigrateSqliteIntoLog(dir_.File("wave1/events.sqlite"), Folder(),
                                                   uint64_t{64} << 20, nullptr);
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->events, expected_["head"].get<int64_t>());
  }
  {
    auto log = Open();
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_EQ(*(*log)->HeadPosition(), expected_["head"].get<int64_t>());
    ExpectCarts(**log, expected_["carts"].size());
  }
  DirectoryObjectStoreOptions archive_options;
  archive_options.path = dir_.File("wave1/archive");
  auto objects = OpenDirectoryObjectStore(archive_options);
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  auto archive = ArchiveReader::Open(**objects);
  ASSERT_TRUE(archive.ok()) << archive.error().message;
  ReplayOptions replay;
  auto restored = RestoreLogEventStore(**archive, replay, dir_.File("restored"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  LogStoreOptions options;
  options.folder = dir_.File("restored");
  auto log = OpenLogEventStore(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  // The archive holds the first three carts (positions 1-9); the fourth came after it.
  EXPECT_EQ(*(*log)->HeadPosition(), 9);
  ExpectCarts(**log, 3);
}

}  // namespace
}  // namespace evs
