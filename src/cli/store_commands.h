// The event store's own commands: append, streams, read, log.
#pragma once

#include "cli/context.h"

namespace evs::cli {

// Adds `append`, `streams`, `read` and `log` to `app`. The selected one is stored in `command`
// during parsing.
void AddStoreCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
