// What only the embedded SQLite store does: one process per file, retries beyond the recent-id
// window, an inspectable schema, and clear errors on damaged rows.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "evs/event_store.h"
#include "temp_dir.h"

namespace evs {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<EventStore>> Open(size_t recent_ids = 100000) {
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    options.recent_event_ids = recent_ids;
    return OpenSqliteEventStore(options);
  }

  // Runs SQL on the file directly, as an operator with the sqlite3 shell would.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("events.sqlite").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  testing::TempDir dir_;
};

std::vector<EventData> WithIds(int n) {
  std::vector<EventData> events(n);
  for (auto& e : events) {
    e.id = Uuid::Random();
    e.type = "T";
  }
  return events;
}

TEST_F(SqliteStoreTest, SecondOpenOfTheSameFileIsRefused) {
  auto first = Open();
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = Open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
  first->reset();
  EXPECT_TRUE(Open().ok());
}

TEST_F(SqliteStoreTest, MissingFolderIsAClearError) {
  SqliteStoreOptions options;
  options.path = dir_.File("no/such/folder/events.sqlite");
  auto store = OpenSqliteEventStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kIOError);
  EXPECT_NE(store.error().message.find("no/such/folder"), std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, ExactRetryIsRecognisedOutsideTheRecentWindow) {
  auto store = Open(/*recent_ids=*/0);
  ASSERT_TRUE(store.ok());
  auto events = WithIds(3);
  auto first = (*store)->Append("s", ExpectedVersion::NoStream(), events);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*store)->Append("s", ExpectedVersion::Exact(3), WithIds(1)).ok());
  auto retry = (*store)->Append("s", ExpectedVersion::NoStream(), events);
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_EQ(retry->first_position, first->first_position);
  EXPECT_EQ(retry->last_version, 3);
  auto partial = events;
  partial[2].id = Uuid::Random();
  auto bad = (*store)->Append("s", ExpectedVersion::NoStream(), partial);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kDuplicateEventId);
  EXPECT_EQ(*(*store)->StreamVersion("s"), 4);
}

TEST_F(SqliteStoreTest, SchemaIsPlainSql) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Append("cart-1", ExpectedVersion::Any(), WithIds(2)).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("events.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT position, stream_id, version, event_id, type, data, "
                               "metadata, recorded_at_us FROM stream_events ORDER BY position",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  int rows = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    ++rows;
    EXPECT_EQ(sqlite3_column_int64(stmt, 0), rows);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), "cart-1");
    EXPECT_EQ(sqlite3_column_int64(stmt, 2), rows);
    EXPECT_EQ(sqlite3_column_bytes(stmt, 3), 36);
  }
  EXPECT_EQ(rows, 2);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, DamagedRowIsACorruptionErrorNotACrash) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Append("s", ExpectedVersion::Any(), WithIds(2)).ok());
  }
  Sql("UPDATE events SET event_id = 'garbage' WHERE position = 2");
  auto store = Open(/*recent_ids=*/0);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto page = (*store)->ReadStream("s", {});
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code, ErrorCode::kCorruption);
  EXPECT_NE(page.error().message.find("position 2"), std::string::npos) << page.error().message;
  auto reopened = Open();  // loading recent ids meets the damaged row too
  EXPECT_FALSE(reopened.ok());
}

TEST_F(SqliteStoreTest, ReaderViewSeesWhatTheOwnerCommits) {
  auto owner = Open();
  ASSERT_TRUE(owner.ok());
  ASSERT_TRUE((*owner)->Append("a", ExpectedVersion::Any(), WithIds(5)).ok());
  ASSERT_TRUE((*owner)->Append("b", ExpectedVersion::Any(), WithIds(2)).ok());
  auto reader = OpenSqliteEventStoreReader(dir_.File("events.sqlite"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(*(*reader)->HeadPosition(), 7);
  EXPECT_EQ(*(*reader)->StreamVersion("a"), 5);
  ReadStreamOptions back;
  back.direction = Direction::kBackward;
  back.limit = 2;
  auto page = (*reader)->ReadStream("a", back);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].version, 5);
  EXPECT_EQ(page->events[0].stream_id, "a");
  EXPECT_EQ((*reader)->ReadStream("nope", {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ((*reader)->ListStreams("", 10)->streams.size(), 2u);
  EXPECT_EQ((*reader)->Append("a", ExpectedVersion::Any(), WithIds(1)).error().code,
            ErrorCode::kUnavailable);
  // Woken by the owner's commit, well before the timeout.
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE((*owner)->Append("a", ExpectedVersion::Any(), WithIds(1)).ok());
  });
  const auto start = std::chrono::steady_clock::now();
  auto head = (*reader)->WaitForHead(7, std::chrono::seconds(20));
  later.join();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, 8);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  auto log = (*reader)->ReadLog(6, 10);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->events.size(), 2u);
  EXPECT_EQ(log->events[1].position, 8);
  EXPECT_EQ(OpenSqliteEventStoreReader(dir_.File("missing.sqlite")).error().code,
            ErrorCode::kNotFound);
}

TEST_F(SqliteStoreTest, NotADatabaseIsACorruptionError) {
  {
    FILE* f = fopen(dir_.File("events.sqlite").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("this is not a database, but it is long enough to look like a header of one.......", f);
    fclose(f);
  }
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption) << store.error().message;
}

}  // namespace
}  // namespace evs
