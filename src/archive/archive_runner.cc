// Drives an Archiver from the embedded log: the archive is the checkpoint, so the runner reads
// the log after ArchivedUpTo() rather than from a checkpoint store.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/backoff.h"
#include "evs/archive.h"

namespace evs {
namespace {

constexpr size_t kPageSize = 4096;
constexpr std::chrono::milliseconds kIdleWait{200};
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

// Hands `archiver` the log from what it has archived up to `up_to` (or the log's end), page by
// page (events it already holds are skipped), reporting progress.
Status HandOverLog(EventStore& store, Archiver& archiver, int64_t up_to,
                   const ArchiveProgressFn& progress) {
  ArchiveProgress report;
  report.target = up_to;
  for (int64_t after = archiver.ArchivedUpTo(); after < up_to;) {
    auto page = store.ReadLog(after, kPageSize);
    if (!page.ok()) return page.error();
    if (page->events.empty()) break;
    // A log that hands back what was already read (a store whose files changed under it) must
    // not keep this loop going.
    if (page->events.back().position <= after) {
      return Error::Make(ErrorCode::kCorruption, "the log answered a read after position " +
                                                     std::to_string(after) + " with position " +
                                                     std::to_string(page->events.back().position));
    }
    if (auto s = archiver.Handle(page->events); !s) return s;
    after = page->events.back().position;
    report.position = after;
    report.events += static_cast<int64_t>(page->events.size());
    if (progress) {
      report.bytes = archiver.Stats().bytes_written;
      progress(report);
    }
  }
  return OkStatus();
}

class Runner final : public ArchiveRunner {
 public:
  Runner(EventStore& store, std::unique_ptr<Archiver> archiver)
      : store_(store), archiver_(std::move(archiver)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Runner() override { (void)Stop(); }

  Status Stop() override {
    std::lock_guard stop_guard(stop_mu_);  // one Stop() at a time: a second waits for the first
    {
      std::lock_guard guard(mu_);
      if (stopped_) return final_;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // A graceful stop leaves nothing behind: what the log holds now is archived, and the open
    // segment written, rather than read again after the restart.
    Status flushed = HandOverLog(store_, *archiver_, INT64_MAX, {});
    if (flushed.ok()) flushed = archiver_->Flush();
    std::lock_guard guard(mu_);
    stopped_ = true;
    if (!flushed.ok()) error_ = flushed.error().message;
    final_ = flushed;
    archived_cv_.notify_all();
    return flushed;
  }

  ArchiveRunnerStatus GetStatus() const override {
    ArchiveRunnerStatus status;
    status.archiver = archiver_->Stats();
    std::lock_guard guard(mu_);
    status.state = stopped_ ? ArchiveRunnerStatus::State::kStopped
                            : (error_.empty() ? ArchiveRunnerStatus::State::kRunning
                                              : ArchiveRunnerStatus::State::kFailed);
    status.head = head_;
    status.error = error_;
    return status;
  }

  bool WaitUntilArchived(int64_t position, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    return archived_cv_.wait_for(lock, timeout, [&] {
      return archiver_->ArchivedUpTo() >= position || stopped_;
    }) && archiver_->ArchivedUpTo() >= position;
  }

 private:
  void Run() {
    int64_t after = archiver_->ArchivedUpTo();
    Backoff backoff(kFirstBackoff, kMaxBackoff);
    for (;;) {
      {
        std::lock_guard guard(mu_);
        if (stopping_) return;
      }
      Status step = Step(after);
      std::unique_lock lock(mu_);
      archived_cv_.notify_all();
      if (step.ok()) {
        error_.clear();
        backoff.Reset();
        continue;
      }
      error_ = step.error().message;
      // Read again from what is archived: the archiver skips what it already holds.
      after = archiver_->ArchivedUpTo();
      cv_.wait_for(lock, backoff.Next(), [&] { return stopping_; });
    }
  }

  // Hands the next page to the archiver, or waits for one (cutting an old segment meanwhile).
  Status Step(int64_t& after) {
    auto page = store_.ReadLog(after, kPageSize);
    if (!page.ok()) return page.error();
    {
      std::lock_guard guard(mu_);
      head_ = page->head_position;
    }
    if (!page->events.empty()) {
      if (auto s = archiver_->Handle(page->events); !s) return s;
      after = page->events.back().position;
      return OkStatus();
    }
    if (auto s = archiver_->FlushIfDue(); !s) return s;
    auto head = store_.WaitForHead(after, kIdleWait);
    if (!head.ok()) return head.error();
    return OkStatus();
  }

  EventStore& store_;
  std::unique_ptr<Archiver> archiver_;
  std::mutex stop_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;           // wakes the backoff wait on Stop()
  std::condition_variable archived_cv_;  // WaitUntilArchived
  bool stopping_ = false;
  bool stopped_ = false;
  Status final_ = OkStatus();
  int64_t head_ = 0;
  std::string error_;
  std::thread thread_;
};

}  // namespace

Status CheckArchiveFollowsStore(EventStore& store, const Archiver& archiver,
                                const ObjectStore& objects) {
  const int64_t end = archiver.ArchivedUpTo();
  if (end == 0) return OkStatus();
  auto page = store.ReadLog(end - 1, 1);
  if (!page.ok()) return page.error();
  const std::string where =
      "archive " + objects.Location() + " ends at position " + std::to_string(end);
  if (page->events.empty() || page->events.front().position != end) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       where + ", past the store's head " + std::to_string(page->head_position) +
                           ": it was made from another store, or from this one before it was "
                           "restored to an earlier point; archive into a new location");
  }
  if (page->events.front().id != archiver.LastArchivedEventId()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       where + " with event " + archiver.LastArchivedEventId().ToString() +
                           ", but the store holds event " + page->events.front().id.ToString() +
                           " there: the archive belongs to another history (another store, or "
                           "this one before a restore to an earlier point); archive into a new "
                           "location");
  }
  return OkStatus();
}

Result<std::unique_ptr<ArchiveRunner>> ArchiveRunner::Start(EventStore& store, ObjectStore& objects,
                                                            ArchiverOptions options) {
  auto archiver = Archiver::Open(objects, options);
  if (!archiver.ok()) return archiver.error();
  if (auto s = CheckArchiveFollowsStore(store, **archiver, objects); !s) return s.error();
  return std::unique_ptr<ArchiveRunner>(
      std::make_unique<Runner>(store, std::move(archiver).value()));
}

Result<ArchiverStats> ArchiveOnce(EventStore& store, ObjectStore& objects, ArchiverOptions options,
                                  const ArchiveProgressFn& progress) {
  auto archiver = Archiver::Open(objects, options);
  if (!archiver.ok()) return archiver.error();
  if (auto s = CheckArchiveFollowsStore(store, **archiver, objects); !s) return s.error();
  auto head = store.HeadPosition();
  if (!head.ok()) return head.error();
  if (auto s = HandOverLog(store, **archiver, *head, progress); !s) return s.error();
  if (auto s = (*archiver)->Flush(); !s) return s.error();
  return (*archiver)->Stats();
}

}  // namespace evs
