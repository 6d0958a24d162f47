// Runs a Projection from the feed: one transaction per batch with the checkpoint inside,
// generations behind views, rebuild beside the live generation.
#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <mutex>
#include <vector>

#include "evs/projection.h"
#include "evs/upcasting.h"
#include "feed/read_model.h"
#include "feed/sqlite_read_model.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::Database;

using feed::GenerationSuffix;

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
  Runner(EventStore& store, Projection& projection, ProjectionOptions options, Database db,
         std::unique_ptr<CheckpointStore> checkpoints)
      : store_(store),
        projection_(projection),
        options_(std::move(options)),
        model_(std::move(db)),
        checkpoints_(std::move(checkpoints)) {}

  ~Runner() override { Stop(); }

  Status Init() {
    std::lock_guard guard(db_mu_);
    auto generation = feed::OpenCurrentGeneration(model_, projection_);
    if (!generation.ok()) return generation.error();
    generation_ = *generation;
    auto save = model_.db().Prepare(
        "INSERT INTO checkpoints(subscription, checkpoint, updated_at_us) VALUES (?, ?, 0) "
        "ON CONFLICT(subscription) DO UPDATE SET checkpoint = excluded.checkpoint");
    if (!save) return save.error();
    save_checkpoint_ = std::move(save).value();
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

  // One batch, one transaction: the events and the checkpoint together.
  Status ApplyBatch(int64_t generation, std::span<const RecordedEvent> batch) {
    std::lock_guard guard(db_mu_);
    Database& db = model_.db();
    if (auto s = db.Exec("BEGIN IMMEDIATE"); !s) return s;
    model_.SetSuffix(GenerationSuffix(generation));
    RecordedEvent scratch;
    for (const RecordedEvent& e : batch) {
      Result<const RecordedEvent*> current = &e;
      if (options_.upcaster) current = options_.upcaster->UpcastOrKeep(e, scratch);
      Status s = current.ok() ? OkStatus() : Status(current.error());
      // A retired event (null) is not applied; the checkpoint passes it all the same.
      if (s.ok() && *current != nullptr) s = projection_.Apply(model_, **current);
      if (!s.ok()) {
        (void)db.Exec("ROLLBACK");
        return s;
      }
    }
    const std::string name = NameFor(generation);
    save_checkpoint_.Bind(1, name);
    const std::string position = std::to_string(batch.back().position);
    save_checkpoint_.Bind(2, position);
    if (save_checkpoint_.Step() != SQLITE_DONE) {
      Error error = save_checkpoint_.LastError("saving the projection's checkpoint");
      save_checkpoint_.Reset();
      (void)db.Exec("ROLLBACK");
      return error;
    }
    save_checkpoint_.Reset();
    if (auto s = db.Exec("COMMIT"); !s) {
      (void)db.Exec("ROLLBACK");
      return s;
    }
    return OkStatus();
  }

 private:
  // Empty tables and a zero checkpoint for `generation`.
  Status PrepareGeneration(int64_t generation) {
    {
      std::lock_guard db_guard(db_mu_);
      Database& db = model_.db();
      for (const auto& table : projection_.Tables()) {
        if (auto s = db.Exec("DROP TABLE IF EXISTS " + table + GenerationSuffix(generation)); !s)
          return s;
      }
      model_.SetSuffix(GenerationSuffix(generation));
      if (auto s = projection_.CreateTables(model_); !s) return s;
    }
    return checkpoints_->Save(NameFor(generation), "0");
  }

  // Points the views at `next`, drops the current generation and goes live on `next`. Called
  // with run_mu_ held and the live subscription stopped.
  Status SwapTo(int64_t next) {
    {
      std::lock_guard db_guard(db_mu_);
      Database& db = model_.db();
      if (auto s = db.Exec("BEGIN IMMEDIATE"); !s) return s;
      Status swapped = feed::PointViewsAt(db, projection_, next);
      for (const auto& table : projection_.Tables()) {
        if (swapped.ok())
          swapped = db.Exec("DROP TABLE IF EXISTS " + table + GenerationSuffix(generation_));
      }
      if (!swapped.ok() || !(swapped = db.Exec("COMMIT")).ok()) {
        (void)db.Exec("ROLLBACK");
        return WithLiveRestarted(swapped.error());
      }
      // The dropped generation's statements would never run again.
      model_.ClearStatements();
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
  const ProjectionOptions options_;
  std::mutex db_mu_;  // the connection is used by one thread at a time
  feed::SqliteReadModel model_;
  store::Statement save_checkpoint_;
  std::unique_ptr<CheckpointStore> checkpoints_;
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

Result<std::unique_ptr<ProjectionRunner>> ProjectionRunner::Open(EventStore& store,
                                                                 Projection& projection,
                                                                 ProjectionOptions options) {
  // The checkpoint store creates the file and its checkpoints table first.
  auto checkpoints = OpenSqliteCheckpointStore(options.path);
  if (!checkpoints.ok()) return checkpoints.error();
  auto db = Database::Open(options.path, /*read_only=*/false);
  if (!db) return db.error();
  if (auto s = db->Exec("PRAGMA synchronous = NORMAL"); !s) return s.error();
  auto runner = std::make_unique<Runner>(store, projection, std::move(options),
                                         std::move(db).value(), std::move(checkpoints).value());
  if (auto s = runner->Init(); !s) return s.error();
  return std::unique_ptr<ProjectionRunner>(std::move(runner));
}

}  // namespace evs
