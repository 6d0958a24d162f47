// `evs migrate --to log`: a data folder's SQLite store (as every release before the log engine
// wrote it) copied into the log engine in the same folder, checked, and from then on the store
// that commands open there.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace evs::cli {

void AddMigrateCommand(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
