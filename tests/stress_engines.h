// The embedded engines the stress test runs on, opened the same way by the child that writes and
// by the test that checks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"

namespace evs::testing {

inline const std::vector<std::string> kStressEngines = {"sqlite"};

// Opens `engine`'s store in folder `dir`; `vfs` (may be empty) names the sqlite3 VFS that
// injects faults.
inline Result<std::unique_ptr<EventStore>> OpenStressStore(const std::string& engine,
                                                           const std::string& dir,
                                                           const std::string& vfs) {
  if (engine == "sqlite") {
    SqliteStoreOptions options;
    options.path = dir + "/events.sqlite";
    options.vfs = vfs;
    return OpenSqliteEventStore(options);
  }
  return Error::Make(ErrorCode::kInvalidArgument, "unknown engine '" + engine + "'");
}

}  // namespace evs::testing
