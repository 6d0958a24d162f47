// Change capture: DynamoDB Streams records of the commit table -> Kinesis, one record per commit
// (kinesis_records.h), partition key = the evs stream id, so that Kinesis keeps each stream's
// commits in order on one shard.
//
// Input is the documented stream-record JSON a Lambda receives:
//   {"Records": [{"eventID": "...", "eventName": "INSERT" | "MODIFY" | "REMOVE",
//                 "dynamodb": {"Keys": {...}, "NewImage": {...}, "SequenceNumber": "...",
//                              "StreamViewType": "NEW_IMAGE"}, "eventSourceARN": "..."}, ...]}
// Only INSERTs carry commits: a commit item is written once and never modified, so MODIFY and
// REMOVE (e.g. TTL expiry) are counted and ignored. The table's stream must include new images
// (NEW_IMAGE or NEW_AND_OLD_IMAGES).
//
// Order (the shared sender, kinesis_sender.h): PutRecords does not keep the order of the records
// of one call when some of them fail, so each call carries at most one pending commit per evs
// stream, and a commit that failed
// (ErrorCode in the answer, e.g. ProvisionedThroughputExceededException) is sent again, after a
// backoff, before any later commit of its stream. A commit that fails for good (attempts
// exhausted, too large, undecodable) fails every later commit of its stream in the same input
// too: they are reported, not published, so a retry of the reported records keeps the order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "aws/kinesis_sender.h"
#include "evs/status.h"

namespace evs::aws {

// The sender's options (kinesis_sender.h: the stream, PutRecords limits, attempts and backoff;
// `deadline` and `deadline_reason` are set by each Relay() from time_budget), and:
struct RelayOptions : SenderOptions {
  // Once this much time has passed in one Relay() call, nothing more is sent and what is not yet
  // published is reported failed (so that a Lambda answers before its own timeout). 0: no limit.
  std::chrono::milliseconds time_budget{0};
};

// An input record that was not published.
struct RelayFailure {
  std::string event_id;         // the stream record's eventID
  std::string sequence_number;  // its dynamodb.SequenceNumber (a Lambda's itemIdentifier)
  std::string stream_id;        // the evs stream, when the image said
  std::string reason;
};

struct RelayResult {
  int64_t published = 0;             // commits written to Kinesis (one record each)
  int64_t events_published = 0;      // events in them
  int64_t ignored = 0;               // MODIFY and REMOVE records
  int64_t put_calls = 0;             // PutRecords calls made
  int64_t retried = 0;               // commit sends that were tries after a failed one
  std::vector<RelayFailure> failed;  // in input order
};

// Thread-compatible: one Relay() at a time per object (a Lambda runs one at a time).
class KinesisRelay {
 public:
  KinesisRelay(std::shared_ptr<AwsClient> client, RelayOptions options);

  // Publishes the commits of `stream_event`. An error only when the input is not a stream event
  // at all (kInvalidArgument) or the options are unusable; everything else, including a missing
  // Kinesis stream, is reported per record in RelayResult::failed.
  Result<RelayResult> Relay(const nlohmann::json& stream_event);

 private:
  std::shared_ptr<AwsClient> client_;
  RelayOptions options_;
};

}  // namespace evs::aws
