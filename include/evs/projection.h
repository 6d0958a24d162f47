// Projections: read models kept up to date from the change feed, with exactly-once effect. Each
// batch of events is applied and the projection's checkpoint saved in one transaction of the
// read model's database (a SQLite file; or a PostgreSQL database, postgres_projection.h), so a
// crash at any moment leaves the read model at a checkpoint it really reached: nothing missing,
// nothing counted twice. A batch applies only the events past the checkpoint it finds in that
// transaction, so runners of one read model in several processes apply each event once.
//
// A read model lives in tables named with a generation suffix ("cart_summaries_g1") behind
// views with the plain names ("cart_summaries"), which readers query. A rebuild fills the next
// generation from position 0 while the current one keeps serving, then swaps the views in one
// transaction.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"
#include "evs/read_model.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

// What a projection defines: its tables and how an event changes them, written through a
// ReadModel (read_model.h). Called on one thread at a time, inside a transaction the runner owns.
//
//   class OpenCarts : public evs::Projection {  // the ids of carts opened
//    public:
//     std::string Name() const override { return "open_carts"; }
//     std::vector<std::string> Tables() const override { return {"carts"}; }
//     evs::Status CreateTables(evs::ReadModel& m) override {
//       return m.Execute("CREATE TABLE IF NOT EXISTS carts" + m.Suffix() + " (id TEXT)");
//     }
//     evs::Status Apply(evs::ReadModel& m, const evs::RecordedEvent& e) override {
//       if (e.type != "CartOpened") return evs::OkStatus();
//       return m.Execute("INSERT INTO carts" + m.Suffix() + " VALUES (?)", {e.stream_id});
//     }
//   };
class Projection {
 public:
  virtual ~Projection() = default;
  // Names the projection's checkpoint and its generations; stable across versions.
  virtual std::string Name() const = 0;
  // The tables' plain names: each is created as <name><suffix> and viewed as <name>.
  virtual std::vector<std::string> Tables() const = 0;
  // Creates the tables (named with `read_model.Suffix()`) if they do not exist.
  virtual Status CreateTables(ReadModel& read_model) = 0;
  // Applies one event to the tables of `read_model.Suffix()`. Events it does not care about are
  // ignored. An error fails the batch (nothing of it stays) and goes to the failure policy.
  virtual Status Apply(ReadModel& read_model, const RecordedEvent& event) = 0;
};

// How a projection's read model is kept (ProjectionRunner::Open, StreamProjectionHandler::Open).
struct ProjectionOptions {
  std::string path;         // the read model's SQLite file (created when absent)
  size_t batch_size = 512;  // events per transaction
  FailurePolicy failure;    // for a batch that fails: retries, then park or stop (subscription.h)
  // Upcasts events before Apply() sees them (upcasting.h): from the live feed, a rebuild and a
  // replay alike. Null: Apply() sees events as stored.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

// Runs a projection from the store's feed into its database. Thread-safe. Open() keeps the read
// model in a SQLite file; OpenPostgresProjectionRunner (postgres_projection.h) in PostgreSQL.
class ProjectionRunner {
 public:
  // Opens (or creates) the read model, creating the first generation's tables and views.
  static Result<std::unique_ptr<ProjectionRunner>> Open(EventStore& store, Projection& projection,
                                                        ProjectionOptions options);
  virtual ~ProjectionRunner() = default;

  // Starts following the feed from the projection's checkpoint.
  virtual Status Start() = 0;
  // Stops following the feed after the batch in hand (its checkpoint saved); Start() goes on
  // from there. Idempotent; the destructor stops too.
  virtual void Stop() = 0;
  // The live subscription's state and counters (subscription.h); when not started or stopped,
  // kStopped, or kFailed with the reason the live subscription could not start. Answers at once,
  // also during a rebuild.
  virtual SubscriptionStatus GetStatus() const = 0;
  // Waits until the read model has applied (or skipped) every position up to `position`, or the
  // runner stopped, or `timeout` passed. True when it got there; false at once when not running.
  virtual bool WaitUntil(int64_t position, std::chrono::milliseconds timeout) = 0;

  // Rebuilds the read model from position 0 into the next generation while the current one
  // keeps serving, then swaps it in. `progress` (may be empty) is called now and then with the
  // position reached and the head.
  virtual Status Rebuild(std::function<void(int64_t position, int64_t head)> progress) = 0;

  // Rebuilds the read model into the next generation from the events `replay` hands to the
  // handler it is given (e.g. ArchiveReader::Replay over an archive, from position 1), then swaps
  // it in; the feed goes on from the last event replayed. On error the current generation stays.
  virtual Status RebuildFrom(const std::function<Status(EventHandler&)>& replay) = 0;

  // The checkpoint's name in the read model's `checkpoints` table (`evs_projection_checkpoints`
  // on PostgreSQL).
  virtual std::string CheckpointName() const = 0;
};

// What a StreamProjectionHandler did since it was opened, counting committed batches only. Kept
// in memory, not in the read model.
struct StreamProjectionStats {
  int64_t applied = 0;  // events applied to the read model
  int64_t skipped = 0;  // events delivered again, already applied
};

// Applies a feed without global positions (a Kinesis consumer, a Lambda batch: only each
// stream's order holds) to a projection's read model, with exactly-once effect: the read model
// keeps the last version applied of each stream, updated in the same transaction as the batch,
// so an event delivered again is skipped, and an event that does not follow its stream's last
// applied version refuses the whole batch (kInvalidArgument: the feed lost events, e.g. it
// started after some were trimmed). The read model is the same one a ProjectionRunner keeps
// (generations behind views), so the same queries read it. Thread-safe.
class StreamProjectionHandler : public EventHandler {
 public:
  // Opens (or creates) the read model at `options.path`; batch_size and failure are not used
  // (the feed decides both).
  static Result<std::unique_ptr<StreamProjectionHandler>> Open(Projection& projection,
                                                               ProjectionOptions options);
  // One transaction per call: every event of the batch applied, or none.
  Status Handle(std::span<const RecordedEvent> batch) override = 0;
  // The counts since Open.
  virtual StreamProjectionStats Stats() const = 0;
  // The last version of `stream_id` applied (0 when none).
  virtual Result<int64_t> AppliedVersion(const std::string& stream_id) = 0;
};

}  // namespace evs
