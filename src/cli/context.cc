#include "cli/context.h"

#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>

#include "evs/dynamodb.h"
#include "evs/dynamodb_key_store.h"
#include "evs/log_store.h"
#include "evs/postgres.h"
#include "evs/postgres_key_store.h"

namespace evs::cli {

std::string DynamoDbTable(const GlobalOptions& global) {
  constexpr std::string_view kPrefix = "dynamodb:";
  return global.store.starts_with(kPrefix) ? global.store.substr(kPrefix.size()) : "";
}

std::string StorePath(const GlobalOptions& global) { return global.data_dir + "/events.sqlite"; }

// --- the log engine (--store log) ---
bool IsLogStore(const GlobalOptions& global) { return global.store == "log"; }
std::string LogStoreFolder(const GlobalOptions& global) { return global.data_dir + "/log"; }
void ResolveAutoStore(GlobalOptions& global) {
  if (global.store != "auto") return;
  std::error_code ec;
  const bool has_log = std::filesystem::is_directory(LogStoreFolder(global), ec);
  const bool has_sqlite = std::filesystem::exists(StorePath(global), ec);
  // A folder of an earlier release keeps its SQLite store until `evs migrate --to log`.
  global.store = has_sqlite && !has_log ? "sqlite" : "log";
}
// ---

namespace {

bool IsDynamoDb(const GlobalOptions& global) { return global.store.starts_with("dynamodb:"); }

DynamoDbStoreOptions DynamoDbOptions(const GlobalOptions& global) {
  DynamoDbStoreOptions options;
  options.table = DynamoDbTable(global);
  return options;
}

Error NotAStore(const GlobalOptions& global) {
  return Error::Make(ErrorCode::kInvalidArgument,
                     "--store '" + global.store +
                         "' is not a store; use auto, sqlite, log, dynamodb:TABLE or "
                         "postgres://USER@HOST:PORT/DB");
}

}  // namespace

Result<std::unique_ptr<EventStore>> OpenStore(const GlobalOptions& global) {
  if (IsDynamoDb(global)) return OpenDynamoDbEventStore(DynamoDbOptions(global));
  // PostgreSQL (evs/postgres.h): the url is the store; the schema must be there (evs pg init).
  if (IsPostgresUrl(global.store)) {
    PostgresStoreOptions options;
    options.url = global.store;
    options.create_schema = false;
    return OpenPostgresEventStore(options);
  }
  if (global.store != "sqlite" && !IsLogStore(global)) return NotAStore(global);
  if (global.data_dir.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the data folder (--data) is empty");
  }
  const std::filesystem::path dir(global.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error::Make(ErrorCode::kIOError,
                       "cannot create the data folder '" + global.data_dir + "': " + ec.message());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the data folder '" + global.data_dir + "' is not a folder");
  }
  SqliteStoreOptions options;
  options.path = StorePath(global);
  LogStoreOptions log_options;
  log_options.folder = LogStoreFolder(global);
  // The store admits one process at a time. Short commands run side by side (a script that
  // starts several) wait their turn for a while; a long-running holder still gets an error.
  const auto deadline = std::chrono::steady_clock::now() + kStoreBusyWait;
  for (;;) {
    auto store =
        IsLogStore(global) ? OpenLogEventStore(log_options) : OpenSqliteEventStore(options);
    if (store.ok() || store.error().code != ErrorCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return store;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::unique_ptr<EventStore>> OpenStoreForReading(const GlobalOptions& global) {
  if (IsLogStore(global)) {
    auto view = OpenLogEventStoreReader(LogStoreFolder(global));
    if (!view.ok() && view.error().code == ErrorCode::kNotFound) {
      return std::unique_ptr<EventStore>();
    }
    return view;
  }
  if (global.store != "sqlite") return OpenStore(global);
  if (!std::filesystem::exists(StorePath(global))) return std::unique_ptr<EventStore>();
  return OpenSqliteEventStoreReader(StorePath(global));
}

Result<std::unique_ptr<SnapshotStore>> OpenSnapshotStore(const GlobalOptions& global) {
  if (IsDynamoDb(global)) return OpenDynamoDbSnapshotStore(DynamoDbOptions(global));
  // On PostgreSQL, snapshots (caches beside the log) stay in this host's data folder.
  if (global.store != "sqlite" && !IsLogStore(global) && !IsPostgresUrl(global.store)) {
    return NotAStore(global);
  }
  return OpenSqliteSnapshotStore(SnapshotPathFor(StorePath(global)));
}

namespace {

// The shared key stores (DynamoDB, PostgreSQL) keep keys wrapped by the operator's master key.
bool NeedsMasterKey(const GlobalOptions& global) {
  return IsDynamoDb(global) || IsPostgresUrl(global.store);
}

Error MissingMasterKey(const GlobalOptions& global) {
  return Error::Make(ErrorCode::kInvalidArgument,
                     std::string("personal data on ") +
                         (IsPostgresUrl(global.store) ? "PostgreSQL" : "DynamoDB") +
                         " needs the master key: --master-key-file PATH (or EVS_MASTER_KEY_FILE), "
                         "64 hex digits (umask 077; openssl rand -hex 32 > master.key)");
}

Result<std::unique_ptr<KeyStore>> OpenKeys(const GlobalOptions& global, bool create_if_missing) {
  const bool postgres = IsPostgresUrl(global.store);
  if (!NeedsMasterKey(global)) {
    return OpenSqliteKeyStore(
        {.path = KeyStorePathFor(StorePath(global)), .create_if_missing = create_if_missing});
  }
  if (global.master_key_file.empty()) return MissingMasterKey(global);
  auto master_key = ReadMasterKeyFile(global.master_key_file);
  if (!master_key.ok()) return master_key.error();
  if (postgres) {
    // The schema must be there (evs pg init), as for the store.
    return OpenPostgresKeyStore({.url = global.store,
                                 .master_key = std::move(master_key).value(),
                                 .create_schema = false,
                                 .create_if_missing = create_if_missing});
  }
  DynamoDbKeyStoreOptions options;
  options.table = KeyTableFor(DynamoDbTable(global));
  options.master_key = std::move(master_key).value();
  options.create_table_if_missing = create_if_missing;
  options.create_if_missing = create_if_missing;
  return OpenDynamoDbKeyStore(options);
}

}  // namespace

Result<std::unique_ptr<PersonalData>> OpenPersonalData(const GlobalOptions& global,
                                                       EventStore& store) {
  auto personal = PersonalData::Open(
      store, [global](bool create_if_missing) { return OpenKeys(global, create_if_missing); });
  // A store bound to a shared key store opens it at once: without the master key, that is all
  // there is to say (not that the key store is lost).
  if (!personal.ok() && personal.error().code == ErrorCode::kCorruption && NeedsMasterKey(global) &&
      global.master_key_file.empty()) {
    return MissingMasterKey(global);
  }
  return personal;
}

Result<std::unique_ptr<KeyStore>> OpenKeyStore(const GlobalOptions& global) {
  if (!IsDynamoDb(global) && global.store != "sqlite" && !IsLogStore(global) &&
      !IsPostgresUrl(global.store)) {
    return NotAStore(global);
  }
  return OpenKeys(global, /*create_if_missing=*/false);
}

}  // namespace evs::cli
