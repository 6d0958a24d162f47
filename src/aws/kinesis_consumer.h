// A consumer of the Kinesis stream the relay writes (kinesis_relay.h): it hands the events of
// every commit record to an evs::EventHandler, the same interface as the embedded feed, so that
// projections, the logger and the archiver run unchanged behind it.
//
// Order and delivery: Kinesis keeps the records of one partition key (one evs stream) in order
// within a shard; the consumer reads each shard in order, hands one batch per GetRecords answer
// (the events of its records, in record order, position 0 since there is no global log), and
// saves the shard's checkpoint (the last sequence number handled) after the handler returned OK.
// After a restart it reads each shard after its checkpoint, so at most the batch in hand when it
// stopped is delivered again (at-least-once). When the stream is resharded, a child shard is read
// only after all its parents are finished (their iterator ended and all their records were
// handled; the checkpoint then says so), so a stream's events stay in order across reshards.
//
// Shards are listed with ListShards by StreamName with a large MaxResults, paging (on real AWS,
// past 1,000 shards) with ExclusiveStartShardId rather than NextToken: kinesalite, the local
// stand-in, crashes on a ListShards that carries only a NextToken.
//
// The handler is called from the consumer's one thread, one batch at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs::aws {

struct KinesisConsumerOptions {
  // The consumer's name; its checkpoints are "<name>/<stream_name>/<shardId>" in the
  // CheckpointStore. Required, as is the stream.
  std::string name;
  std::string stream_name;
  // Records per GetRecords call (Kinesis allows 1-10,000); a batch holds their events.
  int max_records_per_read = 1000;
  // The least time between two reads of one shard (Kinesis allows 5 GetRecords per second per
  // shard), and the wait after a read of an open shard that found nothing new.
  std::chrono::milliseconds min_read_interval{200};
  std::chrono::milliseconds idle_wait{1000};
  // How often the shards are listed again to find the children of a reshard (also right after a
  // shard is finished).
  std::chrono::milliseconds list_interval{10000};
  // After a read still throttled or failing once the client's own retries are spent: wait this,
  // doubled after each further failure of that shard, up to the maximum. Such reads are retried
  // until Stop(); errors that a retry cannot fix (a missing stream, an invalid request) stop the
  // consumer.
  std::chrono::milliseconds read_backoff{100};
  std::chrono::milliseconds max_read_backoff{5000};
  // A batch the handler refused is handed again after a backoff (doubled each time, up to the
  // maximum); after `max_handler_attempts` tries the consumer stops with the handler's error.
  int max_handler_attempts = 5;
  std::chrono::milliseconds handler_backoff{10};
  std::chrono::milliseconds max_handler_backoff{2000};
  // Upcasts events before the handler sees them (evs/upcasting.h); retired types are not
  // delivered. Null: events as published.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

struct KinesisShardStatus {
  std::string shard_id;
  std::vector<std::string> parents;  // ParentShardId and AdjacentParentShardId, when set
  enum class State { kWaiting, kReading, kFinished };  // waiting: for its parents to finish
  State state = State::kWaiting;
  std::string checkpoint;             // as stored: a sequence number, "finished", or "" (none)
  int64_t records_handled = 0;        // in this run
  int64_t millis_behind_latest = -1;  // from the last read; -1 before the first
  // The last read found nothing new and nothing behind: the shard is read to its tip.
  bool caught_up = false;
};

struct KinesisConsumerStatus {
  std::string name;
  std::string stream_name;
  enum class State { kRunning, kStopped, kFailed };
  State state = State::kRunning;
  std::vector<KinesisShardStatus> shards;  // by shard id
  int64_t records_handled = 0;             // Kinesis records (commits), in this run
  int64_t events_handled = 0;              // their events, in this run
  int64_t batches_handled = 0;
  int64_t handler_retries = 0;  // batches handed again after the handler refused them
  int64_t read_retries = 0;     // reads retried after throttling or a failure
  // The largest MillisBehindLatest of the shards being read: how far the consumer trails the
  // stream's tip; -1 when not yet known.
  int64_t millis_behind_latest = -1;
  // Every shard is finished or caught up: everything the stream held is handled.
  bool caught_up = false;
  std::string last_error;  // the last error met, also one that was retried
  std::string error;       // why it stopped, when kFailed
};

const char* StateName(KinesisConsumerStatus::State state);
const char* StateName(KinesisShardStatus::State state);

// The checkpoint name of one shard: "<name>/<stream>/<shard>".
std::string KinesisCheckpointName(const std::string& name, const std::string& stream,
                                  const std::string& shard_id);

// A running consumer on its own thread. Destroying it stops it.
class KinesisConsumer {
 public:
  // Lists the shards and loads their checkpoints, then starts reading. kNotFound when the stream
  // does not exist; kInvalidArgument for unusable options; kCorruption for a stored checkpoint
  // that is not one of ours. `checkpoints` and `handler` must outlive the consumer.
  static Result<std::unique_ptr<KinesisConsumer>> Start(std::shared_ptr<AwsClient> client,
                                                        CheckpointStore& checkpoints,
                                                        EventHandler& handler,
                                                        KinesisConsumerOptions options);
  virtual ~KinesisConsumer() = default;

  // Stops after the batch in hand (its checkpoint saved when the handler took it) and the
  // request in flight. Idempotent; returns at once, the destructor waits for the thread.
  virtual void Stop() = 0;
  virtual KinesisConsumerStatus GetStatus() const = 0;
  // Waits until `count` events have been handled in this run, or the consumer stopped, or
  // `timeout` passed. True when the count was reached.
  virtual bool WaitForEvents(int64_t count, std::chrono::milliseconds timeout) = 0;
};

}  // namespace evs::aws
