// Replay to downstream handlers: archived events re-published to Kinesis in the change-capture
// relay's record format (kinesis_records.h, with "replay": true and each event's "position"),
// partition key = the evs stream id, so that consumers read them exactly like live ones.
//
// The archive is published in windows (the archive reader's batches, in position order). A
// window's events are packed per stream into records of consecutive versions (at most 1 MiB with
// the key) and handed to the shared sender (kinesis_sender.h), which keeps each stream's order
// through throttling and partial failures. A window is complete only when every one of its
// records is acknowledged, and the next starts only then, so a stream's records never overtake
// each other. A position counts as published when every event at or before it is acknowledged:
// that is what on_published hears and what a resumed run continues after. Events after it may
// have been published too (at least once); a consumer skips versions it already applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "aws/aws_client.h"
#include "aws/kinesis_sender.h"
#include "evs/archive.h"
#include "evs/status.h"

namespace evs::aws {

struct KinesisReplayOptions {
  // The stream, PutRecords limits, retries and backoff. `sending.deadline`: nothing is sent at
  // or after it, and the replay stops there with what is published (a Lambda's deadline).
  SenderOptions sending;
  int64_t from = 1;                 // the first position to publish
  int64_t to = INT64_MAX;           // the last position to publish
  std::optional<int64_t> until_us;  // stop before the first event recorded after this
  size_t window_events = 4096;      // events per window (the archive reader's batch)
  int64_t max_events = 0;           // publish at most this many events in this call (0: all)
  // Told after each window the last position now published (every event at or before it is
  // acknowledged); an error stops the replay and is returned. May be empty.
  std::function<Status(int64_t published_through)> on_published;
  // Asked after each window; true stops the replay there (e.g. on SIGINT). May be empty.
  std::function<bool()> stop_requested;
  // Called after each window with the position published through, the range's last position
  // and the events published so far. May be empty.
  ArchiveProgressFn progress;
};

struct KinesisReplayResult {
  int64_t next_from = 1;  // the first position not yet published: where to continue
  bool done = false;      // everything of [from, to] (up to until) is published
  // Why it stopped before the end: "deadline", "stop requested", "max_events"; "" when done.
  std::string stopped;
  int64_t last_position = 0;  // the last position of the range in the archive (0: empty)
  int64_t events = 0;         // events acknowledged by Kinesis in this call
  int64_t records = 0;        // records acknowledged
  int64_t put_calls = 0;      // PutRecords calls
  int64_t retried = 0;        // record sendings that were retries
  int64_t segments = 0;       // archive segments read
};

// Publishes [from, to] of `archive` to the Kinesis stream. Errors: kInvalidArgument for unusable
// options (from < 1, to < from, limits), the Kinesis stream's error when it cannot be described
// (e.g. it does not exist), the archive's errors (kCorruption naming the segment), an event
// whose record alone is over 1 MiB (kLimitExceeded naming it), a record that failed for good
// (kIOError saying which and the position published through). A stop (deadline, request,
// max_events) is not an error: the result says where to continue.
Result<KinesisReplayResult> ReplayToKinesis(AwsClient& client, ArchiveReader& archive,
                                            const KinesisReplayOptions& options);

}  // namespace evs::aws
