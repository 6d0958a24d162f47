// The embedded log's subscription: catch up in pages, then wait for commits (WaitForHead),
// deliver filtered batches, save the checkpoint after each (while catching up, at most every
// catch_up_checkpoint_interval), and apply the failure policy.
#include "evs/subscription.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/backoff.h"
#include "common/event_json.h"
#include "evs/upcasting.h"

namespace evs {

const char* StateName(SubscriptionStatus::State state) {
  switch (state) {
    case SubscriptionStatus::State::kCatchingUp:
      return "catching_up";
    case SubscriptionStatus::State::kLive:
      return "live";
    case SubscriptionStatus::State::kRetrying:
      return "retrying";
    case SubscriptionStatus::State::kStopped:
      return "stopped";
    case SubscriptionStatus::State::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {

// FNV-1a: stable across processes and builds, so every member of a group agrees.
uint64_t StableHash(std::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

constexpr std::chrono::milliseconds kStopCheck{50};
// Parked events retried per look: the rest wait for the next look, so a flood of retry requests
// cannot hold up the feed.
constexpr size_t kRetriesPerLook = 100;

class LogSubscription final : public Subscription {
 public:
  LogSubscription(EventStore& store, CheckpointStore& checkpoints, EventHandler& handler,
                  SubscriptionOptions options, std::string checkpoint_name)
      : store_(store),
        checkpoints_(checkpoints),
        upcasting_(options.upcaster ? NewUpcastingHandler(options.upcaster, handler) : nullptr),
        handler_(upcasting_ ? *upcasting_ : handler),
        options_(std::move(options)),
        checkpoint_name_(std::move(checkpoint_name)) {
    status_.name = checkpoint_name_;
  }

  ~LogSubscription() override {
    Stop();
    if (thread_.joinable()) thread_.join();
  }

  evs::Status Begin() {
    auto saved = checkpoints_.Load(checkpoint_name_);
    if (!saved.ok()) return saved.error();
    int64_t position = options_.start_after;
    if (*saved) {
      try {
        position = std::stoll(**saved);
      } catch (const std::exception&) {
        return Error::Make(ErrorCode::kCorruption, "the checkpoint of " + checkpoint_name_ +
                                                       " is not a position: '" + **saved + "'");
      }
    }
    auto parked = checkpoints_.CountParked(checkpoint_name_);
    if (!parked.ok()) return parked.error();
    status_.checkpoint = position;
    saved_ = position;
    status_.parked = *parked;
    // Over what an earlier run saved of its state (maybe a failure long since mended); later
    // changes are saved only when they are trouble or end it.
    (void)checkpoints_.SaveState(checkpoint_name_, StateName(status_.state), "");
    thread_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Stop() override {
    {
      std::lock_guard guard(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

  SubscriptionStatus GetStatus() const override {
    std::lock_guard guard(mu_);
    return status_;
  }

  bool WaitUntil(int64_t position, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      return status_.checkpoint >= position ||
             status_.state == SubscriptionStatus::State::kStopped ||
             status_.state == SubscriptionStatus::State::kFailed;
    });
    return status_.checkpoint >= position;
  }

 private:
  bool Stopping() {
    std::lock_guard guard(mu_);
    return stopping_;
  }

  // Sleeps for `delay` unless stopped first; false when stopped.
  bool Sleep(std::chrono::milliseconds delay) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, delay, [&] { return stopping_; });
  }

  void SetState(SubscriptionStatus::State state, std::string error = {}) {
    bool changed;
    {
      std::lock_guard guard(mu_);
      changed = status_.state != state || status_.error != error;
      status_.state = state;
      status_.error = error;
      if (state != SubscriptionStatus::State::kRetrying) {
        status_.read_failures = 0;
        status_.retrying_since_us = 0;
      }
    }
    cv_.notify_all();
    // Operators in other processes see failures and retries (`evs subscriptions`); the moves
    // between catching up and live are not written.
    const bool worth_saving = state == SubscriptionStatus::State::kFailed ||
                              state == SubscriptionStatus::State::kRetrying || saved_trouble_;
    if (changed && worth_saving) {
      saved_trouble_ = state == SubscriptionStatus::State::kFailed ||
                       state == SubscriptionStatus::State::kRetrying;
      (void)checkpoints_.SaveState(checkpoint_name_, StateName(state), error);
    }
  }

  bool Wanted(const RecordedEvent& e) const {
    if (e.type == kScavengedEventType) return false;  // a scavenged event's marker
    if (!options_.event_types.empty() &&
        std::find(options_.event_types.begin(), options_.event_types.end(), e.type) ==
            options_.event_types.end()) {
      return false;
    }
    if (!options_.stream_prefix.empty() && e.stream_id.rfind(options_.stream_prefix, 0) != 0) {
      return false;
    }
    if (options_.group_size > 1 &&
        StableHash(e.stream_id) % static_cast<uint64_t>(options_.group_size) !=
            static_cast<uint64_t>(options_.group_member)) {
      return false;
    }
    return true;
  }

  void Run() {
    int64_t position = GetStatus().checkpoint;
    Backoff read_backoff(options_.failure.initial_backoff, options_.failure.max_backoff);
    auto next_parked_look = std::chrono::steady_clock::now();
    last_save_ = std::chrono::steady_clock::now();
    // One reader and one page for the whole run: on the log store, a scan that resumes where the
    // page before ended and decodes into the events (and strings) of the page before.
    std::unique_ptr<LogReader> reader = store_.NewLogReader();
    LogPage page;
    while (!Stopping()) {
      // Requested retries of parked events, busy or idle, at most every idle_wait.
      if (std::chrono::steady_clock::now() >= next_parked_look) {
        RetryRequestedParked();
        next_parked_look = std::chrono::steady_clock::now() + options_.idle_wait;
      }
      if (auto read = reader->Read(position, options_.batch_size, page); !read) {
        if (!ReadFailed("reading the log after position ", position, read.error(), read_backoff))
          break;
        continue;
      }
      {
        std::lock_guard guard(mu_);
        status_.head = page.head_position;
      }
      if (page.events.empty()) {
        // At the head: what was handled is saved before waiting.
        if (!SaveCheckpoint()) return;
        // Live once the wait for commits works too: a store that reads but cannot wait stays
        // retrying (before, it spun here at full speed, shown as live).
        if (!Retrying()) SetState(SubscriptionStatus::State::kLive);
        if (auto waited = WaitForCommit(position); !waited) {
          if (!ReadFailed("waiting for commits after position ", position, waited.error(),
                          read_backoff))
            break;
          continue;
        }
        read_backoff.Reset();
        SetState(SubscriptionStatus::State::kLive);
        continue;
      }
      read_backoff.Reset();
      const bool catching_up =
          page.head_position - page.next_position > static_cast<int64_t>(options_.batch_size);
      SetState(catching_up ? SubscriptionStatus::State::kCatchingUp
                           : SubscriptionStatus::State::kLive);
      // The wanted events, moved to the front of the page in order (swapped, so that every
      // event keeps its strings for the next page).
      size_t wanted = 0;
      for (size_t i = 0; i < page.events.size(); ++i) {
        if (!Wanted(page.events[i])) continue;
        if (i != wanted) std::swap(page.events[wanted], page.events[i]);
        ++wanted;
      }
      const std::span<const RecordedEvent> batch(page.events.data(), wanted);
      int64_t handled_up_to = page.next_position;
      std::string failure;
      const int64_t parked_before = Parked();
      if (!batch.empty() && !Deliver(batch, handled_up_to, failure)) {
        // Stopped by the failure policy or by Stop(): keep what was handled. A checkpoint that
        // cannot be saved leaves the subscription failed with that error.
        if (!Advance(handled_up_to, 0, true)) return;
        if (!failure.empty()) {
          SetState(SubscriptionStatus::State::kFailed, failure);
          return;
        }
        break;
      }
      // Saved after a live batch, after one that parked events, and while catching up once
      // catch_up_checkpoint_interval has passed since the last save.
      const bool save_now =
          !catching_up || Parked() != parked_before ||
          std::chrono::steady_clock::now() - last_save_ >= options_.catch_up_checkpoint_interval;
      if (!Advance(handled_up_to, static_cast<int64_t>(batch.size()), save_now)) return;
      position = handled_up_to;
    }
    // Stopped: what was handled is saved.
    if (!SaveCheckpoint()) return;
    SetState(SubscriptionStatus::State::kStopped);
  }

  // Records that every position up to `position` is handled, saving the checkpoint first when
  // `save` (else it is saved later: SaveCheckpoint); false (and kFailed) when it cannot be saved.
  bool Advance(int64_t position, int64_t delivered, bool save) {
    if (save && !SaveCheckpoint(position)) return false;
    {
      std::lock_guard guard(mu_);
      status_.checkpoint = std::max(status_.checkpoint, position);
      status_.delivered += delivered;
    }
    cv_.notify_all();
    return true;
  }

  // Saves `position` (default: the last one handled) as the checkpoint when it is past the one
  // saved last; false (and kFailed) when it cannot be saved.
  bool SaveCheckpoint(std::optional<int64_t> position = std::nullopt) {
    const int64_t to = position ? *position : Handled();
    if (to <= saved_) return true;
    if (auto s = checkpoints_.Save(checkpoint_name_, std::to_string(to)); !s) {
      SetState(SubscriptionStatus::State::kFailed,
               "cannot save the checkpoint: " + s.error().message);
      return false;
    }
    saved_ = to;
    last_save_ = std::chrono::steady_clock::now();
    return true;
  }

  int64_t Parked() const {
    std::lock_guard guard(mu_);
    return status_.parked;
  }

  int64_t Handled() const {
    std::lock_guard guard(mu_);
    return status_.checkpoint;
  }

  bool Retrying() const {
    std::lock_guard guard(mu_);
    return status_.state == SubscriptionStatus::State::kRetrying;
  }

  // The store failed to read the log or to wait for commits: it may be busy or briefly failing.
  // Shows kRetrying with the error, how many failures in a row and since when, then backs off
  // (the caller reads again from the same position). False when stopped meanwhile.
  bool ReadFailed(const std::string& what, int64_t position, const Error& error, Backoff& backoff) {
    int64_t failures, since;
    {
      std::lock_guard guard(mu_);
      failures = ++status_.read_failures;
      if (failures == 1) status_.retrying_since_us = clock_->NowMicros();
      since = status_.retrying_since_us;
    }
    SetState(SubscriptionStatus::State::kRetrying,
             what + std::to_string(position) + " failed " + std::to_string(failures) +
                 " time(s) in a row since " + FormatTimestamp(since) + ": " + error.message);
    return Sleep(backoff.Next());
  }

  // Waits for a commit past `position`, in slices short enough to notice Stop() soon; commits
  // wake it at once. An error when the store cannot tell.
  evs::Status WaitForCommit(int64_t position) {
    const auto until = std::chrono::steady_clock::now() + options_.idle_wait;
    while (!Stopping() && std::chrono::steady_clock::now() < until) {
      auto head = store_.WaitForHead(position, std::min(options_.idle_wait, kStopCheck));
      if (!head.ok()) return head.error();
      if (*head > position) break;
    }
    return OkStatus();
  }

  // Hands `batch` to the handler; on failure, event by event with retries, parking (or stopping
  // at) an event that keeps failing. On false, `handled_up_to` is the last position done and
  // `failure` says why the policy stopped (empty when Stop() did).
  bool Deliver(std::span<const RecordedEvent> batch, int64_t& handled_up_to, std::string& failure) {
    if (handler_.Handle(batch).ok()) return true;
    for (const RecordedEvent& e : batch) {
      Backoff backoff(options_.failure.initial_backoff, options_.failure.max_backoff);
      std::string last_error;
      bool handled = false;
      int attempts = 0;
      while (attempts < options_.failure.max_attempts) {
        ++attempts;
        Status s = handler_.Handle(std::span<const RecordedEvent>(&e, 1));
        if (s.ok()) {
          handled = true;
          break;
        }
        last_error = s.error().message;
        if (attempts < options_.failure.max_attempts && !Sleep(backoff.Next())) {
          handled_up_to = e.position - 1;
          return false;
        }
      }
      if (handled) continue;
      if (options_.failure.on_exhausted == FailurePolicy::OnExhausted::kStop) {
        handled_up_to = e.position - 1;
        failure = "the handler failed " + std::to_string(attempts) + " times on position " +
                  std::to_string(e.position) + ": " + last_error;
        return false;
      }
      ParkedEvent parked{0, checkpoint_name_, e, last_error, attempts, clock_->NowMicros(), false};
      if (auto s = checkpoints_.Park(parked); !s) {
        handled_up_to = e.position - 1;
        failure = "cannot park position " + std::to_string(e.position) + ": " + s.error().message;
        return false;
      }
      std::lock_guard guard(mu_);
      ++status_.parked;
    }
    return true;
  }

  // Delivers parked events whose retry was asked for; each outcome is recorded in one step
  // (FinishRetry): a success removes the event, a failure keeps it parked with the new error.
  void RetryRequestedParked() {
    auto parked = checkpoints_.RetryRequested(checkpoint_name_, kRetriesPerLook);
    if (!parked.ok()) return;  // looked at again after idle_wait
    for (const ParkedEvent& p : *parked) {
      if (Stopping()) return;
      Status s = handler_.Handle(std::span<const RecordedEvent>(&p.event, 1));
      std::optional<std::string> error;
      if (!s.ok()) error = s.error().message;
      if (checkpoints_.FinishRetry(p.id, error).ok() && !error) {
        std::lock_guard guard(mu_);
        --status_.parked;
      }
    }
  }

  EventStore& store_;
  CheckpointStore& checkpoints_;
  // Upcasts stored events before the application's handler sees them (null: no upcaster).
  const std::unique_ptr<EventHandler> upcasting_;
  EventHandler& handler_;
  const SubscriptionOptions options_;
  const std::shared_ptr<Clock> clock_ = options_.clock ? options_.clock : SystemClock();
  const std::string checkpoint_name_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  SubscriptionStatus status_;
  bool saved_trouble_ = false;  // the state last saved was kFailed or kRetrying (Run's thread)
  int64_t saved_ = 0;           // the checkpoint last saved (Run's thread)
  std::chrono::steady_clock::time_point last_save_;  // when it was saved (Run's thread)
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Subscription>> Subscription::Start(EventStore& store,
                                                          CheckpointStore& checkpoints,
                                                          EventHandler& handler,
                                                          SubscriptionOptions options) {
  if (options.name.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a subscription needs a name");
  }
  if (options.group_size < 1 || options.group_member < 0 ||
      options.group_member >= options.group_size) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "group member " + std::to_string(options.group_member) +
                           " is not within a group of " + std::to_string(options.group_size));
  }
  if (options.batch_size == 0) options.batch_size = 1;
  if (options.failure.max_attempts < 1) options.failure.max_attempts = 1;
  std::string name = options.name;
  if (options.group_size > 1) {
    name += "#" + std::to_string(options.group_member) + "/" + std::to_string(options.group_size);
  }
  auto subscription = std::make_unique<LogSubscription>(store, checkpoints, handler,
                                                        std::move(options), std::move(name));
  if (auto s = subscription->Begin(); !s) return s.error();
  return std::unique_ptr<Subscription>(std::move(subscription));
}

}  // namespace evs
