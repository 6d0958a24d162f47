// `evs replay --archive LOC --to-kinesis STREAM`: re-publishes archived events to Kinesis for
// downstream consumers (aws/kinesis_replay.h), resumably.
//
// Progress lives in a small state file, JSON written durably (temp file, fsync, rename):
//   {"format": "evs-replay-state", "archive": LOC, "kinesis_stream": S, "from": P,
//    "to": P | null, "until_us": T | null, "published_through": P, "done": bool}
// By default <data>/replay-state/<stream>-<hash of archive and stream>.json (one per archive and
// stream), or --state FILE. A run whose state exists with the same arguments continues after
// published_through; one with other arguments is refused while that replay is unfinished
// (--restart starts over); a finished one is not repeated (--restart replays again). --resume
// requires the state to exist.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/context.h"

namespace evs::cli {

// Exit code of a replay that stopped before its end (SIGINT/SIGTERM, --max-events): rerun to
// continue.
inline constexpr int kExitIncomplete = 4;

struct ReplayToKinesisArgs {
  std::string location;  // the archive
  std::string stream;    // the Kinesis stream
  int64_t from = 1;
  std::optional<int64_t> to;
  std::optional<int64_t> until_us;
  std::string state;       // the state file ("" for the default)
  bool resume = false;     // the state must exist
  bool restart = false;    // ignore (and replace) the state
  int64_t max_events = 0;  // stop after about this many events (0: no limit)
  bool quiet = false;
};

// Runs the replay; returns the exit code (kExitIncomplete when stopped before the end).
int RunReplayToKinesis(const GlobalOptions& global, const ReplayToKinesisArgs& args);

}  // namespace evs::cli
