#include "engines.h"

#include <filesystem>

#include "evs/log_store.h"

namespace evs::bench {

std::vector<BenchEngine> BenchEngines() {
  BenchEngine log;
  log.system = "evs";
  log.name = "log";
  log.open = [](const std::string& folder, bool durable) {
    LogStoreOptions options;
    options.folder = folder + "/log";
    options.durable = durable;
    return OpenLogEventStore(options);
  };
  BenchEngine sqlite;
  sqlite.system = "evs-sqlite";
  sqlite.name = "sqlite";
  sqlite.open = [](const std::string& folder, bool durable) {
    SqliteStoreOptions options;
    options.path = folder + "/events.sqlite";
    options.durable = durable;
    return OpenSqliteEventStore(options);
  };
  sqlite.sqlite_file = [](const std::string& folder) { return folder + "/events.sqlite"; };
  return {log, sqlite};
}

Result<std::unique_ptr<EventStore>> OpenDefaultStore(const std::string& folder, bool durable) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return Error::Make(ErrorCode::kIOError, "cannot create " + folder + ": " + ec.message());
  return BenchEngines().front().open(folder, durable);
}

}  // namespace evs::bench
