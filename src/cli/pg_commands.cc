#include "cli/pg_commands.h"

#include <iostream>

#include "cli/output.h"
#include "evs/postgres.h"

namespace evs::cli {
namespace {

struct PgInitArgs {
  std::string url;
};

int RunPgInit(const GlobalOptions& global, const PgInitArgs& args) {
  const std::string url = !args.url.empty() ? args.url : global.store;
  if (!IsPostgresUrl(url)) {
    return ReportInvalid(global,
                         "no PostgreSQL database: give --url postgres://USER@HOST:PORT/DB (or "
                         "--store / EVS_STORE set to one)");
  }
  auto version = InitPostgresSchema(url);
  if (!version.ok()) return ReportError(global, version.error());
  if (global.json) {
    PrintJson(nlohmann::json{{"schema_version", *version}});
  } else {
    std::cout << "the database's evs schema is at version " << *version
              << "; use it with: evs --store " << url << " ...\n";
  }
  return kExitOk;
}

}  // namespace

void AddPgCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  CLI::App* pg = app.add_subcommand("pg", "The PostgreSQL store");
  pg->require_subcommand(1);
  auto init_args = std::make_shared<PgInitArgs>();
  CLI::App* init = pg->add_subcommand(
      "init", "Create evs's tables in a PostgreSQL database, or migrate them to this release");
  init->add_option("--url", init_args->url,
                   "The database: postgres://USER@HOST:PORT/DB (default: --store when it names "
                   "PostgreSQL)");
  RunWhenSelected(init, global, command, init_args, RunPgInit);
}

}  // namespace evs::cli
