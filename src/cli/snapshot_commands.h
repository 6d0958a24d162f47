// `evs snapshots list` and `evs snapshots drop`: the operator's view of the snapshot cache
// (evs/snapshot.h) of the store --store names.
#pragma once

#include "cli/context.h"

namespace evs::cli {

// Adds `snapshots` with its subcommands `list` and `drop` to `app`.
void AddSnapshotCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
