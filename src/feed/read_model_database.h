// The database under a ProjectionRunner (a SQLite file, a PostgreSQL database): what the runner
// needs of it besides the ReadModel that projections write through. One runner core keeps the
// batches, the generations, the checkpoints and the failure policy for every such database
// (projection_runner.cc); each database says only how it begins, locks and names things.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "evs/projection.h"
#include "evs/read_model.h"
#include "evs/status.h"
#include "evs/subscription.h"
#include "evs/upcasting.h"

namespace evs::feed {

// Used by one thread at a time (the runner holds a mutex around every call).
class ReadModelDatabase {
 public:
  virtual ~ReadModelDatabase() = default;

  // What the projection writes through; it writes the generation of the last SetSuffix.
  virtual ReadModel& model() = 0;
  virtual void SetSuffix(std::string suffix) = 0;
  // Forgets the statements kept prepared, e.g. of a generation whose tables were dropped.
  virtual void ClearStatements() = 0;

  // Creates the runner's own tables if absent, reads the projection's generation in use (1 when
  // none is recorded), creates that generation's tables and points the views at them; safe while
  // other processes open the same read model.
  virtual Result<int64_t> OpenCurrentGeneration(Projection& projection) = 0;

  // A transaction of the runner: Begin, then Commit or Rollback (which never fails the caller).
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  // What a batch finds when it starts.
  struct Locked {
    int64_t checkpoint = 0;  // the checkpoint's position (0 when it has none)
    int64_t generation = 1;  // the projection's generation in use (1 when none is recorded)
  };
  // Inside a transaction: reads checkpoint `name` and the generation in use, and locks the
  // checkpoint until the transaction ends, so that a runner of the same checkpoint in another
  // process waits for this batch and then sees its checkpoint.
  virtual Result<Locked> LockCheckpoint(const std::string& name, Projection& projection) = 0;
  // Sets checkpoint `name` to `position`, inside a transaction or on its own.
  virtual Status SaveCheckpoint(const std::string& name, int64_t position) = 0;

  // Runs one statement of the runner's own (DROP TABLE IF EXISTS ...).
  virtual Status Exec(const std::string& sql) = 0;
  // Inside a transaction: points the projection's views at `generation`'s tables and records it
  // as the one in use.
  virtual Status PointViewsAt(Projection& projection, int64_t generation) = 0;
};

// What the runner core takes of ProjectionOptions (and of the PostgreSQL runner's options).
struct RunnerOptions {
  size_t batch_size = 512;
  FailurePolicy failure;
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

// A runner over `db`. `checkpoints` is what its subscriptions load their checkpoints from (the
// same ones that LockCheckpoint reads: saved in the batches' transactions) and where they park
// events and report their states. Each batch applies only the events past the checkpoint it
// finds locked (and parked events whose retry was asked for), so runners of one read model in
// several processes apply every event once.
Result<std::unique_ptr<ProjectionRunner>> OpenProjectionRunner(
    EventStore& store, Projection& projection, RunnerOptions options,
    std::unique_ptr<ReadModelDatabase> db, std::unique_ptr<CheckpointStore> checkpoints);

// The ReadModelDatabase of a SQLite read model: the connection's file, with the checkpoints in
// its `checkpoints` table (OpenSqliteCheckpointStore's) and generations in projection_meta.
Result<std::unique_ptr<ReadModelDatabase>> OpenSqliteReadModelDatabase(const std::string& path);

}  // namespace evs::feed
