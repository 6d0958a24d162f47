// The SQLite file behind persistent subscriptions: definitions with their checkpoints, and
// parked events. synchronous=FULL: a checkpoint or a park is on disk when a write returns, and
// a park is written in the same transaction as the checkpoint that passes it, so no crash
// leaves an event neither delivered again nor parked.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "evs/persistent_subscriptions.h"
#include "evs/subscription.h"
#include "store/sqlite.h"

namespace evs::feed {

// A subscription as stored.
struct StoredSubscription {
  std::string name;
  PersistentSubscriptionSettings settings;
  int64_t checkpoint = 0;
};

// Changes of one subscription's state, written in one transaction.
struct SubscriptionWrite {
  explicit SubscriptionWrite(std::string subscription) : name(std::move(subscription)) {}
  std::string name;
  std::vector<ParkedEvent> parks;     // new parked events (attempts = deliveries)
  std::vector<ParkedEvent> reparks;   // retried parked events parked again, by id
  std::vector<int64_t> unparks;       // retried parked events that were acked, by id
  std::optional<int64_t> checkpoint;  // the new checkpoint
  bool empty() const { return parks.empty() && reparks.empty() && unparks.empty() && !checkpoint; }
};

class PersistentSubscriptionFile {
 public:
  static Result<std::unique_ptr<PersistentSubscriptionFile>> Open(const std::string& path);

  Result<std::vector<StoredSubscription>> LoadAll();
  // Creates or replaces the definition; the checkpoint is set only when it is created.
  Status Put(const StoredSubscription& subscription);
  // Removes the subscription and its parked events.
  Status Delete(const std::string& name);
  // Writes every change in one transaction (all or none).
  Status Apply(const std::vector<SubscriptionWrite>& writes);

  Result<std::vector<ParkedEvent>> ListParked(const std::string& name, int64_t after_id,
                                              size_t limit);
  Result<int64_t> CountParked(const std::string& name);
  // Marks parked events (all of the subscription when `ids` is empty) for retry and returns
  // every parked event of it so marked, new or not.
  Result<std::vector<ParkedEvent>> RequestRetry(const std::string& name,
                                                const std::vector<int64_t>& ids);
  // The parked events marked for retry (to resume them after a restart).
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& name);

 private:
  // The statements of Apply, which runs after every ack that moves a checkpoint: prepared once.
  struct ApplyStatements {
    store::Statement park, repark, unpark, checkpoint;
  };
  PersistentSubscriptionFile(store::Database db, ApplyStatements apply)
      : db_(std::move(db)), apply_(std::move(apply)) {}
  Result<std::vector<ParkedEvent>> QueryParked(const std::string& where, const std::string& name,
                                               int64_t after_id, int64_t limit);

  std::mutex mu_;
  store::Database db_;
  ApplyStatements apply_;  // after db_: finalized before the connection closes
};

}  // namespace evs::feed
