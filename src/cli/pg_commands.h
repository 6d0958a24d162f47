// `evs pg ...`: the PostgreSQL store's own commands (evs/postgres.h).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace evs::cli {

// Adds `evs pg init [--url URL]`: creates (or migrates) evs's tables in the database of --url,
// or of --store / EVS_STORE when that names PostgreSQL.
void AddPgCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
