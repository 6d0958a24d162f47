// The change feed's commands: subscriptions, parked, projections rebuild.
#pragma once

#include "cli/context.h"

namespace evs::cli {

// Adds `subscriptions`, `parked` and `projections rebuild` to `app`.
void AddFeedCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
