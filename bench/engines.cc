#include "engines.h"

#include "evs/log_store.h"

namespace evs::bench {

std::vector<BenchEngine> BenchEngines() {
  BenchEngine sqlite;
  sqlite.system = "evs";
  sqlite.name = "sqlite";
  sqlite.open = [](const std::string& folder, bool durable) {
    SqliteStoreOptions options;
    options.path = folder + "/events.sqlite";
    options.durable = durable;
    return OpenSqliteEventStore(options);
  };
  sqlite.sqlite_file = [](const std::string& folder) { return folder + "/events.sqlite"; };
  BenchEngine log;
  log.system = "evs-log";
  log.name = "log";
  log.open = [](const std::string& folder, bool durable) {
    LogStoreOptions options;
    options.folder = folder + "/log";
    options.durable = durable;
    return OpenLogEventStore(options);
  };
  return {sqlite, log};
}

}  // namespace evs::bench
