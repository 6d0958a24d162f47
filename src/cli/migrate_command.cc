#include "cli/migrate_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/output.h"
#include "cli/progress.h"
#include "store/log/log_migration.h"

namespace evs::cli {
namespace {

struct MigrateArgs {
  std::string to;
  uint64_t segment_mib = 64;
  bool quiet = false;
};

int RunMigrate(const GlobalOptions& global, const MigrateArgs& args) {
  if (args.to != "log") {
    return ReportInvalid(global,
                         "--to must be log (the only engine a data folder migrates to); "
                         "to copy a store into SQLite, use evs export --sqlite FILE");
  }
  if (!DynamoDbTable(global).empty() || global.store.find("://") != std::string::npos) {
    return ReportInvalid(
        global, "evs migrate works on a data folder's embedded store, not on " + global.store);
  }
  if (args.segment_mib == 0 || args.segment_mib > 4096) {
    return ReportInvalid(global, "--segment-mib must be between 1 and 4096");
  }
  std::error_code ec;
  const std::string folder = LogStoreFolder(global);
  if (std::filesystem::exists(folder, ec)) {
    return ReportInvalid(global, "the data folder '" + global.data_dir +
                                     "' has a log store already (" + folder +
                                     "): it was migrated, or made with --store log");
  }
  if (!std::filesystem::exists(StorePath(global), ec)) {
    return ReportInvalid(global, "the data folder '" + global.data_dir +
                                     "' has no SQLite store to migrate (" + StorePath(global) +
                                     ")");
  }
  const bool show = !args.quiet && !global.json;
  std::optional<Progress> progress;
  std::string step;
  auto report = store::log::MigrateSqliteIntoLog(StorePath(global), folder, args.segment_mib << 20,
                                                 [&](const char* now, int64_t done, int64_t total) {
                                                   if (step != now) {
                                                     if (progress) progress->Finish();
                                                     step = now;
                                                     progress.emplace(step, show);
                                                   }
                                                   progress->Update(done, total);
                                                 });
  if (progress) progress->Finish();
  if (!report.ok()) return ReportError(global, report.error());
  if (global.json) {
    PrintJson({{"migrated", folder},
               {"events", report->events},
               {"last_position", report->last_position},
               {"streams", report->streams},
               {"lifecycles", report->lifecycles},
               {"sqlite_store_kept", StorePath(global)}});
    return kExitOk;
  }
  std::cout << "migrated " << report->events << " events (positions 1.." << report->last_position
            << ") of " << report->streams << " streams into " << folder << " and checked them; "
            << report->lifecycles << " streams' metadata or deletes copied\n"
            << "commands on this data folder now open the log store (--store log, found by "
               "itself); the SQLite store stays as it was in "
            << StorePath(global)
            << " (--store sqlite opens it, without what is written from now on); remove it when "
               "you no longer need it\n";
  return kExitOk;
}

}  // namespace

void AddMigrateCommand(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto args = std::make_shared<MigrateArgs>();
  CLI::App* sub = app.add_subcommand(
      "migrate", "Move a data folder's SQLite store to the log engine (copied, then checked)");
  sub->add_option("--to", args->to, "The engine to move to: log")->required();
  sub->add_option("--segment-mib", args->segment_mib, "The size of the log's segment files, in MiB")
      ->capture_default_str();
  sub->add_flag("-q,--quiet", args->quiet, "No progress on stderr");
  sub->footer(
      "Copies <data>/events.sqlite into a new log store in <data>/log: every event with its "
      "position, version, id, type, data, metadata and time, then each stream's metadata and "
      "deletes; then reads both back and compares them. The SQLite file is never changed. From "
      "then on, commands on the data folder open the log store (a data folder with a log/ "
      "folder is opened with the log engine unless --store says otherwise). Snapshots, keys of "
      "personal data, read models and checkpoints stay in the folder and go on as they were "
      "(positions are the same). Stop evs serve first: the store must not be open.");
  RunWhenSelected(sub, global, command, args, &RunMigrate);
}

}  // namespace evs::cli
