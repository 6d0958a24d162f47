// What every command runs with: the global options and the store they name.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "evs/event_store.h"
#include "evs/personal_data.h"
#include "evs/snapshot.h"
#include "evs/status.h"

namespace evs::cli {

// Exit codes of the evs tool.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;     // usage errors, domain rules, not found, I/O, ...
inline constexpr int kExitConflict = 3;  // kWrongExpectedVersion

// Options that apply to every command.
struct GlobalOptions {
  std::string data_dir = "./evs-data";  // --data / EVS_DATA
  // --store / EVS_STORE: "log" (the log engine, in <data>/log), "sqlite" (the embedded SQLite
  // store, <data>/events.sqlite), "dynamodb:TABLE", or a PostgreSQL url
  // "postgres://USER@HOST:PORT/DB" (evs/postgres.h). "auto" (the default) is resolved by
  // ResolveAutoStore before a command runs.
  std::string store = "auto";
  bool json = false;  // --json: one JSON document on stdout
  // --master-key-file / EVS_MASTER_KEY_FILE: wraps the personal-data keys on DynamoDB and
  // PostgreSQL.
  std::string master_key_file;
};

// The DynamoDB table `global.store` names, or "" for the embedded store.
std::string DynamoDbTable(const GlobalOptions& global);

// The embedded store's file: <data_dir>/events.sqlite. Snapshots and personal-data keys are kept
// beside it for either embedded store (sqlite or log).
std::string StorePath(const GlobalOptions& global);

// --store auto: the engine the data folder holds: "sqlite" when it has only a SQLite store
// (<data>/events.sqlite: folders of earlier releases, or made with --store sqlite), else "log"
// (the log engine, <data>/log: new folders, and those migrated by evs migrate).
void ResolveAutoStore(GlobalOptions& global);

// The store for reading beside a running `evs serve`: an embedded store's read-only view (no
// lock), or null when the data folder holds none yet; any other store opened as OpenStore does.
Result<std::unique_ptr<EventStore>> OpenStoreForReading(const GlobalOptions& global);

// --store log: the log engine's folder, <data_dir>/log.
bool IsLogStore(const GlobalOptions& global);
std::string LogStoreFolder(const GlobalOptions& global);

// The command that parsing selected; main runs it once the whole command line is parsed and
// exits with what it returns.
using Command = std::function<int()>;

// How long a command waits for a store that another process has open before it gives up.
inline constexpr std::chrono::seconds kStoreBusyWait{5};

// Makes `run(global, *args)` the command once `sub` is selected. `global` and `command` must
// outlive parsing and the command's run; `args` is where `sub`'s options were parsed into.
template <class Args>
void RunWhenSelected(CLI::App* sub, const GlobalOptions& global, Command& command,
                     std::shared_ptr<Args> args, int (*run)(const GlobalOptions&, const Args&)) {
  sub->callback([global_ptr = &global, command_ptr = &command, args, run] {
    *command_ptr = [global_ptr, args, run] { return run(*global_ptr, *args); };
  });
}

// Opens the store --store names: the embedded store at <data_dir>/events.sqlite (creating the
// folder if it is missing; waits up to kStoreBusyWait while another process has it open), or the
// DynamoDB table of "dynamodb:TABLE" (settings from the AWS environment variables).
Result<std::unique_ptr<EventStore>> OpenStore(const GlobalOptions& global);

// Opens the snapshots of the store --store names (evs/snapshot.h): the SQLite file
// SnapshotPathFor(StorePath(global)), created when missing (the data folder must exist), or the
// table "<TABLE>-snapshots" of "dynamodb:TABLE" (kNotFound when it is missing). Neither needs
// the store itself, so this works beside a running evs serve.
Result<std::unique_ptr<SnapshotStore>> OpenSnapshotStore(const GlobalOptions& global);

// The personal data of `store` (evs/personal_data.h): keys in KeyStorePathFor(StorePath(global)),
// for "dynamodb:TABLE" in the table KeyTableFor(TABLE), or for a PostgreSQL url in the
// database's evs_keys (evs/postgres_key_store.h), wrapped by the master key of --master-key-file.
// kCorruption when the store holds sealed fields and their key store is missing or another one.
Result<std::unique_ptr<PersonalData>> OpenPersonalData(const GlobalOptions& global,
                                                       EventStore& store);
// The key store alone, never created (kNotFound when missing). It needs no event store, so it
// opens beside a running evs serve.
Result<std::unique_ptr<KeyStore>> OpenKeyStore(const GlobalOptions& global);

}  // namespace evs::cli
