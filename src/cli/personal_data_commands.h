// `evs forget SUBJECT`: destroys a data subject's key (evs/personal_data.h), so that every copy
// of its personal fields reads as redacted from then on.
#pragma once

#include "cli/context.h"

namespace evs::cli {

// Adds `forget` to `app`.
void AddPersonalDataCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
