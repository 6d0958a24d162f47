// The embedded engines the stress test runs on, opened the same way by the child that writes and
// by the test that checks, with the fault injectors each engine's files go through.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"
#include "evs/log_store.h"
#include "fault_file_system.h"
#include "fault_vfs.h"

namespace evs::testing {

inline const std::vector<std::string> kStressEngines = {"sqlite", "log"};

// Where faults are injected: the SQLite store's files go through `vfs`, the log engine's through
// `fs`.
struct StressFaults {
  FaultVfs* vfs = nullptr;
  std::shared_ptr<FaultFileSystem> fs;
};

// Opens `engine`'s store in folder `dir`, through `faults` when not null.
inline Result<std::unique_ptr<EventStore>> OpenStressStore(const std::string& engine,
                                                           const std::string& dir,
                                                           const StressFaults* faults) {
  if (engine == "sqlite") {
    SqliteStoreOptions options;
    options.path = dir + "/events.sqlite";
    if (faults != nullptr && faults->vfs != nullptr) options.vfs = faults->vfs->name();
    return OpenSqliteEventStore(options);
  }
  if (engine == "log") {
    LogStoreOptions options;
    options.folder = dir + "/log";
    if (faults != nullptr) options.file_system = faults->fs;
    return OpenLogEventStore(options);
  }
  return Error::Make(ErrorCode::kInvalidArgument, "unknown engine '" + engine + "'");
}

}  // namespace evs::testing
