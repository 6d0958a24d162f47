#include "engines.h"

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
  return {sqlite};
}

}  // namespace evs::bench
