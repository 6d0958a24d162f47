// Persistent subscriptions (evs/persistent_subscriptions.h): the state of each subscription in
// memory (a window of matching events read ahead, leases, retried parked events), written to
// its file (persistent_subscription_file.h) whenever the checkpoint moves or an event is parked.
//
// One mutex guards the state. Writes to the file are handed over in order: a writer takes the
// file's mutex before it lets go of the state's, so the file sees changes in the order they were
// made, and no checkpoint passes a park that is not yet written.
#include "evs/persistent_subscriptions.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "feed/persistent_subscription_file.h"

namespace evs {
namespace {

using Steady = std::chrono::steady_clock;
using feed::PersistentSubscriptionFile;
using feed::StoredSubscription;
using feed::SubscriptionWrite;

// How long the thread sleeps at most when nothing wakes it (it looks at the head then).
constexpr auto kIdleWait = std::chrono::milliseconds(250);
// Events read from the log in one go.
constexpr size_t kReadPage = 1024;

struct Entry {
  enum class State { kAvailable, kLeased, kDone };
  RecordedEvent event;
  State state = State::kAvailable;
  int64_t deliveries = 0;
  Steady::time_point deadline;  // of the lease, when leased
  int64_t parked_id = 0;        // a retried parked event's id; 0 for the window's
};

struct Sub {
  uint64_t id = 0;  // tells a subscription from a later one of the same name
  std::string name;
  PersistentSubscriptionSettings settings;
  int64_t checkpoint = 0;
  int64_t read_position = 0;         // the last position read into the window
  std::map<int64_t, Entry> window;   // matching events after the checkpoint
  std::map<int64_t, Entry> retries;  // parked events asked for again, by position
  // Positions parked above the checkpoint in an earlier run: not delivered again.
  std::set<int64_t> parked_ahead;
  int64_t in_flight = 0;
};

struct Waiter {
  std::string name;
  uint64_t sub_id = 0;
  size_t max = 0;
  Steady::time_point deadline;
  PersistentSubscriptions::LeaseCallback done;
};

using Responses = std::vector<
    std::pair<PersistentSubscriptions::LeaseCallback, Result<std::vector<LeasedEvent>>>>;

std::string_view Category(std::string_view stream) { return stream.substr(0, stream.find('-')); }

bool Matches(const PersistentSubscriptionSettings& s, const RecordedEvent& e) {
  if (e.type == kScavengedEventType) return false;
  if (!s.category.empty() && Category(e.stream_id) != s.category) return false;
  return s.event_types.empty() ||
         std::find(s.event_types.begin(), s.event_types.end(), e.type) != s.event_types.end();
}

bool SameFilters(const PersistentSubscriptionSettings& a, const PersistentSubscriptionSettings& b) {
  return a.category == b.category && a.event_types == b.event_types;
}

Error Invalid(const std::string& message) {
  return Error::Make(ErrorCode::kInvalidArgument, message);
}

Error NoSuch(const std::string& name) {
  return Error::Make(ErrorCode::kNotFound, "no persistent subscription named '" + name + "'");
}

class Manager final : public PersistentSubscriptions {
 public:
  Manager(EventStore& store, PersistentSubscriptionsOptions options,
          std::unique_ptr<PersistentSubscriptionFile> file)
      : store_(store), options_(std::move(options)), file_(std::move(file)) {}
  ~Manager() override { Shutdown(); }

  Status Resume();

  Result<bool> Put(const std::string& name,
                   const PersistentSubscriptionSettings& settings) override;
  Status Delete(const std::string& name) override;
  Result<PersistentSubscriptionInfo> Get(const std::string& name) override;
  std::vector<PersistentSubscriptionInfo> List() override;
  void Lease(const std::string& name, size_t max, std::chrono::milliseconds wait,
             LeaseCallback done) override;
  Result<AckOutcome> Ack(const std::string& name, const std::vector<int64_t>& positions) override;
  Result<AckOutcome> Nack(const std::string& name, const std::vector<int64_t>& positions,
                          NackAction action, const std::string& reason) override;
  Result<std::vector<ParkedEvent>> ListParked(const std::string& name, int64_t after_id,
                                              size_t limit) override;
  Result<int64_t> RetryParked(const std::string& name, const std::vector<int64_t>& ids) override;
  void Shutdown() override;

 private:
  // With mu_ held, all of these.
  Sub* Find(const std::string& name);
  std::vector<LeasedEvent> TakeLeases(Sub& s, size_t max, Steady::time_point now);
  // A lease of `e` ended without an ack: it is leased again, or parked when `park` or out of
  // deliveries. True when parked.
  bool Release(Sub& s, Entry& e, bool park, const std::string& reason, SubscriptionWrite& w);
  // Drops the acked and parked front of the window and moves the checkpoint over it.
  void Advance(Sub& s, SubscriptionWrite& w);
  void ExpireLeases(Steady::time_point now, std::vector<SubscriptionWrite>& writes);
  // Reads ahead for every subscription with room; unlocks `lock` while reading. True when
  // something was read.
  bool ReadAhead(std::unique_lock<std::mutex>& lock, std::vector<SubscriptionWrite>& writes);
  void ServeWaiters(Steady::time_point now, Responses& out, Steady::time_point& next);
  PersistentSubscriptionInfo Info(const Sub& s) const;
  Result<AckOutcome> EndLeases(const std::string& name, const std::vector<int64_t>& positions,
                               std::optional<NackAction> nack, const std::string& reason);

  // Writes `writes` (and any earlier ones that failed) in the order of the changes: takes the
  // file's mutex, then unlocks `lock`, which stays unlocked.
  Status Commit(std::unique_lock<std::mutex>& lock, std::vector<SubscriptionWrite> writes);

  void Run();
  void WatchHead();

  EventStore& store_;
  const PersistentSubscriptionsOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool work_ = false;  // something changed that the thread should look at
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> head_{0};
  uint64_t next_id_ = 1;
  std::map<std::string, std::unique_ptr<Sub>> subs_;
  std::list<Waiter> waiters_;
  Steady::time_point earliest_deadline_ = Steady::time_point::max();

  std::mutex file_mu_;  // taken after mu_, never before
  std::unique_ptr<PersistentSubscriptionFile> file_;
  std::vector<SubscriptionWrite> unwritten_;  // with file_mu_: writes that failed

  std::once_flag joined_;
  std::thread runner_;
  std::thread head_watcher_;
};

Status Manager::Resume() {
  auto head = store_.HeadPosition();
  if (!head.ok()) return head.error();
  head_ = *head;
  auto stored = file_->LoadAll();
  if (!stored.ok()) return stored.error();
  for (StoredSubscription& s : *stored) {
    auto sub = std::make_unique<Sub>();
    sub->id = next_id_++;
    sub->name = s.name;
    sub->settings = std::move(s.settings);
    sub->checkpoint = s.checkpoint;
    sub->read_position = s.checkpoint;
    auto parked = file_->ListParked(s.name, 0, SIZE_MAX);
    if (!parked.ok()) return parked.error();
    for (const ParkedEvent& p : *parked) {
      if (p.event.position > s.checkpoint && !p.retry_requested) {
        sub->parked_ahead.insert(p.event.position);
      }
    }
    auto retries = file_->RetryRequested(s.name);
    if (!retries.ok()) return retries.error();
    for (ParkedEvent& p : *retries) {
      Entry e;
      e.event = std::move(p.event);
      e.parked_id = p.id;
      sub->retries.emplace(e.event.position, std::move(e));
    }
    subs_.emplace(s.name, std::move(sub));
  }
  runner_ = std::thread([this] { Run(); });
  head_watcher_ = std::thread([this] { WatchHead(); });
  return OkStatus();
}

Sub* Manager::Find(const std::string& name) {
  auto it = subs_.find(name);
  return it == subs_.end() ? nullptr : it->second.get();
}

std::vector<LeasedEvent> Manager::TakeLeases(Sub& s, size_t max, Steady::time_point now) {
  std::vector<LeasedEvent> out;
  auto lease = [&](Entry& e) {
    e.state = Entry::State::kLeased;
    ++e.deliveries;
    e.deadline = now + std::chrono::milliseconds(s.settings.ack_timeout_ms);
    earliest_deadline_ = std::min(earliest_deadline_, e.deadline);
    ++s.in_flight;
    out.push_back({e.event, e.deliveries});
  };
  for (auto& [position, e] : s.retries) {
    if (out.size() >= max) return out;
    if (e.state == Entry::State::kAvailable) lease(e);
  }
  // A stream whose earliest unfinished event is in flight or waiting has nothing to give.
  std::unordered_set<std::string_view> blocked;
  for (auto& [position, e] : s.window) {
    if (out.size() >= max) break;
    if (e.state == Entry::State::kDone) continue;
    if (!blocked.insert(e.event.stream_id).second) continue;
    if (e.state == Entry::State::kAvailable) lease(e);
  }
  return out;
}

bool Manager::Release(Sub& s, Entry& e, bool park, const std::string& reason,
                      SubscriptionWrite& w) {
  --s.in_flight;
  if (!park && e.deliveries < s.settings.max_deliveries) {
    e.state = Entry::State::kAvailable;
    return false;
  }
  ParkedEvent p;
  p.id = e.parked_id;
  p.event = e.event;
  p.attempts = static_cast<int>(e.deliveries);
  p.error =
      park ? reason
           : reason + "; delivered " + std::to_string(e.deliveries) + " times (max_deliveries)";
  (e.parked_id ? w.reparks : w.parks).push_back(std::move(p));
  e.state = Entry::State::kDone;
  return true;
}

void Manager::Advance(Sub& s, SubscriptionWrite& w) {
  while (!s.window.empty() && s.window.begin()->second.state == Entry::State::kDone) {
    s.window.erase(s.window.begin());
  }
  const int64_t checkpoint = s.window.empty() ? s.read_position : s.window.begin()->first - 1;
  if (checkpoint > s.checkpoint) {
    s.checkpoint = checkpoint;
    w.checkpoint = checkpoint;
  }
}

void Manager::ExpireLeases(Steady::time_point now, std::vector<SubscriptionWrite>& writes) {
  if (earliest_deadline_ > now) return;
  earliest_deadline_ = Steady::time_point::max();
  for (auto& [name, s] : subs_) {
    if (s->in_flight == 0) continue;
    SubscriptionWrite w{name};
    const std::string reason =
        "not acked within " + std::to_string(s->settings.ack_timeout_ms) + " ms";
    for (auto* entries : {&s->window, &s->retries}) {
      for (auto it = entries->begin(); it != entries->end();) {
        Entry& e = it->second;
        if (e.state == Entry::State::kLeased) {
          if (e.deadline <= now) {
            if (Release(*s, e, false, reason, w) && entries == &s->retries) {
              it = entries->erase(it);
              continue;
            }
          } else {
            earliest_deadline_ = std::min(earliest_deadline_, e.deadline);
          }
        }
        ++it;
      }
    }
    Advance(*s, w);
    if (!w.empty()) writes.push_back(std::move(w));
  }
}

bool Manager::ReadAhead(std::unique_lock<std::mutex>& lock,
                        std::vector<SubscriptionWrite>& writes) {
  struct Job {
    std::string name;
    uint64_t id;
    int64_t after;
    size_t room;
  };
  std::vector<Job> jobs;
  const int64_t head = head_;
  for (auto& [name, s] : subs_) {
    if (s->read_position < head && s->window.size() < options_.window) {
      jobs.push_back({name, s->id, s->read_position, options_.window - s->window.size()});
    }
  }
  bool progressed = false;
  for (const Job& job : jobs) {
    lock.unlock();
    auto page = store_.ReadLog(job.after, std::min(job.room, kReadPage));
    lock.lock();
    if (stopping_) return false;
    Sub* s = Find(job.name);
    // A read that failed is tried again on the next round.
    if (!page.ok() || !s || s->id != job.id || s->read_position != job.after) continue;
    for (const RecordedEvent& e : page->events) {
      if (s->window.size() >= options_.window) break;
      if (Matches(s->settings, e) && !s->parked_ahead.erase(e.position)) {
        s->window[e.position].event = e;
      }
      s->read_position = e.position;
      progressed = true;
    }
    SubscriptionWrite w{job.name};
    Advance(*s, w);
    if (!w.empty()) writes.push_back(std::move(w));
  }
  return progressed;
}

void Manager::ServeWaiters(Steady::time_point now, Responses& out, Steady::time_point& next) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Sub* s = Find(it->name);
    std::vector<LeasedEvent> got;
    if (s && s->id == it->sub_id) got = TakeLeases(*s, it->max, now);
    if (!got.empty() || !s || s->id != it->sub_id || it->deadline <= now || stopping_) {
      out.emplace_back(std::move(it->done), std::move(got));
      it = waiters_.erase(it);
      continue;
    }
    next = std::min(next, it->deadline);
    ++it;
  }
}

Status Manager::Commit(std::unique_lock<std::mutex>& lock, std::vector<SubscriptionWrite> writes) {
  std::erase_if(writes, [](const SubscriptionWrite& w) { return w.empty(); });
  std::unique_lock file_lock(file_mu_);
  lock.unlock();
  if (writes.empty() && unwritten_.empty()) return OkStatus();
  std::vector<SubscriptionWrite> all = std::move(unwritten_);
  unwritten_.clear();
  for (SubscriptionWrite& w : writes) all.push_back(std::move(w));
  Status written = file_->Apply(all);
  // Kept, in order, for the next write: a later checkpoint must not pass a park lost here.
  if (!written.ok()) unwritten_ = std::move(all);
  return written;
}

void Manager::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    work_ = false;
    std::vector<SubscriptionWrite> writes;
    ExpireLeases(Steady::now(), writes);
    const bool progressed = ReadAhead(lock, writes);
    if (stopping_) break;
    const auto now = Steady::now();
    Steady::time_point next = std::min(now + kIdleWait, earliest_deadline_);
    Responses responses;
    ServeWaiters(now, responses, next);
    if (!writes.empty() || !responses.empty()) {
      (void)Commit(lock, std::move(writes));  // a failed write is kept and tried again
      for (auto& [done, result] : responses) done(std::move(result));
      lock.lock();
      continue;
    }
    if (progressed) continue;
    cv_.wait_until(lock, next, [&] { return stopping_ || work_; });
  }
}

void Manager::WatchHead() {
  int64_t seen = head_;
  while (!stopping_) {
    auto head = store_.WaitForHead(seen, kIdleWait);
    if (!head.ok()) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kIdleWait, [&] { return stopping_.load(); });
      continue;
    }
    if (*head > seen) {
      seen = *head;
      head_ = seen;
      std::lock_guard guard(mu_);
      work_ = true;
      cv_.notify_all();
    }
  }
}

void Manager::Shutdown() {
  Responses responses;
  {
    std::lock_guard guard(mu_);
    stopping_ = true;
    for (Waiter& w : waiters_)
      responses.emplace_back(std::move(w.done), std::vector<LeasedEvent>{});
    waiters_.clear();
    cv_.notify_all();
  }
  for (auto& [done, result] : responses) done(std::move(result));
  std::call_once(joined_, [this] {
    if (runner_.joinable()) runner_.join();
    if (head_watcher_.joinable()) head_watcher_.join();
  });
}

Result<bool> Manager::Put(const std::string& name, const PersistentSubscriptionSettings& settings) {
  if (Status s = ValidatePersistentSubscriptionName(name); !s.ok()) return s.error();
  if (Status s = ValidatePersistentSubscriptionSettings(settings); !s.ok()) return s.error();
  std::lock_guard guard(mu_);
  Sub* existing = Find(name);
  if (!existing && subs_.size() >= options_.max_subscriptions) {
    return Error::Make(ErrorCode::kLimitExceeded, "there are " + std::to_string(subs_.size()) +
                                                      " persistent subscriptions; the limit is " +
                                                      std::to_string(options_.max_subscriptions));
  }
  StoredSubscription stored{name, settings, existing ? existing->checkpoint : settings.from};
  {
    std::lock_guard file_guard(file_mu_);
    if (Status s = file_->Put(stored); !s.ok()) return s.error();
  }
  work_ = true;
  cv_.notify_all();
  if (existing) {
    const bool refilter = !SameFilters(existing->settings, settings);
    const int64_t from = existing->settings.from;
    existing->settings = settings;
    existing->settings.from = from;
    if (refilter) {
      // Read again with the new filters; leases in flight are forgotten.
      existing->window.clear();
      existing->in_flight = 0;
      for (auto& [position, e] : existing->retries) {
        if (e.state == Entry::State::kLeased) ++existing->in_flight;
      }
      existing->read_position = existing->checkpoint;
    }
    return false;
  }
  auto sub = std::make_unique<Sub>();
  sub->id = next_id_++;
  sub->name = name;
  sub->settings = settings;
  sub->checkpoint = settings.from;
  sub->read_position = settings.from;
  subs_.emplace(name, std::move(sub));
  return true;
}

Status Manager::Delete(const std::string& name) {
  Responses responses;
  {
    std::lock_guard guard(mu_);
    Sub* s = Find(name);
    if (!s) return NoSuch(name);
    {
      std::lock_guard file_guard(file_mu_);
      if (Status deleted = file_->Delete(name); !deleted.ok()) return deleted;
      std::erase_if(unwritten_, [&](const SubscriptionWrite& w) { return w.name == name; });
    }
    subs_.erase(name);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->name != name) {
        ++it;
        continue;
      }
      responses.emplace_back(std::move(it->done), std::vector<LeasedEvent>{});
      it = waiters_.erase(it);
    }
  }
  for (auto& [done, result] : responses) done(std::move(result));
  return OkStatus();
}

PersistentSubscriptionInfo Manager::Info(const Sub& s) const {
  PersistentSubscriptionInfo info;
  info.name = s.name;
  info.settings = s.settings;
  info.checkpoint = s.checkpoint;
  info.head = head_;
  info.in_flight = s.in_flight;
  return info;
}

Result<PersistentSubscriptionInfo> Manager::Get(const std::string& name) {
  PersistentSubscriptionInfo info;
  {
    std::lock_guard guard(mu_);
    Sub* s = Find(name);
    if (!s) return NoSuch(name);
    info = Info(*s);
  }
  std::lock_guard file_guard(file_mu_);
  auto parked = file_->CountParked(name);
  if (!parked.ok()) return parked.error();
  info.parked = *parked;
  return info;
}

std::vector<PersistentSubscriptionInfo> Manager::List() {
  std::vector<PersistentSubscriptionInfo> all;
  {
    std::lock_guard guard(mu_);
    for (const auto& [name, s] : subs_) all.push_back(Info(*s));
  }
  std::lock_guard file_guard(file_mu_);
  for (PersistentSubscriptionInfo& info : all) {
    auto parked = file_->CountParked(info.name);
    info.parked = parked.ok() ? *parked : -1;
  }
  return all;
}

void Manager::Lease(const std::string& name, size_t max, std::chrono::milliseconds wait,
                    LeaseCallback done) {
  if (max < 1 || max > options_.max_lease) {
    return done(Invalid("max must be 1 to " + std::to_string(options_.max_lease)));
  }
  if (wait.count() < 0 || wait > options_.max_wait) {
    return done(Invalid("wait must be 0 to " + std::to_string(options_.max_wait.count()) + " ms"));
  }
  std::vector<LeasedEvent> got;
  {
    std::lock_guard guard(mu_);
    Sub* s = Find(name);
    if (!s) return done(NoSuch(name));
    const auto now = Steady::now();
    got = TakeLeases(*s, max, now);
    if (got.empty() && wait.count() > 0 && !stopping_) {
      waiters_.push_back({name, s->id, max, now + wait, std::move(done)});
      work_ = true;  // read ahead now, and wake at its deadline
      cv_.notify_all();
      return;
    }
  }
  done(std::move(got));
}

Result<AckOutcome> Manager::EndLeases(const std::string& name,
                                      const std::vector<int64_t>& positions,
                                      std::optional<NackAction> nack, const std::string& reason) {
  if (positions.size() > options_.max_ack_positions) {
    return Invalid("at most " + std::to_string(options_.max_ack_positions) +
                   " positions at once, got " + std::to_string(positions.size()));
  }
  std::unique_lock lock(mu_);
  Sub* s = Find(name);
  if (!s) return NoSuch(name);
  AckOutcome out;
  SubscriptionWrite w{name};
  const bool park = nack == NackAction::kPark;
  for (int64_t position : positions) {
    auto in_window = s->window.find(position);
    if (in_window != s->window.end() && in_window->second.state == Entry::State::kLeased) {
      Entry& e = in_window->second;
      if (!nack) {
        e.state = Entry::State::kDone;
        --s->in_flight;
        ++out.acked;
      } else {
        ++(Release(*s, e, park, reason, w) ? out.parked : out.retried);
      }
      continue;
    }
    auto retried = s->retries.find(position);
    if (retried != s->retries.end() && retried->second.state == Entry::State::kLeased) {
      Entry& e = retried->second;
      bool finished = true;
      if (!nack) {
        w.unparks.push_back(e.parked_id);
        --s->in_flight;
        ++out.acked;
      } else {
        finished = Release(*s, e, park, reason, w);
        ++(finished ? out.parked : out.retried);
      }
      if (finished) s->retries.erase(retried);
      continue;
    }
    ++out.ignored;
  }
  Advance(*s, w);
  out.checkpoint = s->checkpoint;
  work_ = true;  // streams may be free again
  cv_.notify_all();
  std::vector<SubscriptionWrite> writes;
  writes.push_back(std::move(w));
  if (Status written = Commit(lock, std::move(writes)); !written.ok()) return written.error();
  return out;
}

Result<AckOutcome> Manager::Ack(const std::string& name, const std::vector<int64_t>& positions) {
  return EndLeases(name, positions, std::nullopt, "");
}

Result<AckOutcome> Manager::Nack(const std::string& name, const std::vector<int64_t>& positions,
                                 NackAction action, const std::string& reason) {
  return EndLeases(name, positions, action, reason.empty() ? "nacked" : reason);
}

Result<std::vector<ParkedEvent>> Manager::ListParked(const std::string& name, int64_t after_id,
                                                     size_t limit) {
  {
    std::lock_guard guard(mu_);
    if (!Find(name)) return NoSuch(name);
  }
  std::lock_guard file_guard(file_mu_);
  return file_->ListParked(name, after_id, limit);
}

Result<int64_t> Manager::RetryParked(const std::string& name, const std::vector<int64_t>& ids) {
  if (ids.size() > options_.max_ack_positions) {
    return Invalid("at most " + std::to_string(options_.max_ack_positions) + " ids at once");
  }
  std::lock_guard guard(mu_);
  Sub* s = Find(name);
  if (!s) return NoSuch(name);
  Result<std::vector<ParkedEvent>> marked = std::vector<ParkedEvent>{};
  {
    std::lock_guard file_guard(file_mu_);
    marked = file_->RequestRetry(name, ids);
  }
  if (!marked.ok()) return marked.error();
  int64_t added = 0;
  for (ParkedEvent& p : *marked) {
    if (s->retries.count(p.event.position)) continue;
    Entry e;
    e.event = std::move(p.event);
    e.parked_id = p.id;
    s->retries.emplace(e.event.position, std::move(e));
    ++added;
  }
  work_ = true;
  cv_.notify_all();
  return added;
}

}  // namespace

Status ValidatePersistentSubscriptionName(const std::string& name) {
  if (name.empty() || name.size() > 128) {
    return Invalid("a subscription name has 1 to 128 characters, got " +
                   std::to_string(name.size()));
  }
  if (name[0] == '.') return Invalid("a subscription name must not start with '.'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return Invalid("a subscription name holds only A-Z a-z 0-9 _ - .");
  }
  return OkStatus();
}

Status ValidatePersistentSubscriptionSettings(const PersistentSubscriptionSettings& s) {
  if (s.from < 0) return Invalid("from must be a position, 0 or more");
  if (s.category.size() > 256 || s.category.find('-') != std::string::npos) {
    return Invalid("category must be at most 256 bytes without '-'");
  }
  if (s.event_types.size() > 100) return Invalid("event_types holds at most 100 types");
  for (const std::string& type : s.event_types) {
    if (type.empty() || type.size() > 256) {
      return Invalid("each of event_types has 1 to 256 bytes");
    }
  }
  if (s.ack_timeout_ms < 1 || s.ack_timeout_ms > 3600000) {
    return Invalid("ack_timeout_ms must be 1 to 3600000");
  }
  if (s.max_deliveries < 1 || s.max_deliveries > 1000) {
    return Invalid("max_deliveries must be 1 to 1000");
  }
  return OkStatus();
}

Result<std::unique_ptr<PersistentSubscriptions>> PersistentSubscriptions::Open(
    EventStore& store, PersistentSubscriptionsOptions options) {
  if (options.path.empty()) return Invalid("persistent subscriptions need a file path");
  if (options.max_lease < 1 || options.window < 1) {
    return Invalid("max_lease and window must be at least 1");
  }
  auto file = PersistentSubscriptionFile::Open(options.path);
  if (!file.ok()) return file.error();
  auto manager = std::make_unique<Manager>(store, std::move(options), std::move(file).value());
  if (Status s = manager->Resume(); !s.ok()) return s.error();
  return std::unique_ptr<PersistentSubscriptions>(std::move(manager));
}

}  // namespace evs
