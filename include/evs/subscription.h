// Subscriptions: the change feed of the embedded log. A subscription catches up from its
// checkpoint in pages, then goes live, woken by commits; it hands its handler batches of events
// in position order, at least once, and saves its checkpoint after each batch (while catching
// up, at most every SubscriptionOptions::catch_up_checkpoint_interval).
//
// Handlers see batches of recorded events and never parse checkpoints: the same handler runs
// behind this feed, a Kinesis shard consumer, or a Lambda batch (docs/architecture.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/status.h"

namespace evs {

class Upcaster;  // upcasting.h

// Receives the feed. Handle() gets events in order; an error means "not handled": the batch
// is retried (see FailurePolicy). Handlers must tolerate seeing an event again after a failure
// or a restart (at-least-once); projections get exactly-once effect by storing their
// checkpoint in the same transaction as their read model (projection.h).
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  // Handles `batch`, in position order. OK: every event of it is handled. An error: none of it
  // counts as handled, and its events come again (a Subscription hands them over one at a time,
  // see FailurePolicy), so work done on part of the batch is seen again.
  virtual Status Handle(std::span<const RecordedEvent> batch) = 0;
};

// An event a handler kept failing on, set aside with the reason.
struct ParkedEvent {
  int64_t id = 0;  // the parked entry's own id
  // The checkpoint name of the subscription that parked it.
  std::string subscription;
  // The event as stored (not upcast).
  RecordedEvent event;
  // The handler's last error message.
  std::string error;
  // How many times the handler failed on it.
  int attempts = 0;
  // When it was parked: microseconds since the Unix epoch.
  int64_t parked_at_us = 0;
  // RequestRetry() asked for it again, and that retry has not run yet.
  bool retry_requested = false;
};

// Where subscriptions keep their checkpoints and parked events. Thread-safe. The checkpoint is
// opaque text (the embedded log's is a decimal position).
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  // The subscription's last saved checkpoint, or nullopt when it has none.
  virtual Result<std::optional<std::string>> Load(const std::string& subscription) = 0;
  // Replaces the subscription's checkpoint.
  virtual Status Save(const std::string& subscription, const std::string& checkpoint) = 0;

  // Sets `parked` aside under its subscription. The store gives it its id (parked.id is
  // ignored), and the time now when parked_at_us is 0.
  virtual Status Park(const ParkedEvent& parked) = 0;
  // Parked events, of one subscription or (empty name) of all, oldest first: at most `limit`
  // of them, with ids above `after_id` (to page, pass the last id of the page before).
  virtual Result<std::vector<ParkedEvent>> ListParked(const std::string& subscription,
                                                      int64_t after_id, size_t limit) = 0;
  // How many events a subscription (empty name: every one) has parked.
  virtual Result<int64_t> CountParked(const std::string& subscription) = 0;
  // The parked events of `subscription` whose retry was requested, oldest first, at most
  // `limit`: cheap when there are none, as a running subscription asks now and then.
  virtual Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                          size_t limit) = 0;
  // Asks the subscription to deliver the parked event again; kNotFound for an unknown id.
  virtual Status RequestRetry(int64_t parked_id) = 0;
  // Records how a requested retry went, in one step, so that no crash or error can leave the
  // event neither handled nor parked: without `error` the event is removed; with one it stays
  // parked with that error, one more attempt, and its retry request cleared. kNotFound for an
  // unknown id.
  virtual Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) = 0;
  // Removes a parked event (an operator's decision to drop it).
  virtual Status Unpark(int64_t parked_id) = 0;
  // What a subscription last reported of itself (its state's name and, when failed or retrying,
  // the error), for operators who look from another process (`evs subscriptions`). Written when
  // it starts (over what an earlier run left) and when trouble begins, changes or ends; not per
  // batch.
  virtual Status SaveState(const std::string& subscription, const std::string& state,
                           const std::string& error) = 0;
};

// Checkpoints and parked events in a SQLite file of their own (WAL; several processes may open
// it). Created when absent. Times it records (updated, parked) come from `clock` (null:
// SystemClock()).
Result<std::unique_ptr<CheckpointStore>> OpenSqliteCheckpointStore(
    const std::string& path, std::shared_ptr<Clock> clock = nullptr);

// What a subscription does when its handler fails: the batch is handed over again one event at a
// time, each event tried up to max_attempts times with backoff, and one that still fails is
// parked or stops the subscription.
struct FailurePolicy {
  int max_attempts = 5;  // tries of one event before it is parked (or the subscription stops)
  std::chrono::milliseconds initial_backoff{10};  // doubled after each failed try...
  std::chrono::milliseconds max_backoff{2000};    // ...up to this
  // What becomes of an event that failed max_attempts times: kPark sets it aside
  // (CheckpointStore::Park) and goes on; kStop stops the subscription (kFailed), its checkpoint
  // just before the event.
  enum class OnExhausted { kPark, kStop };
  OnExhausted on_exhausted = OnExhausted::kPark;  // what happens after max_attempts failures
};

// What a subscription reads, and how. Only `name` must be set.
struct SubscriptionOptions {
  // The checkpoint's name in the CheckpointStore; it resumes where the last run stopped.
  std::string name;
  // Where to start when the checkpoint store has no checkpoint: events after this position.
  int64_t start_after = 0;
  // Only these event types (empty: all). Skipped events still advance the checkpoint.
  std::vector<std::string> event_types;
  // Only streams whose id starts with this (empty: all).
  std::string stream_prefix;
  // Consumer groups: `group_size` members share the feed by a hash of the stream id (so a
  // stream's events stay in order, with one member); this one is `group_member` (0-based). Each
  // member keeps its own checkpoint, "<name>#<member>/<size>".
  int group_size = 1;
  int group_member = 0;  // this member's number, 0 .. group_size - 1
  // Events read per page (measured best for catch-up at 2048-4096).
  size_t batch_size = 2048;
  // How often the checkpoint is saved while catching up (more than batch_size events behind the
  // head): after a batch only once this long has passed since the last save. A batch that comes
  // within batch_size of the head, one that parked events, reaching the head, Stop() and a
  // failure always save it; zero saves after every batch. After a crash, up to this much of the
  // catch-up is delivered again (at-least-once either way). GetStatus() and WaitUntil() count
  // what was handled, saved or not.
  std::chrono::milliseconds catch_up_checkpoint_interval{100};
  // How long a live subscription waits for a commit before it looks again (for Stop()); also
  // how often it looks for parked events whose retry was requested, idle or busy.
  std::chrono::milliseconds idle_wait{200};
  FailurePolicy failure;  // what happens when the handler fails
  // When events are parked, by this clock. Null: SystemClock().
  std::shared_ptr<Clock> clock;
  // Upcasts events before the handler sees them (upcasting.h); retired types are not delivered
  // but advance the checkpoint. Parked events keep their stored bytes and are upcast again on
  // retry. Null: the handler sees events as stored.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

// What a subscription is doing, as GetStatus() reports it.
struct SubscriptionStatus {
  std::string name;  // the checkpoint's name ("<name>#<member>/<size>" in a group)
  // kCatchingUp: reading pages of the log behind the head; kLive: at the head, woken by commits;
  // kStopped: Stop() was called; kFailed: stopped by the FailurePolicy (kStop) or by a checkpoint
  // that could not be saved (`error` says which). kRetrying: reading the log (or waiting for
  // commits) keeps failing; the subscription backs off (FailurePolicy's backoff) and tries again,
  // and goes on where it was once the store answers (`error` says what fails, how many times in a
  // row and since when).
  enum class State { kCatchingUp, kLive, kRetrying, kStopped, kFailed };
  // What it is doing now.
  State state = State::kCatchingUp;
  int64_t checkpoint = 0;         // the last position handled (or skipped)
  int64_t head = 0;               // the log's head when last looked at
  int64_t parked = 0;             // events parked by this subscription, in this run and before
  int64_t delivered = 0;          // events handed to the handler in this run
  std::string error;              // why it stopped (kFailed) or what it is retrying (kRetrying)
  int64_t read_failures = 0;      // reads of the log (or waits) that failed in a row (kRetrying)
  int64_t retrying_since_us = 0;  // when the first of them failed, by the options' clock
};

// The state's name as operators see it (`evs subscriptions`, CheckpointStore::SaveState):
// "catching_up", "live", "retrying", "stopped" or "failed".
const char* StateName(SubscriptionStatus::State state);

// A running subscription on its own thread. Destroying it stops it.
class Subscription {
 public:
  // Starts delivering to `handler`. `store`, `checkpoints` and `handler` must outlive it.
  static Result<std::unique_ptr<Subscription>> Start(EventStore& store,
                                                     CheckpointStore& checkpoints,
                                                     EventHandler& handler,
                                                     SubscriptionOptions options);
  virtual ~Subscription() = default;

  // Stops after the batch in hand (the checkpoint of every batch handled saved). Idempotent.
  virtual void Stop() = 0;
  // Its state and counters now. Thread-safe.
  virtual SubscriptionStatus GetStatus() const = 0;
  // Waits until the subscription has handled (or skipped) every position up to `position`, or
  // it stopped, or `timeout` passed. True when it got there.
  virtual bool WaitUntil(int64_t position, std::chrono::milliseconds timeout) = 0;
};

}  // namespace evs
