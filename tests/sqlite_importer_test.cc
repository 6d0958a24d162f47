// The bulk importer (the archive's restore path): what it writes opens as an ordinary embedded
// store with every field kept, and bad input or an abandoned import leaves nothing behind.
#include "store/sqlite_importer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "evs/event_store.h"
#include "import_history.h"
#include "temp_dir.h"

namespace evs {
namespace {

using store::SqliteImporter;

EventData Data(std::string type) {
  EventData e;
  e.id = Uuid::Random();
  e.type = std::move(type);
  return e;
}

class SqliteImporterTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.File("events.sqlite"); }

  std::unique_ptr<SqliteImporter> MustCreate() {
    auto importer = SqliteImporter::Create(Path());
    EXPECT_TRUE(importer.ok()) << importer.error().message;
    return importer.ok() ? std::move(importer).value() : nullptr;
  }

  Result<std::unique_ptr<EventStore>> OpenStore() {
    SqliteStoreOptions options;
    options.path = Path();
    return OpenSqliteEventStore(options);
  }

  // The files in the test's folder, by name.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Adds `events` to a new import and returns the error of the last Add.
  Error AddError(std::vector<RecordedEvent> events) {
    auto importer = MustCreate();
    if (!importer) return Error::Make(ErrorCode::kUnsupported, "no importer");
    auto s = importer->Add(events);
    EXPECT_FALSE(s.ok()) << "the import should have refused these events";
    return s.ok() ? Error::Make(ErrorCode::kUnsupported, "accepted") : s.error();
  }

  testing::TempDir dir_;
};

TEST_F(SqliteImporterTest, ImportedStoreOpensWithEveryFieldKept) {
  const std::vector<RecordedEvent> history = History(1000, 13);
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    // In uneven slices, as a restore adds segment after segment.
    std::span<const RecordedEvent> rest(history);
    for (size_t slice = 1; !rest.empty(); slice = slice * 3 + 1) {
      const size_t n = std::min(slice, rest.size());
      ASSERT_TRUE(importer->Add(rest.first(n)).ok());
      rest = rest.subspan(n);
    }
    ASSERT_FALSE(std::filesystem::exists(Path())) << "the store appears only when finished";
    auto finished = importer->Finish();
    ASSERT_TRUE(finished.ok()) << finished.error().message;
  }
  EXPECT_EQ(Files(), std::vector<std::string>{"events.sqlite"});

  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), 1000);

  // The whole log, in pages.
  std::vector<RecordedEvent> log;
  for (int64_t after = 0;;) {
    auto page = (*store)->ReadLog(after, 128);
    ASSERT_TRUE(page.ok()) << page.error().message;
    if (page->events.empty()) break;
    log.insert(log.end(), page->events.begin(), page->events.end());
    after = page->next_position;
  }
  ASSERT_EQ(log.size(), history.size());
  for (size_t i = 0; i < log.size(); ++i) ExpectSame(log[i], history[i]);

  // Each stream, forward.
  std::map<std::string, std::vector<const RecordedEvent*>> by_stream;
  for (const auto& e : history) by_stream[e.stream_id].push_back(&e);
  ASSERT_EQ(by_stream.size(), 13u);
  for (const auto& [stream, want] : by_stream) {
    ReadStreamOptions options;
    options.limit = 10000;
    auto page = (*store)->ReadStream(stream, options);
    ASSERT_TRUE(page.ok()) << page.error().message;
    EXPECT_EQ(page->stream_version, static_cast<int64_t>(want.size()));
    ASSERT_EQ(page->events.size(), want.size()) << stream;
    for (size_t i = 0; i < want.size(); ++i) ExpectSame(page->events[i], *want[i]);
    EXPECT_EQ(*(*store)->StreamVersion(stream), static_cast<int64_t>(want.size()));
  }
  auto streams = (*store)->ListStreams("", 100);
  ASSERT_TRUE(streams.ok());
  EXPECT_EQ(streams->streams.size(), 13u);

  // The store's heads came from the imported file: appends continue where the import ended,
  // a new stream included, and retries of imported events are recognised.
  std::vector<EventData> next = {Data("After"), Data("After")};
  const std::string& stream = history.back().stream_id;
  const int64_t version = static_cast<int64_t>(by_stream[stream].size());
  auto appended = (*store)->Append(stream, ExpectedVersion::Exact(version), next);
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(appended->first_position, 1001);
  EXPECT_EQ(appended->first_version, version + 1);
  auto conflict = (*store)->Append(stream, ExpectedVersion::Exact(version), {Data("After")});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kWrongExpectedVersion);
  auto fresh = (*store)->Append("new-stream", ExpectedVersion::NoStream(), {Data("After")});
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  EXPECT_EQ(fresh->first_position, 1003);
  EXPECT_EQ(fresh->first_version, 1);
  EventData again;
  again.id = history.back().id;
  again.type = history.back().type;
  again.data = history.back().data;
  again.metadata = history.back().metadata;
  auto retry =
      (*store)->Append(stream, ExpectedVersion::Exact(history.back().version - 1), {again});
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_EQ(retry->first_position, 1000);
  EXPECT_EQ(*(*store)->HeadPosition(), 1003);
}

TEST_F(SqliteImporterTest, LargeImportSpansSeveralTransactions) {
  constexpr int kEvents = 250'000;  // the importer commits every 100,000
  std::vector<int64_t> versions(1000);
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    std::vector<RecordedEvent> slice;
    for (int i = 0; i < kEvents; ++i) {
      const int stream = i * 7919 % 1000;
      slice.push_back(Recorded("s-" + std::to_string(stream), ++versions[stream], i + 1));
      if (slice.size() == 7000 || i + 1 == kEvents) {
        ASSERT_TRUE(importer->Add(slice).ok());
        slice.clear();
      }
    }
    ASSERT_TRUE(importer->Finish().ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), kEvents);
  for (int stream : {0, 499, 999}) {
    EXPECT_EQ(*(*store)->StreamVersion("s-" + std::to_string(stream)), versions[stream]);
  }
  auto page = (*store)->ReadLog(kEvents - 2, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[1].position, kEvents);
  EXPECT_EQ(page->events[1].recorded_at_us, 1'700'000'000'000'000 + kEvents);
}

TEST_F(SqliteImporterTest, ImportedFileIsLikeOneTheStoreWrote) {
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    ASSERT_TRUE(importer->Add(History(10, 3)).ok());
    ASSERT_TRUE(importer->Finish().ok());
  }
  {
    SqliteStoreOptions options;
    options.path = dir_.File("written.sqlite");
    auto written = OpenSqliteEventStore(options);
    ASSERT_TRUE(written.ok()) << written.error().message;
    ASSERT_TRUE((*written)->Append("s", ExpectedVersion::Any(), {Data("After")}).ok());
  }
  auto describe = [](const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::string out;
    for (const char* sql :
         {"PRAGMA journal_mode", "PRAGMA page_size", "PRAGMA auto_vacuum", "PRAGMA encoding",
          "SELECT type, name, sql FROM sqlite_master", "SELECT key, value FROM evs_meta"}) {
      sqlite3_stmt* stmt = nullptr;
      EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sql;
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
          const auto* text = sqlite3_column_text(stmt, c);
          out += text ? reinterpret_cast<const char*>(text) : "NULL";
          out += '|';
        }
        out += '\n';
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return out;
  };
  const std::string imported = describe(Path());
  EXPECT_NE(imported.find("wal|"), std::string::npos) << imported;
  EXPECT_NE(imported.find("format_version|1|"), std::string::npos) << imported;
  EXPECT_EQ(imported, describe(dir_.File("written.sqlite")));
}

TEST_F(SqliteImporterTest, EmptyImportIsAnEmptyStore) {
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    ASSERT_TRUE(importer->Add({}).ok());
    ASSERT_TRUE(importer->Finish().ok());
    EXPECT_FALSE(importer->Add({}).ok()) << "a finished import takes nothing more";
    EXPECT_FALSE(importer->Finish().ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), 0);
  auto r = (*store)->Append("s", ExpectedVersion::NoStream(), {Data("After")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->first_position, 1);
}

TEST_F(SqliteImporterTest, ImportNeverOverwrites) {
  std::ofstream(Path()) << "something precious";
  auto importer = SqliteImporter::Create(Path());
  ASSERT_FALSE(importer.ok());
  EXPECT_EQ(importer.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(importer.error().message.find(Path()), std::string::npos) << importer.error().message;
  std::filesystem::remove(Path());

  // Something that appears at the path during the import stays, and the import fails.
  auto late = MustCreate();
  ASSERT_NE(late, nullptr);
  ASSERT_TRUE(late->Add(std::vector{Recorded("s", 1, 1)}).ok());
  std::ofstream(Path()) << "arrived meanwhile";
  auto finished = late->Finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code, ErrorCode::kInvalidArgument);
  late.reset();
  std::ifstream in(Path());
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "arrived meanwhile");
  EXPECT_EQ(Files(), std::vector<std::string>{"events.sqlite"});
}

TEST_F(SqliteImporterTest, LeftoverImportIsReplaced) {
  for (const char* suffix : {".importing", ".importing-wal", ".importing-journal"}) {
    std::ofstream(Path() + suffix) << "left by a crashed import";
  }
  auto importer = MustCreate();
  ASSERT_NE(importer, nullptr);
  ASSERT_TRUE(importer->Add(std::vector{Recorded("s", 1, 1)}).ok());
  ASSERT_TRUE(importer->Finish().ok());
  importer.reset();
  EXPECT_EQ(Files(), std::vector<std::string>{"events.sqlite"});
  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), 1);
}

TEST_F(SqliteImporterTest, MissingFolderIsAnIOError) {
  auto importer = SqliteImporter::Create(dir_.File("no/such/folder/events.sqlite"));
  ASSERT_FALSE(importer.ok());
  EXPECT_EQ(importer.error().code, ErrorCode::kIOError);
  EXPECT_NE(importer.error().message.find("no/such/folder"), std::string::npos)
      << importer.error().message;
}

TEST_F(SqliteImporterTest, FirstPositionMustBeOne) {
  Error e = AddError({Recorded("s", 1, 2)});
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("position 1"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("2"), std::string::npos) << e.message;
}

TEST_F(SqliteImporterTest, PositionGapIsRefused) {
  Error e = AddError({Recorded("s", 1, 1), Recorded("s", 2, 2), Recorded("s", 3, 4)});
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("position 4"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("position 2"), std::string::npos) << e.message;
}

TEST_F(SqliteImporterTest, RepeatedPositionIsRefused) {
  auto importer = MustCreate();
  ASSERT_NE(importer, nullptr);
  ASSERT_TRUE(importer->Add(std::vector{Recorded("s", 1, 1), Recorded("s", 2, 2)}).ok());
  auto s = importer->Add(std::vector{Recorded("s", 3, 2)});  // the next segment overlaps
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("position 2"), std::string::npos) << s.error().message;
}

TEST_F(SqliteImporterTest, WhatTheStoreWouldRefuseIsRefused) {
  struct Case {
    const char* name;
    std::function<void(RecordedEvent&)> damage;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"time going back", [](RecordedEvent& e) { e.recorded_at_us = 1; }, "recorded before"},
      {"data not JSON", [](RecordedEvent& e) { e.data = "{nope"; }, "not JSON"},
      {"metadata not JSON", [](RecordedEvent& e) { e.metadata = ""; }, "not JSON"},
      {"empty type", [](RecordedEvent& e) { e.type.clear(); }, "event type"},
      {"stream id with a control character", [](RecordedEvent& e) { e.stream_id = "a\x01"; },
       "stream id"},
      {"stream id not UTF-8", [](RecordedEvent& e) { e.stream_id = "a\xff"; }, "stream id"},
  };
  for (const Case& c : cases) {
    testing::TempDir dir;
    auto importer = SqliteImporter::Create(dir.File("events.sqlite"));
    ASSERT_TRUE(importer.ok());
    std::vector<RecordedEvent> events = {Recorded("s", 1, 1), Recorded("t", 1, 2)};
    c.damage(events[1]);
    Status added = (*importer)->Add(events);
    ASSERT_FALSE(added.ok()) << c.name;
    EXPECT_NE(added.error().message.find(c.message), std::string::npos)
        << c.name << ": " << added.error().message;
    EXPECT_NE(added.error().message.find("position 2"), std::string::npos) << c.name;
  }
}

TEST_F(SqliteImporterTest, OneImportIntoAPathAtATime) {
  auto first = SqliteImporter::Create(dir_.File("events.sqlite"));
  ASSERT_TRUE(first.ok());
  auto second = SqliteImporter::Create(dir_.File("events.sqlite"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  first->reset();
  EXPECT_TRUE(SqliteImporter::Create(dir_.File("events.sqlite")).ok());
}

TEST_F(SqliteImporterTest, VersionGapIsRefused) {
  Error e = AddError({Recorded("a", 1, 1), Recorded("b", 1, 2), Recorded("a", 3, 3)});
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("position 3"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("'a'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("version 3"), std::string::npos) << e.message;
}

TEST_F(SqliteImporterTest, StreamMustStartAtVersionOne) {
  Error e = AddError({Recorded("a", 1, 1), Recorded("b", 2, 2)});
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("'b'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("version 2"), std::string::npos) << e.message;
}

TEST_F(SqliteImporterTest, EmptyStreamIdIsRefused) {
  Error e = AddError({Recorded("a", 1, 1), Recorded("", 1, 2)});
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("position 2"), std::string::npos) << e.message;
}

TEST_F(SqliteImporterTest, NothingIsTakenAfterAnError) {
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    ASSERT_TRUE(importer->Add(std::vector{Recorded("s", 1, 1)}).ok());
    ASSERT_FALSE(importer->Add(std::vector{Recorded("s", 3, 2)}).ok());
    // Even events that would have been fine: the import is done for.
    auto after = importer->Add(std::vector{Recorded("s", 2, 2)});
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(after.error().message.find("version 3"), std::string::npos)
        << "says what failed first: " << after.error().message;
    auto finished = importer->Finish();
    ASSERT_FALSE(finished.ok());
    EXPECT_EQ(finished.error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(std::filesystem::exists(Path()));
  }
  EXPECT_TRUE(Files().empty()) << Files().front();
}

TEST_F(SqliteImporterTest, AbandonedImportLeavesNoFiles) {
  {
    auto importer = MustCreate();
    ASSERT_NE(importer, nullptr);
    ASSERT_TRUE(importer->Add(History(500, 5)).ok());
    EXPECT_TRUE(std::filesystem::exists(Path() + ".importing"));
  }
  EXPECT_FALSE(std::filesystem::exists(Path()));
  EXPECT_FALSE(std::filesystem::exists(Path() + ".importing"));
  EXPECT_TRUE(Files().empty()) << Files().front();
  // The path is free for the next attempt.
  auto importer = MustCreate();
  ASSERT_NE(importer, nullptr);
  ASSERT_TRUE(importer->Add(History(5, 2)).ok());
  ASSERT_TRUE(importer->Finish().ok());
}

}  // namespace
}  // namespace evs
