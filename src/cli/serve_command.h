// `evs serve`: the shopping cart and the event store over HTTP.
#pragma once

#include "cli/context.h"

namespace evs::cli {

void AddServeCommand(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
