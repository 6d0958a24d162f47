// The in-memory store: the same decisions as the embedded store (CommitPlanner), one mutex,
// nothing durable.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "store/append_validation.h"
#include "store/commit_planner.h"
#include "store/read_validation.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

class MemoryEventStore final : public EventStore {
 public:
  MemoryEventStore(const Limits& limits, std::shared_ptr<Clock> clock)
      : limits_(limits), clock_(clock ? std::move(clock) : SystemClock()), planner_(1 << 20) {}

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    if (auto s = store::ValidateAppend(limits_, stream_id, expected, events); !s) return s.error();
    std::lock_guard guard(mu_);
    auto ids_at = [this](std::string_view stream, int64_t, int64_t first, size_t count) {
      return IdsAt(stream, first, count);
    };
    auto decision =
        planner_.Plan(stream_id, expected, events, static_cast<int64_t>(log_.size()) + 1, ids_at);
    if (decision.kind == store::AppendDecision::Kind::kFail) return *decision.error;
    if (decision.kind == store::AppendDecision::Kind::kDuplicate) return decision.result;
    // Never before the last append's time: times follow commit order even if the clock steps
    // back.
    const int64_t now = std::max(clock_->NowMicros(), last_recorded_us_);
    last_recorded_us_ = now;
    auto& stream = streams_[std::string(stream_id)];
    for (size_t i = 0; i < events.size(); ++i) {
      EventData& e = events[i];
      stream.push_back(log_.size());
      log_.push_back(RecordedEvent{
          std::string(stream_id), decision.result.first_version + static_cast<int64_t>(i),
          decision.result.first_position + static_cast<int64_t>(i), e.id, std::move(e.type),
          std::move(e.data), std::move(e.metadata), now});
    }
    auto heads = planner_.Seal();
    planner_.Publish(heads);
    planner_.Settled(heads);
    head_cv_.notify_all();
    return decision.result;
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    std::lock_guard guard(mu_);
    const store::StreamHead head = planner_.Heads().Find(stream_id);
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return *unreadable;
    const std::vector<size_t>& indexes = streams_.find(stream_id)->second;
    const int64_t version = head.version;
    const int64_t first = store::FirstVisibleVersion(head);
    const int64_t cutoff = store::AgeCutoffMicros(head, clock_->NowMicros());
    StreamPage page;
    page.stream_version = version;
    auto add = [&](int64_t v) {
      const RecordedEvent& e = log_[indexes[v - 1]];
      if (e.recorded_at_us >= cutoff) page.events.push_back(e);
    };
    int64_t v;
    if (options.direction == Direction::kForward) {
      for (v = std::max<int64_t>(options.from, first);
           v <= version && page.events.size() < options.limit; ++v) {
        add(v);
      }
      page.end_of_stream = v > version;
    } else {
      for (v = options.from <= 0 || options.from > version ? version : options.from;
           v >= first && page.events.size() < options.limit; --v) {
        add(v);
      }
      page.end_of_stream = v < first;
    }
    return page;
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    std::lock_guard guard(mu_);
    LogPage page;
    for (auto i = static_cast<size_t>(std::max<int64_t>(after, 0));
         i < log_.size() && page.events.size() < limit; ++i) {
      page.events.push_back(log_[i]);
    }
    page.next_position = page.events.empty() ? after : page.events.back().position;
    page.head_position = static_cast<int64_t>(log_.size());
    return page;
  }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    std::lock_guard guard(mu_);
    StreamsPage page;
    for (auto it = streams_.upper_bound(std::string(after));
         it != streams_.end() && page.streams.size() < limit; ++it) {
      const store::StreamHead head = planner_.Heads().Find(it->first);
      if (store::UnreadableStream(it->first, head)) continue;  // deleted: not listed
      page.streams.push_back(StreamInfo{it->first, head.version});
    }
    if (page.streams.size() == limit && limit > 0) page.next_after = page.streams.back().stream_id;
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    const store::StreamHead head = planner_.Heads().Find(stream_id);
    return head.Deleted() ? 0 : head.version;
  }

  Result<int64_t> HeadPosition() override {
    std::lock_guard guard(mu_);
    return static_cast<int64_t>(log_.size());
  }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    head_cv_.wait_for(lock, timeout, [&] { return static_cast<int64_t>(log_.size()) > after; });
    return static_cast<int64_t>(log_.size());
  }

  Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id) override {
    return store::LifecycleOf(stream_id, planner_.Heads().Find(stream_id));
  }

  Status SetStreamMetadata(std::string_view stream_id, const StreamMetadata& metadata) override {
    if (auto s = store::ValidateName("stream id", stream_id, limits_.max_stream_id_bytes); !s)
      return s;
    if (auto s = ValidateStreamMetadata(metadata); !s) return s;
    store::LifecycleChange change;
    change.metadata = std::make_shared<const StreamMetadata>(metadata);
    return Change(stream_id, ExpectedVersion::Any(), change);
  }

  Status DeleteStream(std::string_view stream_id, DeleteMode mode,
                      ExpectedVersion expected) override {
    if (auto s = store::ValidateName("stream id", stream_id, limits_.max_stream_id_bytes); !s)
      return s;
    store::LifecycleChange change;
    change.kind = mode == DeleteMode::kHard ? store::LifecycleChange::Kind::kHardDelete
                                            : store::LifecycleChange::Kind::kSoftDelete;
    return Change(stream_id, expected, change);
  }

  Result<ScavengeReport> Scavenge(const ScavengeOptions& options) override {
    ScavengeReport report;
    ScavengeProgress progress;
    std::vector<std::string> streams;
    {
      std::lock_guard guard(mu_);
      for (const auto& [id, indexes] : streams_) {
        const store::StreamHead head = planner_.Heads().Find(id);
        if (head.deleted_through > 0 || head.hard_deleted || head.metadata) streams.push_back(id);
      }
    }
    progress.streams_total = report.streams_examined = static_cast<int64_t>(streams.size());
    const size_t step = std::max<size_t>(1, options.events_per_step);
    for (const std::string& id : streams) {
      for (bool more = true; more;) {
        std::lock_guard guard(mu_);
        const store::StreamHead head = planner_.Heads().Find(id);
        const int64_t below =
            head.hard_deleted ? head.version + 1 : store::FirstVisibleVersion(head);
        const int64_t cutoff = store::AgeCutoffMicros(head, clock_->NowMicros());
        size_t done = 0;
        more = false;
        for (size_t index : streams_[id]) {
          RecordedEvent& e = log_[index];
          if (store::IsScavenged(e) || (e.version >= below && e.recorded_at_us >= cutoff)) continue;
          if (done == step) {
            more = true;
            break;
          }
          e.type = kScavengedEventType;
          e.data = e.metadata = "{}";
          ++done;
        }
        progress.events_scavenged = report.events_scavenged += static_cast<int64_t>(done);
        if (options.progress && done > 0) options.progress(progress);
      }
      ++progress.streams_done;
    }
    if (options.progress) options.progress(progress);
    return report;
  }

 private:
  Status Change(std::string_view stream_id, const ExpectedVersion& expected,
                const store::LifecycleChange& change) {
    std::lock_guard guard(mu_);
    auto decision = planner_.PlanChange(stream_id, expected, change);
    if (decision.kind == store::AppendDecision::Kind::kFail) {
      planner_.Discard();
      return *decision.error;
    }
    auto heads = planner_.Seal();
    planner_.Publish(heads);
    planner_.Settled(heads);
    return OkStatus();
  }

  // Called with mu_ held.
  Result<std::vector<store::CommittedId>> IdsAt(std::string_view stream, int64_t first,
                                                size_t count) {
    std::vector<store::CommittedId> ids;
    auto it = streams_.find(std::string(stream));
    if (it == streams_.end()) return ids;
    for (auto v = std::max<int64_t>(first, 1);
         v <= static_cast<int64_t>(it->second.size()) && ids.size() < count; ++v) {
      const RecordedEvent& e = log_[it->second[v - 1]];
      ids.push_back(store::CommittedId{e.id, e.position});
    }
    return ids;
  }

  const Limits limits_;
  const std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::condition_variable head_cv_;  // with mu_: wakes WaitForHead() on each append
  store::CommitPlanner planner_;
  std::vector<RecordedEvent> log_;
  int64_t last_recorded_us_ = 0;  // of the last event in log_
  std::map<std::string, std::vector<size_t>, std::less<>> streams_;
};

}  // namespace

std::unique_ptr<EventStore> NewMemoryEventStore(const Limits& limits,
                                                std::shared_ptr<Clock> clock) {
  return std::make_unique<MemoryEventStore>(limits, std::move(clock));
}

}  // namespace evs
