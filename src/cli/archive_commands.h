// `evs archive [--once]`, `evs archive status`, `evs verify` and `evs replay`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"
#include "evs/archive.h"

namespace evs::cli {

// The options that shape segments, shared by `evs archive` and `evs serve --archive`.
struct SegmentArgs {
  size_t events = ArchiverOptions{}.segment_max_events;
  size_t bytes = ArchiverOptions{}.segment_max_bytes;
  double age_seconds = std::chrono::duration<double>(ArchiverOptions{}.segment_max_age).count();
  int level = ArchiverOptions{}.compression_level;
};
void AddSegmentOptions(CLI::App* app, SegmentArgs& args);
ArchiverOptions ToArchiverOptions(const SegmentArgs& args);

void AddArchiveCommands(CLI::App& app, const GlobalOptions& global, Command& command);

}  // namespace evs::cli
