// The change feed's commands: subscriptions, parked, projections rebuild.
#pragma once

#include <memory>
#include <string>

#include "cli/context.h"
#include "evs/event_store.h"
#include "evs/projection.h"

namespace evs::cli {

// A projection of the data folder, opened with its store for a rebuild.
struct OpenedProjection {
  std::unique_ptr<EventStore> store;
  std::unique_ptr<Projection> projection;
  std::unique_ptr<ProjectionRunner> runner;
};
// Opens the store (exclusively) and the projection `name` (known: cart_summary) in
// <data>/<name>.sqlite; kInvalidArgument names the known projections.
Result<OpenedProjection> OpenProjection(const GlobalOptions& global, const std::string& name);

// Adds `subscriptions`, `parked` and `projections rebuild` to `app`.
void AddFeedCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
