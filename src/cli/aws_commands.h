// `evs aws init`: what a deployment on AWS needs before `evs serve --store dynamodb:TABLE`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace evs::cli {

void AddAwsCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
