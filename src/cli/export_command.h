// `evs export --sqlite FILE`: the store --store names, copied into a new SQLite file that the
// sqlite3 shell (or OpenSqliteEventStore) can open, whatever engine holds the original.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace evs::cli {

void AddExportCommand(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
