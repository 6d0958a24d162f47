// The embedded engines the benchmarks run evs on: the default store first (row system "evs"),
// then each other one (row system "evs-<name>"), so that every row compares them in one run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"

namespace evs::bench {

struct BenchEngine {
  std::string system;  // the rows' system: "evs" for the default store, else "evs-<name>"
  std::string name;    // "sqlite", ...
  // Opens (creating) the engine's store in `folder` (which exists); `durable` false only for
  // fills whose writes are not measured.
  std::function<Result<std::unique_ptr<EventStore>>(const std::string& folder, bool durable)> open;
  // The SQLite file of the store in `folder`, for the raw-SQLite baselines; empty for engines
  // that are not SQLite.
  std::function<std::string(const std::string& folder)> sqlite_file;
};

// Every engine, the default first.
std::vector<BenchEngine> BenchEngines();

// The default engine's store in `folder` (created): the store of the benchmarks that measure
// something other than the engines side by side (archive, http, scavenge, ...).
Result<std::unique_ptr<EventStore>> OpenDefaultStore(const std::string& folder, bool durable);

}  // namespace evs::bench
