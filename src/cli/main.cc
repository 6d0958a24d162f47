// evs: the command-line tool. Parses the command line, runs the selected command, exits with its
// code (see context.h).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/archive_commands.h"
#include "cli/aws_commands.h"
#include "cli/cart_commands.h"
#include "cli/context.h"
#include "cli/export_command.h"
#include "cli/feed_commands.h"
#include "cli/lifecycle_commands.h"
#include "cli/migrate_command.h"
#include "cli/output.h"
#include "cli/personal_data_commands.h"
#include "cli/pg_commands.h"
#include "cli/serve_command.h"
#include "cli/snapshot_commands.h"
#include "cli/store_commands.h"
#include "evs/version.h"

int main(int argc, char** argv) {
  using namespace evs::cli;
  GlobalOptions global;
  Command command;

  CLI::App app{
      "evs: an event store with an embedded SQLite backend, and a shopping cart built on it",
      "evs"};
  // Global options may also follow the command (`evs cart show ID --json`).
  app.fallthrough();
  app.set_version_flag("--version", std::string("evs ") + evs::Version());
  app.require_subcommand(1);
  app.add_option("--data,--data-dir", global.data_dir,
                 "The data folder; the store is <folder>/events.sqlite (created when missing)")
      ->envname("EVS_DATA")
      ->capture_default_str();
  app.add_option("--store", global.store,
                 "The event store: auto (sqlite when the data folder holds only "
                 "<data>/events.sqlite, else log), log (the log engine, in <data>/log), sqlite "
                 "(<data>/events.sqlite), "
                 "dynamodb:TABLE (AWS settings from AWS_* variables) or "
                 "postgres://USER@HOST:PORT/DB")
      ->envname("EVS_STORE")
      ->capture_default_str();
  app.add_flag("--json", global.json, "Print one JSON document on stdout instead of text");
  app.add_option("--master-key-file", global.master_key_file,
                 "On DynamoDB and PostgreSQL: the file holding the master key (64 hex digits) "
                 "that wraps the keys of personal data (the table <TABLE>-keys, or evs_keys)")
      ->envname("EVS_MASTER_KEY_FILE");
  AddCartCommands(app, global, command);
  AddStoreCommands(app, global, command);
  AddExportCommand(app, global, command);
  AddMigrateCommand(app, global, command);
  AddLifecycleCommands(app, global, command);
  AddServeCommand(app, global, command);
  AddPgCommands(app, global, command);
  AddFeedCommands(app, global, command);
  AddArchiveCommands(app, global, command);
  AddSnapshotCommands(app, global, command);
  AddAwsCommands(app, global, command);
  AddPersonalDataCommands(app, global, command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    if (global.json) return ReportInvalid(global, e.what());
    std::cerr << "evs: error: " << e.what() << "\nRun with --help for more information.\n";
    return kExitError;
  }
  if (!command) {
    std::cerr << "evs: error: no command given\nRun with --help for more information.\n";
    return kExitError;
  }
  ResolveAutoStore(global);
  int code;
  try {
    code = command();
  } catch (const std::exception& e) {
    // evs reports expected failures as values; an exception is a bug.
    std::cerr << "evs: internal error: " << e.what() << '\n';
    return kExitError;
  }
  // Output that did not reach its destination (a full disk, a closed pipe) is a failure too.
  if (!std::cout.flush()) {
    std::cerr << "evs: error: cannot write the output\n";
    return kExitError;
  }
  return code;
}
