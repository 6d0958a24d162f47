// Runs a Projection from the feed: one transaction per batch with the checkpoint inside,
// generations behind views, rebuild beside the live generation. The same core runs over every
// read model database (read_model_database.h): a SQLite file, a PostgreSQL database.
#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "evs/projection.h"
#include "evs/upcasting.h"
#include "feed/forwarding_checkpoint_store.h"
#include "feed/read_model.h"
#include "feed/read_model_database.h"

namespace evs::feed {
namespace {

// The runner's checkpoint store: passes every call on, and remembers which parked events are
// being delivered again, so that a batch applies them although they lie at or below its
// checkpoint (a batch skips every other such event: another runner applied it).
class RetryTracking final : public ForwardingCheckpointStore {
 public:
  explicit RetryTracking(std::unique_ptr<CheckpointStore> next)
      : ForwardingCheckpointStore(std::move(next)) {}

  // Whether `position` of `subscription` is a parked event whose retry is being delivered.
  bool Retrying(const std::string& subscription, int64_t position) const {
    std::lock_guard guard(mu_);
    for (const auto& [id, retry] : retries_) {
      if (retry.first == subscription && retry.second == position) return true;
    }
    return false;
  }

  // A subscription asks for these, then hands each to the handler and finishes it.
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                  size_t limit) override {
    auto parked = ForwardingCheckpointStore::RetryRequested(subscription, limit);
    if (parked.ok()) {
      std::lock_guard guard(mu_);
      for (const ParkedEvent& p : *parked) retries_[p.id] = {subscription, p.event.position};
    }
    return parked;
  }
  Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) override {
    {
      std::lock_guard guard(mu_);
      retries_.erase(parked_id);
    }
    return ForwardingCheckpointStore::FinishRetry(parked_id, error);
  }

 private:
  mutable std::mutex mu_;
  std::map<int64_t, std::pair<std::string, int64_t>> retries_;  // parked id -> name, position
};

class Runner;

// Passes events on while they run densely from position 1, and remembers the last.
class DenseFromStart final : public EventHandler {
 public:
  explicit DenseFromStart(EventHandler& next) : next_(next) {}
  Status Handle(std::span<const RecordedEvent> batch) override {
    for (const RecordedEvent& e : batch) {
      if (e.position != last_position_ + 1) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "a rebuild needs every event from position 1; got position " +
                               std::to_string(e.position) + " where " +
                               std::to_string(last_position_ + 1) + " belongs");
      }
      last_position_ = e.position;
      last_id_ = e.id;
    }
    // Markers of scavenged events keep the positions dense; the projection does not see them.
    auto is_marker = [](const RecordedEvent& e) { return e.type == kScavengedEventType; };
    if (std::none_of(batch.begin(), batch.end(), is_marker)) return next_.Handle(batch);
    std::vector<RecordedEvent> events;
    std::copy_if(batch.begin(), batch.end(), std::back_inserter(events),
                 [&](const RecordedEvent& e) { return !is_marker(e); });
    return events.empty() ? OkStatus() : next_.Handle(events);
  }
  int64_t last_position() const { return last_position_; }
  const Uuid& last_id() const { return last_id_; }

 private:
  EventHandler& next_;
  int64_t last_position_ = 0;
  Uuid last_id_;
};

// Applies batches to one generation of the read model.
class GenerationHandler final : public EventHandler {
 public:
  GenerationHandler(Runner& runner, int64_t generation)
      : runner_(runner), generation_(generation) {}
  Status Handle(std::span<const RecordedEvent> batch) override;

 private:
  Runner& runner_;
  const int64_t generation_;
};

class Runner final : public ProjectionRunner {
 public:
  Runner(EventStore& store, Projection& projection, RunnerOptions options,
         std::unique_ptr<ReadModelDatabase> db, std::unique_ptr<CheckpointStore> checkpoints)
      : store_(store),
        projection_(projection),
        options_(std::move(options)),
        db_(std::move(db)),
        checkpoints_(std::make_unique<RetryTracking>(std::move(checkpoints))) {}

  ~Runner() override { Stop(); }

  Status Init() {
    std::lock_guard guard(db_mu_);
    auto generation = db_->OpenCurrentGeneration(projection_);
    if (!generation.ok()) return generation.error();
    generation_ = *generation;
    return OkStatus();
  }

  Status Start() override {
    std::lock_guard guard(run_mu_);
    return StartLive();
  }

  void Stop() override {
    std::lock_guard guard(run_mu_);
    StopLive();
  }

  // Answers at once, also during a rebuild or while another thread waits.
  SubscriptionStatus GetStatus() const override {
    std::lock_guard guard(state_mu_);
    if (live_) return live_->subscription->GetStatus();
    SubscriptionStatus stopped;
    stopped.name = NameFor(generation_);
    stopped.state = live_error_.empty() ? SubscriptionStatus::State::kStopped
                                        : SubscriptionStatus::State::kFailed;
    stopped.error = live_error_;
    return stopped;
  }

  bool WaitUntil(int64_t position, std::chrono::milliseconds timeout) override {
    std::shared_ptr<Live> live;
    {
      std::lock_guard guard(state_mu_);
      live = live_;
    }
    return live && live->subscription->WaitUntil(position, timeout);
  }

  std::string CheckpointName() const override { return NameFor(generation_); }

  Status Rebuild(std::function<void(int64_t, int64_t)> progress) override {
    std::lock_guard guard(run_mu_);
    const int64_t next = generation_ + 1;
    if (auto s = PrepareGeneration(next); !s) return s;
    GenerationHandler handler(*this, next);
    SubscriptionOptions o;
    o.name = NameFor(next);
    o.batch_size = options_.batch_size;
    o.failure = options_.failure;
    auto builder = Subscription::Start(store_, *checkpoints_, handler, o);
    if (!builder.ok()) return builder.error();
    // Catch up while the current generation keeps serving; then stop it, finish the last few
    // events and swap.
    for (bool live_stopped = false;;) {
      auto head = store_.HeadPosition();
      if (!head.ok()) return WithLiveRestarted(head.error());
      if ((*builder)->WaitUntil(*head, std::chrono::milliseconds(500))) {
        if (live_stopped) break;
        StopLive();
        live_stopped = true;
        continue;
      }
      auto status = (*builder)->GetStatus();
      if (status.state == SubscriptionStatus::State::kFailed) {
        return WithLiveRestarted(
            Error::Make(ErrorCode::kIOError, "the rebuild stopped: " + status.error));
      }
      if (progress) progress(status.checkpoint, *head);
    }
    const int64_t reached = (*builder)->GetStatus().checkpoint;
    builder->reset();
    if (progress) progress(reached, reached);
    return SwapTo(next);
  }

  Status RebuildFrom(const std::function<Status(EventHandler&)>& replay) override {
    std::lock_guard guard(run_mu_);
    const int64_t next = generation_ + 1;
    if (auto s = PrepareGeneration(next); !s) return s;
    GenerationHandler generation(*this, next);
    DenseFromStart handler(generation);
    if (auto s = replay(handler); !s) return s;
    // The feed goes on from the last event replayed: the store must hold that very event, or the
    // read model would mix two histories (an archive of another store, or of an earlier one).
    if (handler.last_position() > 0) {
      auto page = store_.ReadLog(handler.last_position() - 1, 1);
      if (!page.ok()) return page.error();
      if (page->events.empty() || page->events.front().position != handler.last_position() ||
          page->events.front().id != handler.last_id()) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "the replayed events end at position " +
                               std::to_string(handler.last_position()) + " with event " +
                               handler.last_id().ToString() +
                               ", which the store does not hold there: they come from another "
                               "history; the read model was left as it was");
      }
    }
    StopLive();
    return SwapTo(next);
  }

  // One batch, one transaction: the events and the checkpoint together. The checkpoint is
  // locked first, and events at or below it are skipped: another process's runner applied them
  // (parked events delivered again are the exception: they lie below it by nature).
  Status ApplyBatch(int64_t generation, std::span<const RecordedEvent> batch) {
    std::lock_guard guard(db_mu_);
    if (auto s = db_->Begin(); !s) return s;
    const std::string name = NameFor(generation);
    auto fail = [&](Status s) {
      db_->Rollback();
      return s;
    };
    auto locked = db_->LockCheckpoint(name, projection_);
    if (!locked.ok()) return fail(locked.error());
    // Another process swapped in a newer generation and dropped this one: nothing to apply to.
    const bool superseded = locked->generation > generation;
    db_->SetSuffix(GenerationSuffix(generation));
    RecordedEvent scratch;
    for (const RecordedEvent& e : batch) {
      if (superseded) break;
      if (e.position <= locked->checkpoint && !checkpoints_->Retrying(name, e.position)) continue;
      Result<const RecordedEvent*> current = &e;
      if (options_.upcaster) current = options_.upcaster->UpcastOrKeep(e, scratch);
      Status s = current.ok() ? OkStatus() : Status(current.error());
      // A retired event (null) is not applied; the checkpoint passes it all the same.
      if (s.ok() && *current != nullptr) s = projection_.Apply(db_->model(), **current);
      if (!s.ok()) return fail(s);
    }
    const int64_t reached = std::max(locked->checkpoint, batch.back().position);
    if (auto s = db_->SaveCheckpoint(name, reached); !s) return fail(s);
    if (auto s = db_->Commit(); !s) return fail(s);
    return OkStatus();
  }

 private:
  // Empty tables and a zero checkpoint for `generation`.
  Status PrepareGeneration(int64_t generation) {
    std::lock_guard db_guard(db_mu_);
    for (const auto& table : projection_.Tables()) {
      if (auto s = db_->Exec("DROP TABLE IF EXISTS " + table + GenerationSuffix(generation)); !s)
        return s;
    }
    db_->SetSuffix(GenerationSuffix(generation));
    if (auto s = projection_.CreateTables(db_->model()); !s) return s;
    return db_->SaveCheckpoint(NameFor(generation), 0);
  }

  // Points the views at `next`, drops the current generation and goes live on `next`. Called
  // with run_mu_ held and the live subscription stopped.
  Status SwapTo(int64_t next) {
    {
      std::lock_guard db_guard(db_mu_);
      if (auto s = db_->Begin(); !s) return WithLiveRestarted(s.error());
      Status swapped = db_->PointViewsAt(projection_, next);
      for (const auto& table : projection_.Tables()) {
        if (swapped.ok())
          swapped = db_->Exec("DROP TABLE IF EXISTS " + table + GenerationSuffix(generation_));
      }
      if (!swapped.ok() || !(swapped = db_->Commit()).ok()) {
        db_->Rollback();
        return WithLiveRestarted(swapped.error());
      }
      // The dropped generation's statements would never run again.
      db_->ClearStatements();
    }
    generation_ = next;
    return StartLive();
  }

  std::string NameFor(int64_t generation) const {
    return "projection:" + projection_.Name() + GenerationSuffix(generation);
  }

  // Called with run_mu_ held. A live subscription that cannot start leaves the runner failed
  // with the reason (GetStatus), as well as returning it.
  Status StartLive() {
    StopLive();
    auto live = std::make_shared<Live>();
    live->handler = std::make_unique<GenerationHandler>(*this, generation_);
    SubscriptionOptions o;
    o.name = NameFor(generation_);
    o.batch_size = options_.batch_size;
    o.failure = options_.failure;
    auto s = Subscription::Start(store_, *checkpoints_, *live->handler, o);
    std::lock_guard guard(state_mu_);
    if (!s.ok()) {
      live_error_ = "the live projection could not start: " + s.error().message;
      return s.error();
    }
    live_error_.clear();
    live->subscription = std::move(s).value();
    live_ = std::move(live);
    return OkStatus();
  }

  // Called with run_mu_ held: stops the live subscription (a waiter in WaitUntil returns) and
  // drops it once nobody waits on it.
  void StopLive() {
    std::shared_ptr<Live> live;
    {
      std::lock_guard guard(state_mu_);
      live.swap(live_);
    }
    if (live) live->subscription->Stop();
  }

  // `failure` after restarting the live subscription on the current generation; when that
  // fails too, the error says both.
  Error WithLiveRestarted(Error failure) {
    if (auto s = StartLive(); !s) {
      failure.message += "; and the live projection could not start again: " + s.error().message;
    }
    return failure;
  }

  EventStore& store_;
  Projection& projection_;
  const RunnerOptions options_;
  std::mutex db_mu_;  // the database is used by one thread at a time
  const std::unique_ptr<ReadModelDatabase> db_;
  const std::unique_ptr<RetryTracking> checkpoints_;
  // Start, Stop and rebuilds one at a time; held through a whole rebuild.
  std::mutex run_mu_;
  // The live subscription and why it could not start: held only for moments, so that status
  // calls answer during a rebuild.
  mutable std::mutex state_mu_;
  // Changed only with run_mu_ held, read by status calls without it.
  std::atomic<int64_t> generation_{1};
  // The live subscription with its handler, which must outlive it: shared with waiters, so
  // the last of them to let go stops it.
  struct Live {
    std::unique_ptr<GenerationHandler> handler;
    std::unique_ptr<Subscription> subscription;
    ~Live() { subscription.reset(); }  // joins its thread before the handler goes
  };
  std::shared_ptr<Live> live_;
  std::string live_error_;
};

Status GenerationHandler::Handle(std::span<const RecordedEvent> batch) {
  return runner_.ApplyBatch(generation_, batch);
}

}  // namespace

Result<std::unique_ptr<ProjectionRunner>> OpenProjectionRunner(
    EventStore& store, Projection& projection, RunnerOptions options,
    std::unique_ptr<ReadModelDatabase> db, std::unique_ptr<CheckpointStore> checkpoints) {
  auto runner = std::make_unique<Runner>(store, projection, std::move(options), std::move(db),
                                         std::move(checkpoints));
  if (auto s = runner->Init(); !s) return s.error();
  return std::unique_ptr<ProjectionRunner>(std::move(runner));
}

}  // namespace evs::feed

namespace evs {

Result<std::unique_ptr<ProjectionRunner>> ProjectionRunner::Open(EventStore& store,
                                                                 Projection& projection,
                                                                 ProjectionOptions options) {
  // The checkpoint store creates the file and its checkpoints table first.
  auto checkpoints = OpenSqliteCheckpointStore(options.path);
  if (!checkpoints.ok()) return checkpoints.error();
  auto db = feed::OpenSqliteReadModelDatabase(options.path);
  if (!db.ok()) return db.error();
  feed::RunnerOptions o;
  o.batch_size = options.batch_size;
  o.failure = options.failure;
  o.upcaster = std::move(options.upcaster);
  return feed::OpenProjectionRunner(store, projection, std::move(o), std::move(db).value(),
                                    std::move(checkpoints).value());
}

}  // namespace evs
