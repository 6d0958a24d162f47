// The repository: fetch(id) and store(aggregate), and a command helper that loads, decides and
// stores with a bounded retry on version conflicts.
//
// Thread safety: a Repository may be shared by any number of threads; aggregates it returns are
// copies owned by the caller.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "evs/aggregate_cache.h"
#include "evs/event_store.h"
#include "evs/status.h"

namespace evs {

struct RepositoryOptions {
  // Aggregates kept in memory; 0 disables the cache.
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
};

template <class T>
class Repository {
 public:
  explicit Repository(EventStore& store, RepositoryOptions options = {})
      : store_(store),
        options_(options),
        cache_(options.cache_capacity),
        command_locks_(options.command_lock_stripes > 0
                           ? std::make_unique<std::mutex[]>(options.command_lock_stripes)
                           : nullptr) {}

  // The aggregate rebuilt from every event of its stream, or kNotFound. Served from the cache
  // when the cached copy is at the stream's version; caught up from the store when behind.
  Result<T> Fetch(const std::string& id) {
    const std::string stream = T::StreamIdFor(id);
    auto head = store_.StreamVersion(stream);
    if (!head.ok()) return head.error();
    std::optional<T> aggregate = cache_.Get(id);
    if (aggregate && aggregate->version() == *head) return std::move(*aggregate);
    if (!aggregate) {
      if (*head == 0) return NotFound(id);
      aggregate.emplace(id);
    }
    ReadStreamOptions read;
    read.limit = options_.read_page_size;
    for (;;) {
      read.from = aggregate->version() + 1;
      auto page = store_.ReadStream(stream, read);
      if (!page.ok()) {
        if (page.error().code == ErrorCode::kNotFound) return NotFound(id);
        return page.error();
      }
      for (const RecordedEvent& recorded : page->events) {
        auto event = T::EventTypes::Decode(recorded);
        if (!event.ok()) return event.error();
        aggregate->ApplyStored(*event, recorded.version);
      }
      if (page->end_of_stream || page->events.empty()) break;
    }
    if (aggregate->version() == 0) return NotFound(id);
    cache_.Put(*aggregate);
    return std::move(*aggregate);
  }

  // Appends the pending changes, expecting the stream at the version the aggregate was loaded
  // at (no stream for a new one). Returns the clean aggregate at its new version. A conflict is
  // kWrongExpectedVersion and the cached copy is dropped, so the next Fetch reads fresh state.
  Result<T> Store(T aggregate, const std::string& metadata = "{}") {
    if (aggregate.pending().empty()) return aggregate;
    std::vector<EventData> events;
    events.reserve(aggregate.pending().size());
    for (const auto& e : aggregate.pending()) {
      auto encoded = T::EventTypes::Encode(e, metadata);
      if (!encoded.ok()) return encoded.error();
      events.push_back(std::move(encoded).value());
    }
    auto result = store_.Append(aggregate.stream_id(), ExpectedVersion::Exact(aggregate.version()),
                                std::move(events));
    if (!result.ok()) {
      if (result.error().code == ErrorCode::kWrongExpectedVersion) cache_.Erase(aggregate.id());
      return result.error();
    }
    aggregate.MarkStored(result->last_version);
    cache_.Put(aggregate);
    return aggregate;
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
  static Error NotFound(const std::string& id) {
    return Error::Make(ErrorCode::kNotFound, std::string(T::kCategory) + " '" + id + "' not found");
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
};

}  // namespace evs
