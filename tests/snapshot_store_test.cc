// The snapshot store contract (evs/snapshot.h), run against every backend, then what only the
// SQLite file has: reopening, damaged rows, a deleted file, several handles on one file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "aws/dynamodb_snapshot_store.h"
#include "aws_test_env.h"
#include "evs/event_store.h"
#include "evs/snapshot.h"
#include "fake_clock.h"
#include "temp_dir.h"

namespace evs {
namespace {

// A fresh, empty snapshot store per test, on the clock the test sets.
class SnapshotStoreFactory {
 public:
  virtual ~SnapshotStoreFactory() = default;
  virtual std::unique_ptr<SnapshotStore> Open() = 0;
  // Whether a store opened again sees what an earlier one saved.
  virtual bool Persistent() const { return true; }
  virtual std::string SkipReason() const { return ""; }
  std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
};

class MemoryFactory final : public SnapshotStoreFactory {
 public:
  std::unique_ptr<SnapshotStore> Open() override { return NewMemorySnapshotStore(clock); }
  bool Persistent() const override { return false; }
};

class SqliteFactory final : public SnapshotStoreFactory {
 public:
  std::unique_ptr<SnapshotStore> Open() override {
    auto store = OpenSqliteSnapshotStore(SnapshotPathFor(dir_.File("events.sqlite")), {clock});
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }

 private:
  testing::TempDir dir_;
};

// A fresh snapshot table on the DynamoDB stand-in per test, deleted at the end. Runs only with
// EVS_TEST_AWS=1 (scripts/standins start DIR; source DIR/env); see aws_test_env.h.
class DynamoDbFactory final : public SnapshotStoreFactory {
 public:
  ~DynamoDbFactory() override {
    if (client_ != nullptr) testing::DeleteTable(*client_, aws::SnapshotTableFor(table_));
  }
  std::unique_ptr<SnapshotStore> Open() override {
    if (client_ == nullptr) client_ = testing::DynamoDbTestClient();
    if (client_ == nullptr) return nullptr;  // DynamoDbTestClient() reported why
    DynamoDbStoreOptions options;
    options.table = table_;
    options.create_table_if_missing = true;
    auto store = aws::NewDynamoDbSnapshotStore(client_, options, clock);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string SkipReason() const override { return testing::AwsTestSkipReason(); }

 private:
  const std::string table_ = testing::UniqueTableName("evs-snap");
  std::shared_ptr<aws::AwsClient> client_;
};

Snapshot Make(std::string stream, int64_t version, std::string state = R"({"n":1})") {
  Snapshot s;
  s.stream_id = std::move(stream);
  s.version = version;
  s.last_event_id = Uuid::Random();
  s.schema_version = 2;
  s.state = std::move(state);
  return s;
}

class SnapshotStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") factory_ = std::make_unique<MemoryFactory>();
    if (GetParam() == "sqlite") factory_ = std::make_unique<SqliteFactory>();
    if (GetParam() == "dynamodb") factory_ = std::make_unique<DynamoDbFactory>();
    if (auto reason = factory_->SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }

  void MustSave(const Snapshot& snapshot) {
    Status s = store_->Save(snapshot);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  std::optional<Snapshot> MustLoad(const std::string& stream) {
    auto loaded = store_->Load(stream);
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    return loaded.ok() ? *loaded : std::nullopt;
  }

  // The stream ids of a List.
  std::vector<std::string> Listed(const std::string& prefix, const std::string& after,
                                  size_t limit) {
    auto listed = store_->List(prefix, after, limit);
    EXPECT_TRUE(listed.ok()) << listed.error().message;
    std::vector<std::string> ids;
    if (listed.ok()) {
      for (const Snapshot& s : *listed) ids.push_back(s.stream_id);
    }
    return ids;
  }

  void ExpectRefused(const Snapshot& snapshot, ErrorCode code, const std::string& said) {
    Status s = store_->Save(snapshot);
    ASSERT_FALSE(s.ok()) << "saved " << snapshot.stream_id << " at " << snapshot.version;
    EXPECT_EQ(s.error().code, code) << s.error().message;
    EXPECT_NE(s.error().message.find(said), std::string::npos) << s.error().message;
  }

  std::unique_ptr<SnapshotStoreFactory> factory_;
  std::unique_ptr<SnapshotStore> store_;
};

TEST_P(SnapshotStoreContract, SavedSnapshotLoadsWithEveryFieldAndTheStoresTime) {
  EXPECT_FALSE(MustLoad("cart-1").has_value());
  Snapshot saved = Make("cart-1", 7, R"({"items":[{"name":"äpfel","quantity":2}],"open":true})");
  saved.taken_at_us = 42;  // the store's clock decides
  factory_->clock->SetWall(1'750'000'000'123'456);
  MustSave(saved);
  std::optional<Snapshot> loaded = MustLoad("cart-1");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->stream_id, "cart-1");
  EXPECT_EQ(loaded->version, 7);
  EXPECT_EQ(loaded->last_event_id, saved.last_event_id);
  EXPECT_EQ(loaded->schema_version, 2);
  EXPECT_EQ(loaded->state, saved.state);
  EXPECT_EQ(loaded->taken_at_us, 1'750'000'000'123'456);
  EXPECT_FALSE(MustLoad("cart-2").has_value());
  EXPECT_FALSE(MustLoad("").has_value());
}

TEST_P(SnapshotStoreContract, NewerVersionIsKeptAndAnOlderOneRefusedSilently) {
  MustSave(Make("s", 5, R"({"v":5})"));
  MustSave(Make("s", 3, R"({"v":3})"));  // no error: an older snapshot is simply not kept
  EXPECT_EQ(MustLoad("s")->state, R"({"v":5})");
  Snapshot again = Make("s", 5, R"({"v":"5 again"})");  // the same version replaces
  again.schema_version = 3;
  MustSave(again);
  EXPECT_EQ(MustLoad("s")->state, R"({"v":"5 again"})");
  EXPECT_EQ(MustLoad("s")->schema_version, 3);
  MustSave(Make("s", 9, R"({"v":9})"));
  EXPECT_EQ(MustLoad("s")->version, 9);
  EXPECT_EQ(MustLoad("s")->state, R"({"v":9})");
}

TEST_P(SnapshotStoreContract, ConcurrentSavesKeepTheHighestVersion) {
  std::vector<int64_t> versions(24);
  std::iota(versions.begin(), versions.end(), 1);
  std::shuffle(versions.begin(), versions.end(), std::mt19937(7));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < versions.size(); i += 4) {
        const int64_t v = versions[i];
        Status s = store_->Save(Make("hot", v, "{\"v\":" + std::to_string(v) + "}"));
        EXPECT_TRUE(s.ok()) << s.error().message;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::optional<Snapshot> kept = MustLoad("hot");
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->version, 24);
  EXPECT_EQ(kept->state, R"({"v":24})");
}

TEST_P(SnapshotStoreContract, ListFiltersByPrefixInStreamIdOrderAndPages) {
  for (const char* id : {"cart-c", "order-1", "cart-a", "car", "cart-b", "cart-", "carts"}) {
    MustSave(Make(id, 1));
  }
  using Ids = std::vector<std::string>;
  EXPECT_EQ(Listed("", "", 100),
            (Ids{"car", "cart-", "cart-a", "cart-b", "cart-c", "carts", "order-1"}));
  EXPECT_EQ(Listed("cart-", "", 100), (Ids{"cart-", "cart-a", "cart-b", "cart-c"}));
  // Pages: each starts after the last stream id of the page before.
  EXPECT_EQ(Listed("cart-", "", 2), (Ids{"cart-", "cart-a"}));
  EXPECT_EQ(Listed("cart-", "cart-a", 2), (Ids{"cart-b", "cart-c"}));
  EXPECT_EQ(Listed("cart-", "cart-c", 2), Ids{});
  EXPECT_EQ(Listed("", "cart-c", 2), (Ids{"carts", "order-1"}));
  // A start before the prefix's range, or past it.
  EXPECT_EQ(Listed("order", "a", 10), Ids{"order-1"});
  EXPECT_EQ(Listed("cart-", "d", 10), Ids{});
  EXPECT_EQ(Listed("none", "", 10), Ids{});
  EXPECT_EQ(Listed("", "", 0), Ids{});
  // Listed snapshots carry their states.
  auto listed = store_->List("order", "", 1);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state, R"({"n":1})");
  EXPECT_EQ((*listed)[0].version, 1);
}

TEST_P(SnapshotStoreContract, DropOneOrEvery) {
  for (const char* id : {"a", "b", "c"}) MustSave(Make(id, 2));
  auto dropped = store_->Drop("b");
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(*dropped, 1);
  EXPECT_FALSE(MustLoad("b").has_value());
  EXPECT_TRUE(MustLoad("a").has_value());
  dropped = store_->Drop("b");
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 0);
  // A dropped snapshot does not hold back an older one saved after it.
  MustSave(Make("b", 1));
  EXPECT_EQ(MustLoad("b")->version, 1);
  dropped = store_->Drop("");
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(*dropped, 3);
  EXPECT_EQ(Listed("", "", 10), std::vector<std::string>{});
  dropped = store_->Drop("");
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 0);
}

TEST_P(SnapshotStoreContract, InvalidSnapshotsAreRefusedNamingTheStream) {
  ExpectRefused(Make("", 1), ErrorCode::kInvalidArgument, "stream id");
  ExpectRefused(Make("bad\xff", 1), ErrorCode::kInvalidArgument, "UTF-8");
  ExpectRefused(Make("s", 0), ErrorCode::kInvalidArgument, "the snapshot of 's' is at version 0");
  ExpectRefused(Make("s", -3), ErrorCode::kInvalidArgument, "version -3");
  for (const char* state : {"", "{", "not json", R"({"a":1} {"b":2})"}) {
    ExpectRefused(Make("s", 1, state), ErrorCode::kInvalidArgument, "snapshot of 's'");
  }
  EXPECT_EQ(Listed("", "", 10), std::vector<std::string>{}) << "nothing was kept";
}

TEST_P(SnapshotStoreContract, StateUpToTheLimitIsKeptAndOverItRefused) {
  // A JSON string of exactly kMaxSnapshotBytes bytes, quotes included.
  const std::string largest = "\"" + std::string(kMaxSnapshotBytes - 2, 'x') + "\"";
  MustSave(Make("big", 1, largest));
  EXPECT_EQ(MustLoad("big")->state, largest);
  const std::string over = "\"" + std::string(kMaxSnapshotBytes - 1, 'x') + "\"";
  ExpectRefused(Make("big", 2, over), ErrorCode::kLimitExceeded,
                "the snapshot of 'big' is " + std::to_string(kMaxSnapshotBytes + 1) +
                    " bytes; the limit is " + std::to_string(kMaxSnapshotBytes));
  EXPECT_EQ(MustLoad("big")->version, 1);
}

TEST_P(SnapshotStoreContract, ReopenedStoreKeepsTheSnapshots) {
  if (!factory_->Persistent()) GTEST_SKIP() << GetParam() << " keeps snapshots in memory";
  MustSave(Make("kept", 4, R"({"kept":true})"));
  store_.reset();
  store_ = factory_->Open();
  ASSERT_NE(store_, nullptr);
  std::optional<Snapshot> loaded = MustLoad("kept");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->version, 4);
  EXPECT_EQ(loaded->state, R"({"kept":true})");
}

INSTANTIATE_TEST_SUITE_P(Backends, SnapshotStoreContract,
                         ::testing::Values(std::string("memory"), std::string("sqlite"),
                                           std::string("dynamodb")),
                         [](const auto& info) { return info.param; });

// --- the SQLite file ------------------------------------------------------------------------

class SqliteSnapshotFile : public ::testing::Test {
 protected:
  std::unique_ptr<SnapshotStore> Open() {
    auto store = OpenSqliteSnapshotStore(path_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Runs `sql` on the file with the sqlite3 C API, as another program would.
  void Write(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string error = message ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << error;
  }

  testing::TempDir dir_;
  const std::string store_path_ = dir_.File("events.sqlite");
  const std::string path_ = SnapshotPathFor(store_path_);
};

TEST_F(SqliteSnapshotFile, LivesBesideTheStore) {
  EXPECT_EQ(SnapshotPathFor("/data/events.sqlite"), "/data/events.sqlite-snapshots");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(path_)) << "created when absent";
}

TEST_F(SqliteSnapshotFile, DamagedRowsAreCorruptionNamingTheStream) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Save(Make("good", 1)).ok());
  const std::string id = Uuid::Random().ToString();
  Write(
      "INSERT INTO snapshots VALUES ('bad-uuid', 3, 'not-a-uuid', 1, '{}', 1);"
      "INSERT INTO snapshots VALUES ('bad-version', 'three', '" +
      id +
      "', 1, '{}', 1);"
      "INSERT INTO snapshots VALUES ('zero-version', 0, '" +
      id +
      "', 1, '{}', 1);"
      "INSERT INTO snapshots VALUES ('blob-state', 3, '" +
      id + "', 1, x'00ff', 1);");
  for (const char* stream : {"bad-uuid", "bad-version", "zero-version", "blob-state"}) {
    auto loaded = store->Load(stream);
    ASSERT_FALSE(loaded.ok()) << stream;
    EXPECT_EQ(loaded.error().code, ErrorCode::kCorruption) << loaded.error().message;
    EXPECT_NE(loaded.error().message.find(std::string("'") + stream + "'"), std::string::npos)
        << loaded.error().message;
  }
  auto listed = store->List("", "", 10);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, ErrorCode::kCorruption);
  // What is not damaged still works, and a damaged row can be dropped.
  EXPECT_TRUE(store->Load("good").ok());
  listed = store->List("go", "", 10);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ(listed->size(), 1u);
  for (const char* stream : {"bad-uuid", "bad-version", "zero-version", "blob-state"}) {
    EXPECT_EQ(*store->Drop(stream), 1) << stream;
  }
  listed = store->List("", "", 10);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(SqliteSnapshotFile, DeletedFileLosesOnlyTheSnapshots) {
  SqliteStoreOptions options;
  options.path = store_path_;
  auto events = OpenSqliteEventStore(options);
  ASSERT_TRUE(events.ok()) << events.error().message;
  EventData e;
  e.type = "Opened";
  e.data = "{}";
  auto appended = (*events)->Append("cart-1", ExpectedVersion::NoStream(), {e});
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Save(Make("cart-1", 1)).ok());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->Load("cart-1")->has_value());
  EXPECT_TRUE(store->List("", "", 10)->empty());
  EXPECT_EQ(*(*events)->StreamVersion("cart-1"), 1) << "the events are untouched";
}

TEST_F(SqliteSnapshotFile, SeveralHandlesShareTheFile) {
  auto first = Open();
  auto second = Open();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->Save(Make("s", 2)).ok());
  EXPECT_EQ((*second->Load("s"))->version, 2);
  ASSERT_TRUE(second->Save(Make("s", 1)).ok());
  EXPECT_EQ((*first->Load("s"))->version, 2) << "the newer one is kept across handles";
  EXPECT_EQ(*second->Drop(""), 1);
  EXPECT_FALSE(first->Load("s")->has_value());
}

TEST_F(SqliteSnapshotFile, FileThatIsNotSqliteIsAnError) {
  {
    std::ofstream(path_) << "not a database, but long enough to have a header"
                         << std::string(200, 'x');
  }
  auto store = OpenSqliteSnapshotStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kCorruption) << store.error().message;
}

}  // namespace
}  // namespace evs
