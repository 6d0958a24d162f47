// Persistent subscriptions: competing consumers with the state kept by the server, like
// KurrentDB's. A subscription is a named, durable cursor over the embedded log with filters;
// consumers lease events from it, acknowledge (ack) or refuse (nack) them, and the subscription
// keeps a checkpoint: the highest position at or below which every event is acked, parked or
// filtered out.
//
//   * Leases never overlap: an event is leased to one consumer at a time.
//   * Per-stream order: an event is leased only when no earlier event of its stream is leased
//     or waiting to be leased again; so a stream has at most one event in flight.
//   * An event not acked within ack_timeout_ms is leased again; after max_deliveries leases that
//     ended without an ack it is parked (set aside with the reason). Parked events can be
//     retried: they are leased again (outside the stream order) until acked or parked again.
//   * At least once: the checkpoint and the parked events live in a SQLite file (fsync'd on
//     each change); after a restart every matching event after the checkpoint is delivered
//     again, acked or not (parked ones stay parked).
//
// Thread safety: every method may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

// What a persistent subscription delivers, and how.
struct PersistentSubscriptionSettings {
  // Deliver the events after this position. Used when the subscription is created; an update
  // keeps the checkpoint and ignores it.
  int64_t from = 0;
  // Only events of streams in this category: the part of the stream id before its first '-'
  // ("cart-123" is in "cart"; a stream id without '-' is its own category). Empty: all.
  // Without '-', at most 256 bytes.
  std::string category;
  // Only events of these types (empty: all). At most 100 types of at most 256 bytes each.
  std::vector<std::string> event_types;
  // How long a lease lasts before the event can be leased again: 1 .. 3,600,000.
  int64_t ack_timeout_ms = 30000;
  // Leases that may end without an ack (timed out or nacked with retry) before the event is
  // parked: 1 .. 1000.
  int64_t max_deliveries = 10;
};

// A subscription and its state, as List() and Get() report it.
struct PersistentSubscriptionInfo {
  std::string name;                         // its name
  PersistentSubscriptionSettings settings;  // as last put
  int64_t checkpoint = 0;  // every matching event at or below it is acked or parked (durable)
  int64_t head = 0;        // the log's head when looked at
  int64_t in_flight = 0;   // events leased now
  int64_t parked = 0;      // events parked (retried ones included until acked)
};

// One leased event.
struct LeasedEvent {
  RecordedEvent event;     // as stored
  int64_t deliveries = 0;  // how many times it has been leased, this lease included
};

// What Ack() and Nack() did with the positions they were given.
struct AckOutcome {
  int64_t acked = 0;    // Ack: leases ended by the ack
  int64_t retried = 0;  // Nack: events that will be leased again
  int64_t parked = 0;   // Nack: events parked (asked for, or out of deliveries)
  // Positions not leased by this subscription now (unknown, acked, timed out): ignored.
  int64_t ignored = 0;
  int64_t checkpoint = 0;  // the checkpoint afterwards
};

// What a nack asks for.
enum class NackAction {
  kRetry,  // lease it again (parked instead when it is out of deliveries)
  kPark,   // park it now
};

// Limits and where the state lives. Only `path` must be set.
struct PersistentSubscriptionsOptions {
  // The SQLite file of definitions, checkpoints and parked events (created when absent; its
  // folder must exist).
  std::string path;
  size_t max_subscriptions = 100;   // Put() of one more is kLimitExceeded
  size_t max_lease = 1000;          // the most events one Lease() may ask for
  size_t max_ack_positions = 1000;  // the most positions one Ack() or Nack() may name
  // The longest a Lease() may wait for events; longer waits are kInvalidArgument.
  std::chrono::milliseconds max_wait{30000};
  // Matching events read ahead and kept per subscription (leased, waiting or acked above an
  // unacked one). A consumer that holds the oldest one stalls reading ahead beyond it.
  size_t window = 4096;
};

// A subscription's name: 1 to 128 of A-Z a-z 0-9 '_' '-' '.', not starting with '.'.
// kInvalidArgument naming the fault otherwise.
Status ValidatePersistentSubscriptionName(const std::string& name);

// Checks settings against the ranges above: kInvalidArgument naming the field.
Status ValidatePersistentSubscriptionSettings(const PersistentSubscriptionSettings& settings);

// The persistent subscriptions of one embedded store, with a thread that reads ahead, waits for
// the store's head and ends leases that time out.
class PersistentSubscriptions {
 public:
  // Opens (or creates) the file at options.path and resumes every subscription in it from its
  // checkpoint. `store` must outlive the object.
  static Result<std::unique_ptr<PersistentSubscriptions>> Open(
      EventStore& store, PersistentSubscriptionsOptions options);
  // Stops its thread (Shutdown()).
  virtual ~PersistentSubscriptions() = default;

  // Creates the subscription (true) or updates its settings (false). An update that changes the
  // filters forgets the leases in flight (their events are leased again; acks of them are
  // ignored). kInvalidArgument for a bad name or settings, kLimitExceeded past
  // max_subscriptions.
  virtual Result<bool> Put(const std::string& name,
                           const PersistentSubscriptionSettings& settings) = 0;
  // Removes the subscription with its checkpoint and parked events; its waiting leases are
  // answered with no events. kNotFound when there is none.
  virtual Status Delete(const std::string& name) = 0;
  // One subscription; kNotFound when there is none.
  virtual Result<PersistentSubscriptionInfo> Get(const std::string& name) = 0;
  // Every subscription, by name.
  virtual std::vector<PersistentSubscriptionInfo> List() = 0;

  // Called once with the leased events (none when the wait ended first), or an error.
  using LeaseCallback = std::function<void(Result<std::vector<LeasedEvent>>)>;
  // Leases up to `max` events (1 .. max_lease) and calls `done` with them: at once (on this
  // thread) when some are available or `wait` is 0, otherwise when events come or `wait`
  // (0 .. max_wait) ends, on the object's thread. Never blocks. kNotFound for an unknown
  // subscription, kInvalidArgument for `max` or `wait` out of range.
  virtual void Lease(const std::string& name, size_t max, std::chrono::milliseconds wait,
                     LeaseCallback done) = 0;
  // Ends the leases of `positions` (at most max_ack_positions) as handled, and moves the
  // checkpoint over the acked prefix; durable when it returns. A position this subscription
  // has not leased out now is ignored (counted in AckOutcome::ignored).
  virtual Result<AckOutcome> Ack(const std::string& name,
                                 const std::vector<int64_t>& positions) = 0;
  // Ends the leases of `positions` as not handled: `action` says whether they are leased again
  // or parked, with `reason` recorded when parked. Positions not leased now are ignored.
  virtual Result<AckOutcome> Nack(const std::string& name, const std::vector<int64_t>& positions,
                                  NackAction action, const std::string& reason) = 0;

  // Parked events of the subscription, oldest first: at most `limit`, with ids above
  // `after_id`. ParkedEvent::attempts holds the deliveries, `error` the reason.
  virtual Result<std::vector<ParkedEvent>> ListParked(const std::string& name, int64_t after_id,
                                                      size_t limit) = 0;
  // Leases the parked events with these ids (empty: every parked event) again; they stay parked
  // until acked. Returns how many were asked for again; unknown ids are ignored.
  virtual Result<int64_t> RetryParked(const std::string& name, const std::vector<int64_t>& ids) = 0;

  // Answers every waiting Lease() with what it has (usually nothing) and stops the thread:
  // later leases do not wait, and leases no longer time out. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace evs
