// The sending core shared by the change-capture relay (kinesis_relay.h) and the archive replay
// (kinesis_replay.h): records queued per partition key, sent in rounds of PutRecords calls that
// keep each key's order.
//
// PutRecords does not keep the order of the records of one call when some of them fail, so each
// call carries at most one pending record per partition key (the oldest unsent one), within
// Kinesis's limits of 500 records and 5 MiB per call. A record that failed (an ErrorCode in the
// answer, e.g. ProvisionedThroughputExceededException, or a whole call that failed after the
// client's own retries with kUnavailable) is sent again, after an exponential backoff, before any
// later record of its key. A record that fails for good (attempts exhausted, an error that will
// not pass, over Kinesis's record limits, or the deadline reached before it was published) fails
// every later record of its key too (kBlocked): they are not sent, so that a retry keeps the
// order.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "aws/aws_client.h"

namespace evs::aws {

struct SenderOptions {
  std::string stream_name;  // the Kinesis stream; required
  // Per PutRecords call; Kinesis allows at most 500 records and 5 MiB (partition keys included).
  size_t max_records_per_call = 500;
  size_t max_bytes_per_call = 5 * 1024 * 1024;
  // Tries of one record (record-level failures and whole calls that still failed after the
  // client's own retries) before it fails for good.
  int max_attempts = 8;
  std::chrono::milliseconds initial_backoff{50};  // before the second try; doubled after each...
  std::chrono::milliseconds max_backoff{2000};    // ...up to this
  // Nothing is sent at or after this time; what is unpublished then fails with `deadline_reason`.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::string deadline_reason = "the deadline passed before it was published";
};

// "" when the options are within Kinesis's limits; otherwise what is wrong.
std::string CheckSenderOptions(const SenderOptions& options);

// "" when a record of this partition key and data size is within Kinesis's limits (key of 1-256
// characters, key plus data at most 1 MiB); otherwise the reason, naming `what` (e.g. "the
// commit's record").
std::string CheckRecordLimits(const std::string& partition_key, size_t data_bytes,
                              const std::string& what);

// What became of one record.
struct SendOutcome {
  enum class State {
    kPending,    // not yet sent (before Send() returns)
    kPublished,  // acknowledged by Kinesis
    kFailed,     // failed for good: `reason` says why
    kBlocked,    // not sent because record `blocked_by` of its key failed before it
  };
  State state = State::kPending;
  std::string reason;        // kFailed: why
  bool out_of_time = false;  // kFailed because the deadline passed (not an error of its own)
  size_t blocked_by = 0;     // kBlocked: the id of the failed record of its key
  int attempts = 0;          // PutRecords sendings of it
};

// Thread-compatible: one Send() at a time. Ids are 0, 1, ... in the order records are added.
class KinesisSender {
 public:
  KinesisSender(AwsClient& client, const SenderOptions& options);

  // Queues a record behind the earlier ones of its key; returns its id. A record with a
  // non-empty `error` cannot be sent: it still takes its place, and fails (with the later ones of
  // its key) when it reaches the head of its queue. Records over Kinesis's limits are given such
  // an error here.
  size_t Add(std::string partition_key, std::string data, std::string error = "");

  // Sends every queued record until each is published or has failed, then empties the queues.
  // Outcomes()[id] says what became of each record added since construction.
  void Send();

  const std::vector<SendOutcome>& Outcomes() const { return outcomes_; }
  int64_t put_calls() const { return put_calls_; }
  int64_t retried() const { return retried_; }  // sendings that were tries after a failed one

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    size_t id = 0;
    std::string key;
    std::string data;   // before base64
    std::string error;  // why it cannot be sent; "" when it can
    Clock::time_point not_before{};
  };

  void FailKey(const std::string& key, const std::string& reason, bool out_of_time = false);
  void Retry(Pending& record, const std::string& reason, bool retryable);
  void PutRecords(const std::vector<Pending*>& batch);

  AwsClient& client_;
  const SenderOptions& options_;
  // Per partition key, its unsent records in order; keys in order of first appearance.
  std::map<std::string, std::deque<Pending>> queues_;
  std::vector<std::string> order_;
  std::vector<SendOutcome> outcomes_;
  int64_t put_calls_ = 0;
  int64_t retried_ = 0;
};

}  // namespace evs::aws
