// The backends that the contract suite runs against. Each test gets a fresh, empty store; a
// backend that persists can also be reopened on the same data.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "evs/event_store.h"
#include "temp_dir.h"

namespace evs::testing {

class StoreFactory {
 public:
  virtual ~StoreFactory() = default;
  virtual std::unique_ptr<EventStore> Open(const Limits& limits = {}) = 0;
  // Whether a store opened again sees what an earlier one committed.
  virtual bool Persistent() const = 0;
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

inline std::unique_ptr<StoreFactory> MakeFactory(const std::string& name) {
  if (name == "memory") return std::make_unique<MemoryFactory>();
  return std::make_unique<SqliteFactory>();
}

inline const auto kBackends = ::testing::Values(std::string("memory"), std::string("sqlite"));

}  // namespace evs::testing
