// The stream lifecycle from the command line: `evs stream meta`, `evs stream delete` and
// `evs scavenge` (beside a running `evs serve` through its HTTP API, with --server).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace evs::cli {

void AddLifecycleCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
