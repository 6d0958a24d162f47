// `evs cart ...`: the reference shopping cart, driven through evs::Repository<cart::Cart>.
#pragma once

#include "cli/context.h"

namespace evs::cli {

// Adds the `cart` command and its subcommands (open, add, remove, checkout, show) to `app`. The
// selected one is stored in `command` during parsing.
void AddCartCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
