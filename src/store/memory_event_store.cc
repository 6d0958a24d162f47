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
    auto it = streams_.find(std::string(stream_id));
    if (it == streams_.end()) {
      return Error::Make(ErrorCode::kNotFound, "stream '" + std::string(stream_id) + "' not found");
    }
    const std::vector<size_t>& indexes = it->second;
    const auto version = static_cast<int64_t>(indexes.size());
    StreamPage page;
    page.stream_version = version;
    if (options.direction == Direction::kForward) {
      for (int64_t v = std::max<int64_t>(options.from, 1);
           v <= version && page.events.size() < options.limit; ++v) {
        page.events.push_back(log_[indexes[v - 1]]);
      }
      page.end_of_stream = page.events.empty() || page.events.back().version == version;
    } else {
      int64_t from = options.from <= 0 || options.from > version ? version : options.from;
      for (int64_t v = from; v >= 1 && page.events.size() < options.limit; --v) {
        page.events.push_back(log_[indexes[v - 1]]);
      }
      page.end_of_stream = page.events.empty() || page.events.back().version == 1;
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
      page.streams.push_back(StreamInfo{it->first, static_cast<int64_t>(it->second.size())});
    }
    if (page.streams.size() == limit && limit > 0) page.next_after = page.streams.back().stream_id;
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    return planner_.Heads().Get(stream_id);
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

 private:
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
