// The backends that the contract suite runs against. Each test gets a fresh, empty store; a
// backend that persists can also be reopened on the same data.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "aws/dynamodb_event_store.h"
#include "aws_test_env.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "evs/postgres.h"
#include "postgres_test_env.h"
#include "temp_dir.h"

namespace evs::testing {

class StoreFactory {
 public:
  virtual ~StoreFactory() = default;
  virtual std::unique_ptr<EventStore> Open(const Limits& limits = {}) = 0;
  // Whether a store opened again sees what an earlier one committed.
  virtual bool Persistent() const = 0;
  // Whether the backend has a global log: positions, ReadLog, HeadPosition, WaitForHead.
  virtual bool HasGlobalLog() const { return true; }
  // Whether an event id committed anywhere (another stream, an older commit) is refused, or
  // only where the append lands (DynamoDB: see evs/dynamodb.h).
  virtual bool ChecksEventIdsEverywhere() const { return true; }
  // Non-empty when the backend cannot run here: its tests skip with this reason.
  virtual std::string SkipReason() const { return ""; }
};

class MemoryFactory : public StoreFactory {
 public:
  std::unique_ptr<EventStore> Open(const Limits& limits) override {
    return NewMemoryEventStore(limits);
  }
  bool Persistent() const override { return false; }
};

class SqliteFactory : public StoreFactory {
 public:
  std::unique_ptr<EventStore> Open(const Limits& limits) override {
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    options.limits = limits;
    auto store = OpenSqliteEventStore(options);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  bool Persistent() const override { return true; }

 private:
  TempDir dir_;
};

// The log engine (evs/log_store.h), with small segments so that tests roll over between them.
class LogFactory : public StoreFactory {
 public:
  std::unique_ptr<EventStore> Open(const Limits& limits) override {
    LogStoreOptions options;
    options.folder = dir_.File("log");
    options.limits = limits;
    options.segment_bytes = 1 << 20;
    auto store = OpenLogEventStore(options);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  bool Persistent() const override { return true; }

 private:
  TempDir dir_;
};

// A fresh table on the DynamoDB stand-in (dynalite) per test, deleted at the end. Runs only with
// EVS_TEST_AWS=1 (scripts/standins start DIR; source DIR/env); see aws_test_env.h.
class DynamoDbFactory : public StoreFactory {
 public:
  DynamoDbFactory() : table_(UniqueTableName("evs-contract")) {}
  ~DynamoDbFactory() override {
    if (client_ != nullptr) DeleteTable(*client_, table_);
  }

  std::unique_ptr<EventStore> Open(const Limits& limits) override {
    if (client_ == nullptr) {
      client_ = DynamoDbTestClient();
      if (client_ == nullptr) return nullptr;  // DynamoDbTestClient() reported why
      if (auto s = aws::CreateEventTable(*client_, table_, /*with_stream=*/false); !s) {
        ADD_FAILURE() << "creating table " << table_ << ": " << s.error().message;
        return nullptr;
      }
    }
    DynamoDbStoreOptions options;
    options.table = table_;
    options.limits = limits;
    auto store = aws::NewDynamoDbEventStore(client_, options);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  bool Persistent() const override { return true; }
  bool HasGlobalLog() const override { return false; }
  bool ChecksEventIdsEverywhere() const override { return false; }
  std::string SkipReason() const override { return AwsTestSkipReason(); }

 private:
  std::string table_;
  std::shared_ptr<aws::AwsClient> client_;
};

// A fresh database on the private PostgreSQL cluster per test, dropped at the end. Runs only with
// EVS_TEST_POSTGRES_URL set (scripts/postgres start DIR; source DIR/env); see
// postgres_test_env.h.
class PostgresFactory : public StoreFactory {
 public:
  std::unique_ptr<EventStore> Open(const Limits& limits) override {
    if (database_ == nullptr) database_ = std::make_unique<PostgresTestDatabase>();
    if (database_->url().empty()) return nullptr;  // the database reported why
    PostgresStoreOptions options;
    options.url = database_->url();
    options.limits = limits;
    auto store = OpenPostgresEventStore(options);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  bool Persistent() const override { return true; }
  std::string SkipReason() const override { return PostgresTestSkipReason(); }

 private:
  std::unique_ptr<PostgresTestDatabase> database_;
};

inline std::unique_ptr<StoreFactory> MakeFactory(const std::string& name) {
  if (name == "memory") return std::make_unique<MemoryFactory>();
  if (name == "dynamodb") return std::make_unique<DynamoDbFactory>();
  if (name == "postgres") return std::make_unique<PostgresFactory>();
  if (name == "log") return std::make_unique<LogFactory>();
  return std::make_unique<SqliteFactory>();
}

// The suites on kBackends also run on PostgreSQL (skipped unless EVS_TEST_POSTGRES_URL is set).
inline const auto kBackends = ::testing::Values(std::string("memory"), std::string("sqlite"),
                                                std::string("log"), std::string("postgres"));
// The contract suite also runs on DynamoDB (its tests skip unless EVS_TEST_AWS=1) and on
// PostgreSQL (skipped unless EVS_TEST_POSTGRES_URL is set).
inline const auto kContractBackends =
    ::testing::Values(std::string("memory"), std::string("sqlite"), std::string("log"),
                      std::string("dynamodb"), std::string("postgres"));

}  // namespace evs::testing
