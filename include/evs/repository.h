// The repository: fetch(id) and store(aggregate), and a command helper that loads, decides and
// stores with a bounded retry on version conflicts.
//
// Stored events are upcast to the code's shapes before they are applied (options.upcaster,
// upcasting.h). With a snapshot store (options.snapshots, snapshot.h) and a Snapshottable
// aggregate (aggregate.h), a fetch starts from the stream's snapshot when it is usable and reads
// only the events after it; a snapshot that is missing, damaged, of another state version or
// taken from another history is ignored, the aggregate is rebuilt from its events, and the
// snapshot is replaced. Snapshot failures never fail a fetch or a store: snapshots are a cache.
//
// T is an AggregateRoot (aggregate.h says what that needs, and why). A copyable T is cached
// (RepositoryOptions::cache_capacity); a move-only T never is: each Fetch reads its stream.
//
// Thread safety: a Repository may be shared by any number of threads; aggregates it returns are
// copies owned by the caller.
#pragma once

#include <concepts>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "evs/aggregate.h"
#include "evs/aggregate_cache.h"
#include "evs/event_store.h"
#include "evs/snapshot.h"
#include "evs/status.h"
#include "evs/upcasting.h"

namespace evs {

// The settings of a Repository, copied when it is made.
struct RepositoryOptions {
  // Aggregates kept in memory (copyable ones: see above); 0 disables the cache.
  size_t cache_capacity = 100000;
  // Command attempts after the first when the store reports a version conflict.
  int max_conflict_retries = 10;
  // Events read per page when rebuilding an aggregate.
  size_t read_page_size = 1000;
  // When > 0, Execute() and Create() take one of this many locks (chosen by the aggregate id)
  // for the whole load-decide-store, so that commands on one aggregate from this process run
  // one after another instead of conflicting and retrying. Commands from other processes still
  // meet as conflicts. 0 = no locks.
  size_t command_lock_stripes = 0;
  // Upcasts stored events before they are decoded. Null: every event must be stored at its
  // struct's schema version (others are errors naming the stream and version).
  std::shared_ptr<const Upcaster> upcaster = nullptr;
  // Where snapshots are kept; null: none. Used only for Snapshottable aggregates.
  std::shared_ptr<SnapshotStore> snapshots = nullptr;
  // Saves a snapshot whenever an aggregate is this many events past its last snapshot, after a
  // Store() or a Fetch() that read them. 0 (the default): only SaveSnapshot() saves.
  int64_t snapshot_every = 0;
};

// What the repository did with snapshots since it was made.
struct RepositorySnapshotStats {
  int64_t used = 0;     // fetches that started from a snapshot
  int64_t ignored = 0;  // snapshots found and not used (damaged, other version or history)
  int64_t saved = 0;    // snapshots saved (by SaveSnapshot() or by the snapshot_every policy)
  int64_t failed = 0;   // loads or saves that failed (the fetch or store went on without)
};

// Fetches aggregates of type T from an EventStore and stores their new events (see above).
template <class T>
class Repository {
  static_assert(internal::DerivesFromAggregate<T>,
                "Repository<T>: T must derive from evs::Aggregate<T, Types> (evs/aggregate.h)");
  static_assert(internal::HasCategory<T>,
                "Repository<T>: T needs `static constexpr std::string_view kCategory`, the "
                "category of its streams (evs/aggregate.h)");
  static_assert(internal::ConstructibleFromId<T>,
                "Repository<T>: T needs a public constructor from its id, a std::string: Fetch "
                "and Create start from T(id) (evs/aggregate.h)");
  static_assert(internal::HasApply<T>,
                "Repository<T>: T needs `void Apply(const Event&)`, public or private with "
                "`friend Aggregate;` in T (evs/aggregate.h)");
  static_assert(internal::HasStorableEvents<T>,
                "Repository<T>: every event struct needs a kType and to_json and from_json for "
                "nlohmann::json (evs/event_types.h)");
  static_assert(std::move_constructible<T>, "Repository<T>: T must be move-constructible");

  // The cache hands out copies: a move-only aggregate is rebuilt on every fetch instead.
  static constexpr bool kCached = std::copyable<T>;

 public:
  // A repository on `store`, which must outlive it.
  explicit Repository(EventStore& store, RepositoryOptions options = {})
      : store_(store),
        options_(options),
        cache_(options.cache_capacity),
        command_locks_(options.command_lock_stripes > 0
                           ? std::make_unique<std::mutex[]>(options.command_lock_stripes)
                           : nullptr),
        async_turns_(options.command_lock_stripes > 0
                         ? std::make_unique<AsyncTurns[]>(options.command_lock_stripes)
                         : nullptr) {}

  // The aggregate rebuilt from every event of its stream (or from its snapshot and the events
  // after it), or kNotFound. Served from the cache when the cached copy is at the stream's
  // version; caught up from the store when behind.
  Result<T> Fetch(const std::string& id) {
    const std::string stream = T::StreamIdFor(id);
    auto head = store_.StreamVersion(stream);
    if (!head.ok()) return head.error();
    std::optional<T> aggregate;
    if constexpr (kCached) aggregate = cache_.Get(id);
    if (aggregate && aggregate->version() == *head) return std::move(*aggregate);
    // The snapshot's version, when the first event read must be the one it was taken after.
    int64_t check_snapshot_at = 0;
    if (!aggregate) {
      if (*head == 0) return NotFound(id);
      aggregate = LoadSnapshot(id, stream, *head);
      if (aggregate) {
        check_snapshot_at = aggregate->version();
      } else {
        aggregate.emplace(id);
      }
    }
    ReadStreamOptions read;
    read.limit = options_.read_page_size;
    read.from = check_snapshot_at > 0 ? check_snapshot_at : aggregate->version() + 1;
    for (;;) {
      auto page = store_.ReadStream(stream, read);
      if (!page.ok()) {
        if (page.error().code == ErrorCode::kNotFound) return NotFound(id);
        return page.error();
      }
      std::span<RecordedEvent> events(page->events);
      if (check_snapshot_at > 0) {
        check_snapshot_at = 0;
        if (events.empty() || events.front().version != aggregate->version() ||
            events.front().id != aggregate->last_event_id_) {
          // The stream is not the history the snapshot was taken from: start over from its events.
          CountSnapshot(&RepositorySnapshotStats::ignored);
          aggregate.emplace(id);
          aggregate->snapshot_unusable_ = true;
          read.from = 1;
          continue;
        }
        CountSnapshot(&RepositorySnapshotStats::used);
        events = events.subspan(1);
      }
      for (RecordedEvent& recorded : events) {
        if (Status s = ApplyRecorded(*aggregate, recorded); !s.ok()) return s.error();
      }
      if (page->end_of_stream || page->events.empty()) break;
      read.from = aggregate->version() + 1;
    }
    if (aggregate->version() == 0) return NotFound(id);
    MaybeSaveSnapshot(*aggregate);
    if constexpr (kCached) cache_.Put(*aggregate);
    return std::move(*aggregate);
  }

  // The aggregate as it stood after the event at `version` of its stream: rebuilt from the
  // stream's events 1 to `version` (upcast as Fetch does), never from the cache or a snapshot,
  // which hold only the latest state. For history views ("time travel"). kNotFound when the
  // stream has no events; kInvalidArgument when `version` is below 1 or past the stream's
  // version. Versions outside the stream's bounds (truncated, max_count) read as not there: the
  // fold starts at the first event the stream still returns.
  Result<T> FetchAt(const std::string& id, int64_t version) {
    const std::string stream = T::StreamIdFor(id);
    auto head = store_.StreamVersion(stream);
    if (!head.ok()) return head.error();
    if (*head == 0) return NotFound(id);
    if (version < 1 || version > *head) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "version " + std::to_string(version) + " is not one of " +
                             std::string(T::kCategory) + " '" + id + "', which has versions 1 to " +
                             std::to_string(*head));
    }
    T aggregate(id);
    ReadStreamOptions read;
    read.limit = options_.read_page_size;
    read.from = 1;
    while (aggregate.version() < version) {
      auto page = store_.ReadStream(stream, read);
      if (!page.ok()) {
        if (page.error().code == ErrorCode::kNotFound) return NotFound(id);
        return page.error();
      }
      for (RecordedEvent& recorded : page->events) {
        if (recorded.version > version) break;
        if (Status s = ApplyRecorded(aggregate, recorded); !s.ok()) return s.error();
      }
      if (page->end_of_stream || page->events.empty()) break;
      read.from = page->events.back().version + 1;
    }
    if (aggregate.version() == 0) return NotFound(id);
    return aggregate;
  }

  // Appends the pending changes, expecting the stream at the version the aggregate was loaded
  // at (no stream for a new one). Returns the clean aggregate at its new version. A conflict is
  // kWrongExpectedVersion and the cached copy is dropped, so the next Fetch reads fresh state.
  Result<T> Store(T aggregate, const std::string& metadata = "{}") {
    if (aggregate.pending().empty()) return aggregate;
    auto events = EncodePending(aggregate, metadata);
    if (!events.ok()) return events.error();
    const Uuid last_event_id = events->back().id;
    auto result = store_.Append(aggregate.stream_id(), ExpectedVersion::Exact(aggregate.version()),
                                std::move(events).value());
    return Stored(std::move(aggregate), last_event_id, std::move(result));
  }

  // Receives what StoreAsync, ExecuteAsync or CreateAsync would have returned.
  using StoreCallback = std::function<void(Result<T> stored)>;

  // Store without waiting, through EventStore::AppendAsync: `done` gets what Store would have
  // returned, exactly once, on the thread AppendAsync calls back on (event_store.h: on the
  // embedded store one of its own threads, so `done` must not block; an encoding failure, or
  // nothing pending, calls back on the caller's thread before StoreAsync returns). A snapshot
  // that the snapshot_every policy asks for is saved on that thread before `done`.
  void StoreAsync(T aggregate, StoreCallback done, const std::string& metadata = "{}") {
    if (aggregate.pending().empty()) return done(std::move(aggregate));
    auto events = EncodePending(aggregate, metadata);
    if (!events.ok()) return done(events.error());
    const Uuid last_event_id = events->back().id;
    const std::string stream = aggregate.stream_id();
    const ExpectedVersion expected = ExpectedVersion::Exact(aggregate.version());
    // Shared: the callback must be copyable, and T need not be.
    auto owned = std::make_shared<T>(std::move(aggregate));
    store_.AppendAsync(
        stream, expected, std::move(events).value(),
        [this, owned, last_event_id, done = std::move(done)](Result<AppendResult> result) {
          done(Stored(std::move(*owned), last_event_id, std::move(result)));
        });
  }

  // Execute without waiting: fetches and decides on the caller's thread (a short read), stores
  // with StoreAsync, and on a version conflict runs again (fetch, decide, store) on the thread
  // that reported it, at most max_conflict_retries more times; `done` gets the outcome once.
  // `decide` is copied and may run again after ExecuteAsync returns: it must own what it uses.
  // With command_lock_stripes, the ExecuteAsync commands of one stripe take turns without holding
  // a thread: one queued behind another starts (fetches, decides) on the thread that completed
  // the one before it. They do not take turns with Execute: those two meet as conflicts.
  template <class Decide>
  void ExecuteAsync(const std::string& id, Decide decide, StoreCallback done,
                    const std::string& metadata = "{}") {
    if (!async_turns_) {
      return ExecuteAttempt(std::make_shared<const AsyncCommand<Decide>>(AsyncCommand<Decide>{
                                id, std::move(decide), std::move(done), metadata}),
                            0);
    }
    const size_t stripe = std::hash<std::string>{}(id) % options_.command_lock_stripes;
    auto command = std::make_shared<const AsyncCommand<Decide>>(
        AsyncCommand<Decide>{id, std::move(decide),
                             [this, stripe, done = std::move(done)](Result<T> stored) {
                               done(std::move(stored));
                               EndTurn(stripe);
                             },
                             metadata});
    TakeTurn(stripe, [this, command] { ExecuteAttempt(command, 0); });
  }

  // Create without waiting: decides on the caller's thread and stores with StoreAsync, expecting
  // no stream; `done` gets what Create would have returned, as StoreAsync says. Takes no lock.
  template <class Decide>
  void CreateAsync(const std::string& id, Decide&& decide, StoreCallback done,
                   const std::string& metadata = "{}") {
    T aggregate(id);
    if (Status s = decide(aggregate); !s.ok()) return done(s.error());
    StoreAsync(std::move(aggregate), std::move(done), metadata);
  }

  // Saves a snapshot of `aggregate` (stored: nothing pending) now. kUnsupported without a
  // snapshot store or for an aggregate that is not Snapshottable; kInvalidArgument with pending
  // changes or for a new aggregate.
  Status SaveSnapshot(const T& aggregate) {
    if constexpr (!Snapshottable<T>) {
      return Error::Make(ErrorCode::kUnsupported,
                         std::string(T::kCategory) + " aggregates cannot be snapshotted");
    } else {
      if (!options_.snapshots) {
        return Error::Make(ErrorCode::kUnsupported, "the repository has no snapshot store");
      }
      if (!aggregate.pending().empty() || aggregate.version() == 0) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "only a stored aggregate with nothing pending can be snapshotted");
      }
      Snapshot snapshot;
      snapshot.stream_id = aggregate.stream_id();
      snapshot.version = aggregate.version();
      snapshot.last_event_id = aggregate.last_event_id_;
      snapshot.schema_version = T::kSnapshotVersion;
      try {
        snapshot.state = nlohmann::json(aggregate.SnapshotState()).dump();
      } catch (const nlohmann::json::exception& e) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           snapshot.stream_id + ": the state cannot be serialised: " + e.what());
      }
      Status saved = options_.snapshots->Save(snapshot);
      CountSnapshot(saved.ok() ? &RepositorySnapshotStats::saved
                               : &RepositorySnapshotStats::failed);
      return saved;
    }
  }

  // The snapshot counters so far. Thread-safe.
  RepositorySnapshotStats snapshot_stats() const {
    std::lock_guard guard(stats_mu_);
    return snapshot_stats_;
  }

  // Load, decide, store for an existing aggregate. `decide(T&)` returns a Status: an error
  // (e.g. kDomainRule) ends the command with nothing stored. On a version conflict the command
  // runs again on fresh state, at most max_conflict_retries more times.
  template <class Decide>
  Result<T> Execute(const std::string& id, Decide&& decide, const std::string& metadata = "{}") {
    auto lock = LockCommands(id);
    for (int attempt = 0;; ++attempt) {
      auto aggregate = Fetch(id);
      if (!aggregate.ok()) return aggregate.error();
      if (Status s = decide(*aggregate); !s.ok()) return s.error();
      auto stored = Store(std::move(aggregate).value(), metadata);
      if (stored.ok() || stored.error().code != ErrorCode::kWrongExpectedVersion ||
          attempt >= options_.max_conflict_retries) {
        return stored;
      }
    }
  }

  // Runs `decide` on a new aggregate with this id and stores it, expecting no stream. An
  // existing id is kWrongExpectedVersion (not retried).
  template <class Decide>
  Result<T> Create(const std::string& id, Decide&& decide, const std::string& metadata = "{}") {
    auto lock = LockCommands(id);
    T aggregate(id);
    if (Status s = decide(aggregate); !s.ok()) return s.error();
    return Store(std::move(aggregate), metadata);
  }

 private:
  // The ExecuteAsync commands of one stripe: one runs, the rest wait their turn.
  struct AsyncTurns {
    std::mutex mu;
    bool busy = false;
    std::deque<std::function<void()>> waiting;
  };

  // Runs `start` now if the stripe is free, else once the commands before it have ended theirs.
  void TakeTurn(size_t stripe, std::function<void()> start) {
    {
      std::lock_guard guard(async_turns_[stripe].mu);
      if (async_turns_[stripe].busy) {
        async_turns_[stripe].waiting.push_back(std::move(start));
        return;
      }
      async_turns_[stripe].busy = true;
    }
    start();
  }

  // Ends a command's turn: starts the next waiting one, here.
  void EndTurn(size_t stripe) {
    std::function<void()> next;
    {
      std::lock_guard guard(async_turns_[stripe].mu);
      if (async_turns_[stripe].waiting.empty()) {
        async_turns_[stripe].busy = false;
        return;
      }
      next = std::move(async_turns_[stripe].waiting.front());
      async_turns_[stripe].waiting.pop_front();
    }
    next();
  }

  // One ExecuteAsync command, shared by its attempts.
  template <class Decide>
  struct AsyncCommand {
    std::string id;
    Decide decide;
    StoreCallback done;
    std::string metadata;
  };

  template <class Decide>
  void ExecuteAttempt(std::shared_ptr<const AsyncCommand<Decide>> command, int attempt) {
    auto aggregate = Fetch(command->id);
    if (!aggregate.ok()) return command->done(aggregate.error());
    // A copy per attempt: the command's own stays as given.
    Decide decide = command->decide;
    if (Status s = decide(*aggregate); !s.ok()) return command->done(s.error());
    StoreAsync(
        std::move(aggregate).value(),
        [this, command, attempt](Result<T> stored) {
          if (!stored.ok() && stored.error().code == ErrorCode::kWrongExpectedVersion &&
              attempt < options_.max_conflict_retries) {
            return ExecuteAttempt(command, attempt + 1);
          }
          command->done(std::move(stored));
        },
        command->metadata);
  }

  // The pending changes as events to append, with `metadata`.
  static Result<std::vector<EventData>> EncodePending(const T& aggregate,
                                                      const std::string& metadata) {
    std::vector<EventData> events;
    events.reserve(aggregate.pending().size());
    for (const auto& e : aggregate.pending()) {
      auto encoded = T::EventTypes::Encode(e, metadata);
      if (!encoded.ok()) return encoded.error();
      events.push_back(std::move(encoded).value());
    }
    return events;
  }

  // Settles a store's outcome: the clean aggregate (cached, maybe snapshotted), or the error
  // (a conflict drops the cached copy).
  Result<T> Stored(T aggregate, const Uuid& last_event_id, Result<AppendResult> result) {
    if (!result.ok()) {
      if constexpr (kCached) {
        if (result.error().code == ErrorCode::kWrongExpectedVersion) cache_.Erase(aggregate.id());
      }
      return result.error();
    }
    aggregate.MarkStored(result->last_version, last_event_id);
    MaybeSaveSnapshot(aggregate);
    if constexpr (kCached) cache_.Put(aggregate);
    return aggregate;
  }

  static Error NotFound(const std::string& id) {
    return Error::Make(ErrorCode::kNotFound, std::string(T::kCategory) + " '" + id + "' not found");
  }

  // Upcasts, decodes and applies one stored event.
  Status ApplyRecorded(T& aggregate, RecordedEvent& recorded) {
    if (options_.upcaster) {
      auto outcome = options_.upcaster->Upcast(recorded);
      if (!outcome.ok()) return outcome.error();
      if (*outcome == Upcaster::Outcome::kRetired) {
        aggregate.SkipStored(recorded.version, recorded.id);
        return OkStatus();
      }
    }
    auto event = T::EventTypes::Decode(recorded);
    if (!event.ok()) return event.error();
    aggregate.ApplyStored(*event, recorded.version, recorded.id);
    return OkStatus();
  }

  // The aggregate at its snapshot, when the stream has a usable one (its first event after still
  // to be checked by the caller); nullopt otherwise.
  std::optional<T> LoadSnapshot(const std::string& id, const std::string& stream, int64_t head) {
    if constexpr (!Snapshottable<T>) {
      return std::nullopt;
    } else {
      if (!options_.snapshots) return std::nullopt;
      auto loaded = options_.snapshots->Load(stream);
      if (!loaded.ok()) {
        CountSnapshot(&RepositorySnapshotStats::failed);
        return UnusableSnapshot(id);
      }
      if (!*loaded) return std::nullopt;
      const Snapshot& snapshot = **loaded;
      if (snapshot.schema_version != T::kSnapshotVersion || snapshot.version < 1 ||
          snapshot.version > head) {
        CountSnapshot(&RepositorySnapshotStats::ignored);
        return UnusableSnapshot(id);
      }
      nlohmann::json state = nlohmann::json::parse(snapshot.state, nullptr, false);
      T aggregate(id);
      if (state.is_discarded() || !aggregate.LoadSnapshotState(state).ok()) {
        CountSnapshot(&RepositorySnapshotStats::ignored);
        return UnusableSnapshot(id);
      }
      aggregate.SkipStored(snapshot.version, snapshot.last_event_id);
      aggregate.snapshot_version_ = snapshot.version;
      return aggregate;
    }
  }

  // Without a usable snapshot the fetch starts from the first event; Store() replaces it.
  static std::optional<T> UnusableSnapshot(const std::string& id) {
    // At version 0 it reads the whole stream: there is no snapshot event to check.
    std::optional<T> aggregate(std::in_place, id);
    aggregate->snapshot_unusable_ = true;
    return aggregate;
  }

  // Saves a snapshot when the policy asks for one: `snapshot_every` events since the last, or an
  // unusable one found. A failure is counted, never returned: the snapshot is only a cache.
  void MaybeSaveSnapshot(T& aggregate) {
    if constexpr (Snapshottable<T>) {
      if (!options_.snapshots || aggregate.version() == 0) return;
      const bool due = options_.snapshot_every > 0 &&
                       aggregate.version() - aggregate.snapshot_version_ >= options_.snapshot_every;
      if (!due && !aggregate.snapshot_unusable_) return;
      // An unusable snapshot may be at a higher version (another history), which Save keeps.
      if (aggregate.snapshot_unusable_ && !options_.snapshots->Drop(aggregate.stream_id()).ok()) {
        CountSnapshot(&RepositorySnapshotStats::failed);
        return;
      }
      if (SaveSnapshot(aggregate).ok()) {
        aggregate.snapshot_version_ = aggregate.version();
        aggregate.snapshot_unusable_ = false;
      }
    }
  }

  void CountSnapshot(int64_t RepositorySnapshotStats::*counter) {
    std::lock_guard guard(stats_mu_);
    ++(snapshot_stats_.*counter);
  }

  std::unique_lock<std::mutex> LockCommands(const std::string& id) {
    if (!command_locks_) return {};
    return std::unique_lock(
        command_locks_[std::hash<std::string>{}(id) % options_.command_lock_stripes]);
  }

  EventStore& store_;
  RepositoryOptions options_;
  AggregateCache<T> cache_;
  std::unique_ptr<std::mutex[]> command_locks_;
  std::unique_ptr<AsyncTurns[]> async_turns_;  // ExecuteAsync's stripes, like command_locks_
  mutable std::mutex stats_mu_;
  RepositorySnapshotStats snapshot_stats_;
};

}  // namespace evs
