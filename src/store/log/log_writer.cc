#include "store/log/log_writer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/system_error.h"
#include "store/deliver_appends.h"
#include "store/log/log_format.h"

namespace evs::store::log {
namespace {

Error LogClosing() { return Error::Make(ErrorCode::kUnavailable, "the store is closing"); }

// Preallocation of the next segment starts once the current one is this full.
constexpr double kLogPrepareNextAt = 0.5;

}  // namespace

void SegmentSet::Add(std::shared_ptr<Segment> segment) {
  std::lock_guard guard(mu_);
  if (!segments_.empty() && segments_.back()->number() >= segment->number()) return;
  segments_.push_back(std::move(segment));
}

std::shared_ptr<Segment> SegmentSet::Get(uint32_t number) const {
  std::lock_guard guard(mu_);
  if (segments_.empty() || number < segments_.front()->number()) return nullptr;
  const size_t i = number - segments_.front()->number();
  return i < segments_.size() ? segments_[i] : nullptr;
}

uint32_t SegmentSet::First() const {
  std::lock_guard guard(mu_);
  return segments_.empty() ? 0 : segments_.front()->number();
}

void SegmentSet::Replace(std::shared_ptr<Segment> segment) {
  std::lock_guard guard(mu_);
  if (segments_.empty() || segment->number() < segments_.front()->number()) return;
  const size_t i = segment->number() - segments_.front()->number();
  if (i < segments_.size()) segments_[i] = std::move(segment);
}

int64_t SegmentSet::FileBytes() const {
  std::lock_guard guard(mu_);
  int64_t bytes = 0;
  for (const auto& s : segments_) bytes += static_cast<int64_t>(s->size());
  return bytes;
}

LogWriter::LogWriter(LogWriterOptions options, const RecoveredLog& recovered,
                     CommitPlanner& planner, LogIndex& index, SegmentSet& segments,
                     std::atomic<int64_t>& head_position)
    : options_(std::move(options)),
      fs_(*options_.file_system),
      clock_(*options_.clock),
      planner_(planner),
      index_(index),
      segments_(segments),
      head_position_(head_position),
      preallocator_(fs_, options_.folder, options_.segment_bytes) {
  current_ = segments_.Get(recovered.end.segment);
  offset_ = dirty_end_ = recovered.end.offset;
  chain_ = recovered.chain;
  attempt_ = first_attempt_ = recovered.attempt;
  last_record_ = recovered.last_record;
  next_position_ = recovered.next_position;
  last_recorded_us_ = recovered.last_recorded_us;
}

LogWriter::~LogWriter() { Stop(); }

bool LogWriter::Healthy() {
  std::lock_guard guard(sync_mu_);
  return !sync_failure_ && !write_failure_;
}

LogEnd LogWriter::End() const {
  LogEnd end;
  end.end = RecordLocation{current_->number(), offset_};
  end.last_record = last_record_;
  end.chain = chain_;
  end.next_position = next_position_;
  end.attempt = attempt_;
  end.last_recorded_us = last_recorded_us_;
  return end;
}

void LogWriter::Stop() {
  {
    std::lock_guard guard(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard guard(sync_mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
}

Status LogWriter::Start() {
  auto head_file = DurableHeadWriter::Open(fs_, LogHeadBase(options_.folder));
  if (!head_file) return head_file.error();
  durable_head_.emplace(std::move(head_file).value());
  if (auto s = durable_head_->Publish(head_position_.load()); !s) return s;
  writer_thread_ = std::thread([this] { WriterLoop(); });
  sync_thread_ = std::thread([this] { SyncLoop(); });
  return OkStatus();
}

bool LogWriter::Enqueue(PendingAppend& pending) {
  {
    std::lock_guard guard(queue_mu_);
    if (stopping_) return false;
    queue_.push_back(&pending);
  }
  queue_cv_.notify_one();
  return true;
}

Status LogWriter::Submit(PendingAppend& pending) {
  if (!Enqueue(pending)) return LogClosing();
  pending.done.Wait();
  return OkStatus();
}

Result<AppendResult> LogWriter::Append(std::string_view stream, const ExpectedVersion& expected,
                                       std::vector<EventData> events) {
  PendingAppend pending{stream, expected, events};
  if (auto s = Submit(pending); !s) return s.error();
  return std::move(*pending.result);
}

void LogWriter::AppendAsync(std::string_view stream, const ExpectedVersion& expected,
                            std::vector<EventData> events, EventStore::AppendCallback callback) {
  auto pending = std::make_unique<AsyncAppend>(
      AsyncParts{std::string(stream), expected, std::move(events), std::move(callback)});
  if (!Enqueue(*pending)) {
    pending->callback(LogClosing());
    return;
  }
  pending.release();  // Deliver() deletes it once it has called back
}

Status LogWriter::Change(std::string_view stream, const ExpectedVersion& expected,
                         const LifecycleChange& change) {
  std::vector<EventData> none;
  PendingAppend pending{stream, expected, none};
  pending.change = &change;
  if (auto s = Submit(pending); !s) return s;
  if (!pending.result->ok()) return pending.result->error();
  return OkStatus();
}

Result<uint32_t> LogWriter::Seal() {
  std::vector<EventData> none;
  const ExpectedVersion any = ExpectedVersion::Any();
  PendingAppend pending{"", any, none};
  pending.seal = true;
  if (auto s = Submit(pending); !s) return s.error();
  if (!pending.result->ok()) return pending.result->error();
  return pending.sealed_below;
}

void LogWriter::WriterLoop() {
  for (;;) {
    std::vector<PendingAppend*> taken;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is handed on
      const size_t n = std::min(queue_.size(), std::max<size_t>(1, options_.max_batch_appends));
      taken.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    BatchHeads settled;
    {
      std::lock_guard guard(sync_mu_);
      settled.swap(synced_heads_);
    }
    planner_.Settled(settled);
    HandToSync(WriteBatch(std::move(taken)));
  }
}

bool LogWriter::QueueEmpty() {
  std::lock_guard guard(queue_mu_);
  return queue_.empty();
}

void LogWriter::HandToSync(Batch batch) {
  // A lone writer: one append in the batch and none queued. With more, appends keep arriving
  // while a batch is fsynced, and the writer is better off free to write them meanwhile
  // (measured: syncing here whenever the queue was empty cost 64 blocking writers ~10%).
  const bool quiet = batch.appends.size() <= 1 && QueueEmpty();
  std::deque<Batch> here;
  {
    std::lock_guard guard(sync_mu_);
    // Every batch before this one is completed when the sync thread is idle with nothing handed
    // to it, and the writer makes no other batch meanwhile: the order holds.
    if (quiet && !sync_busy_ && to_sync_.empty()) {
      sync_busy_ = true;
      here.push_back(std::move(batch));
    } else {
      to_sync_.push_back(std::move(batch));
    }
  }
  if (here.empty()) {
    sync_cv_.notify_all();
  } else {
    SyncAndDeliver(here);
  }
}

Result<std::vector<CommittedId>> LogWriter::IdsAt(std::string_view stream, int64_t first,
                                                  size_t count) {
  std::vector<CommittedId> ids;
  std::shared_lock<std::shared_mutex> locations;
  if (options_.locations) locations = std::shared_lock(*options_.locations);
  const int64_t last = first + static_cast<int64_t>(count) - 1;
  for (const StreamCommit& c : index_.CommitsOf(stream, first, last)) {
    const RecordLocation where = UnpackLocation(c.packed);
    auto segment = segments_.Get(where.segment);
    char header[kRecordHeaderBytes];
    if (!segment || segment->Read(header, sizeof header, where.offset) != sizeof header) {
      return SystemError("cannot read the record at offset " + std::to_string(where.offset) +
                         " of segment " + std::to_string(where.segment));
    }
    const RecordHeader h = ParseRecordHeader(header);
    read_buffer_.resize(h.length);
    std::vector<CommittedId> record;
    if (segment->Read(read_buffer_.data(), h.length, where.offset + kRecordHeaderBytes) !=
            static_cast<ssize_t>(h.length) ||
        !DecodeIds(std::string_view(read_buffer_.data(), h.length), record)) {
      return Error::Make(ErrorCode::kCorruption, "the record at offset " +
                                                     std::to_string(where.offset) + " of " +
                                                     segment->path() + " cannot be read back");
    }
    for (size_t i = 0; i < record.size(); ++i) {
      const int64_t v = c.first_version + static_cast<int64_t>(i);
      if (v >= first && v <= last) ids.push_back(record[i]);
    }
  }
  return ids;
}

Status LogWriter::Roll(Batch& batch) {
  // What a failed batch left past the end of this segment must not look like records to a scan
  // that reaches the end and goes on to the next segment.
  if (dirty_end_ > offset_) {
    const size_t n = static_cast<size_t>(dirty_end_ - offset_);
    std::string zeros(n, '\0');
    if (int err = current_->Write(zeros.data(), n, offset_); err != 0) {
      return Error::Make(ErrorCode::kIOError, std::string(err == ENOSPC ? "disk full: " : "") +
                                                  "cannot write " + current_->path() + ": " +
                                                  std::strerror(err));
    }
    dirty_end_ = offset_;
  }
  // A next segment that exists already was rolled to by a batch that failed: whatever it wrote
  // there counts as written.
  auto next = segments_.Get(current_->number() + 1);
  uint64_t dirty = next ? next->size() : kSegmentHeaderBytes;
  if (!next) {
    auto made = preallocator_.Take(current_->number() + 1);
    if (!made) return made.error();
    next = std::move(made).value();
    segments_.Add(next);
  }
  if (batch.written.empty() || batch.written.back() != current_) batch.written.push_back(current_);
  current_ = std::move(next);
  offset_ = kSegmentHeaderBytes;
  dirty_end_ = dirty;
  return OkStatus();
}

Status LogWriter::Flush(Batch& batch) {
  if (buffer_.empty()) return OkStatus();
  if (int err = current_->Write(buffer_.data(), buffer_.size(), offset_); err != 0) {
    dirty_end_ = std::max(dirty_end_, offset_ + buffer_.size());
    std::string what = "cannot write " + std::to_string(buffer_.size()) + " bytes to " +
                       current_->path() + ": " + std::strerror(err);
    if (err == ENOSPC || err == EDQUOT)
      return Error::Make(ErrorCode::kIOError, "disk full: " + what);
    return Error::Make(ErrorCode::kIOError, what);
  }
  if (batch.written.empty() || batch.written.back() != current_) batch.written.push_back(current_);
  offset_ += buffer_.size();
  dirty_end_ = std::max(dirty_end_, offset_);
  buffer_.clear();
  // Not when the next segment exists already (a failed batch rolled to it): a new one would be
  // renamed over the file the writer holds open.
  if (static_cast<double>(offset_) >
          kLogPrepareNextAt * static_cast<double>(options_.segment_bytes) &&
      !segments_.Get(current_->number() + 1)) {
    preallocator_.Prepare(current_->number() + 1);
  }
  return OkStatus();
}

LogWriter::Batch LogWriter::WriteBatch(std::vector<PendingAppend*> appends) {
  Batch batch;
  batch.appends = std::move(appends);
  batch.decisions.reserve(batch.appends.size());
  {
    std::lock_guard guard(sync_mu_);
    if (write_failure_ || sync_failure_) {
      Error refused = sync_failure_ ? *sync_failure_ : *write_failure_;
      refused.code = ErrorCode::kUnavailable;
      for (size_t i = 0; i < batch.appends.size(); ++i) {
        batch.decisions.push_back(AppendDecision{AppendDecision::Kind::kFail, {}, refused});
      }
      batch.refused = true;
      return batch;
    }
  }
  auto ids_at = [this](std::string_view stream, int64_t, int64_t first, size_t count) {
    return IdsAt(stream, first, count);
  };
  const int64_t now = std::max(clock_.NowMicros(), last_recorded_us_);
  const uint64_t attempt = ++attempt_;
  // Where the batch began, to go back to if it fails.
  const std::shared_ptr<Segment> start_segment = current_;
  const uint64_t start_offset = offset_;
  uint64_t chain = chain_;
  int64_t next_position = next_position_;
  buffer_.clear();
  encoded_.clear();
  std::optional<Error> error;
  PendingAppend* seal = nullptr;
  for (PendingAppend* p : batch.appends) {
    if (p->seal) {
      batch.decisions.push_back(AppendDecision{AppendDecision::Kind::kWrite, {}, std::nullopt});
      seal = p;
      continue;
    }
    const AppendDecision& d = batch.decisions.emplace_back(
        p->change ? planner_.PlanChange(p->stream, p->expected, *p->change)
                  : planner_.Plan(p->stream, p->expected, p->events, next_position, ids_at));
    if (d.kind != AppendDecision::Kind::kWrite) continue;
    const size_t record_start = buffer_.size();
    if (p->change) {
      AppendLifecycleRecord(buffer_, chain, attempt, next_position, p->stream,
                            planner_.Current(p->stream));
      encoded_.push_back(Encoded{p->stream, 0, next_position, {}});
    } else {
      AppendCommitRecord(buffer_, chain, attempt, d.result.first_position, d.result.first_version,
                         now, p->stream, p->events);
      encoded_.push_back(Encoded{p->stream, d.result.first_version, d.result.first_position, {}});
      next_position = d.result.last_position + 1;
    }
    // A record that does not fit in what is left of the segment starts the next one (unless the
    // segment is empty: a commit larger than a segment gets one of its own, grown to fit).
    size_t record_at = record_start;
    if (offset_ + buffer_.size() > current_->size() &&
        offset_ + record_start > kSegmentHeaderBytes) {
      std::string record = buffer_.substr(record_start);
      buffer_.resize(record_start);
      if (auto s = Flush(batch); !s) {
        error = s.error();
        break;
      }
      if (auto s = Roll(batch); !s) {
        error = s.error();
        break;
      }
      buffer_ = std::move(record);
      record_at = 0;
    }
    // The first record of a segment starts its chain again (log_format.h, format version 2).
    if (offset_ + record_at == kSegmentHeaderBytes && current_->version() >= 2) {
      chain = SegmentSeed(current_->number());
      ResealRecord(buffer_.data() + record_at, chain);
    }
    encoded_.back().where = RecordLocation{current_->number(), offset_ + record_at};
  }
  if (!error) {
    if (auto s = Flush(batch); !s) error = s.error();
  }
  if (!error && seal) {
    // The segment ends here: the writer goes on in the next one, and never comes back (a batch
    // that fails goes back to where it began, in the next one at the earliest). A roll that
    // fails changes nothing but the seal's outcome.
    if (offset_ > kSegmentHeaderBytes) {
      if (auto s = Roll(batch); !s) {
        const size_t i = static_cast<size_t>(
            std::find(batch.appends.begin(), batch.appends.end(), seal) - batch.appends.begin());
        batch.decisions[i] = AppendDecision{AppendDecision::Kind::kFail, {}, s.error()};
      }
    }
    seal->sealed_below = current_->number();
  }
  if (error) {
    // Nothing of the batch counts: its records lie past the end of the log, where the next batch
    // overwrites them.
    planner_.Discard();
    buffer_.clear();
    // attempt_ stays used: a rewrite of the same place never repeats a record of this batch.
    if (current_ != start_segment) {
      // Back to where the batch began (the segment it rolled to stays, as the next one); what
      // it wrote there is not known in detail, so all of the rest counts as written.
      current_ = start_segment;
      dirty_end_ = current_->size();
    }
    offset_ = start_offset;
    const bool full = error->message.starts_with("disk full: ");
    if (full) {
      error->message +=
          "; nothing of this commit was written, and the store takes appends again "
          "once there is space";
    } else {
      std::lock_guard guard(sync_mu_);
      write_failure_ =
          Error::Make(ErrorCode::kIOError, "the store failed to write (" + error->message +
                                               ") and refuses writes until it is reopened (events "
                                               "acknowledged before are safe)");
      error = *write_failure_;
    }
    for (auto& d : batch.decisions) d = AppendDecision{AppendDecision::Kind::kFail, {}, *error};
    batch.decisions.resize(batch.appends.size(),
                           AppendDecision{AppendDecision::Kind::kFail, {}, *error});
    batch.written.clear();
    return batch;
  }
  if (!encoded_.empty()) last_record_ = encoded_.back().where;
  for (const Encoded& e : encoded_) {
    if (e.first_version > 0) {
      index_.AddCommit(e.stream, e.first_version, e.first_position, e.where);
    } else {
      index_.AddRecord(e.stream, e.first_position, e.where);
    }
  }
  batch.heads = planner_.Seal();
  batch.wrote = !encoded_.empty();
  chain_ = chain;
  next_position_ = next_position;
  if (batch.wrote) last_recorded_us_ = now;
  batch.last_position = next_position - 1;
  size_t written = 0;
  for (size_t i = 0; i < batch.decisions.size(); ++i) {
    switch (batch.decisions[i].kind) {
      case AppendDecision::Kind::kWrite:
        if (batch.appends[i]->change || batch.appends[i]->seal) break;
        ++written;
        events_.fetch_add(batch.appends[i]->events.size(), std::memory_order_relaxed);
        break;
      case AppendDecision::Kind::kDuplicate:
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        break;
      case AppendDecision::Kind::kFail:
        if (batch.decisions[i].error->code == ErrorCode::kWrongExpectedVersion) {
          conflicts_.fetch_add(1, std::memory_order_relaxed);
        }
        break;
    }
  }
  if (batch.wrote) {
    appends_.fetch_add(written, std::memory_order_relaxed);
    commits_.fetch_add(1, std::memory_order_relaxed);
    batch_appends_.Observe(static_cast<double>(written));
  }
  return batch;
}

void LogWriter::RecordSyncFailure(const std::string& what) {
  const int64_t durable = head_position_.load(std::memory_order_acquire);
  std::lock_guard guard(sync_mu_);
  if (sync_failure_) return;
  sync_failure_ = Error::Make(
      ErrorCode::kIOError,
      "the store hit an fsync failure after position " + std::to_string(durable) + " (" + what +
          ") and refuses writes until it is reopened; events acknowledged before are safe, and "
          "an append that was not acknowledged is either wholly there or absent after the reopen");
}

void LogWriter::SyncLoop() {
  for (;;) {
    std::deque<Batch> batches;
    {
      std::unique_lock lock(sync_mu_);
      // Not while the writer syncs a batch itself: the batches handed meanwhile come after it.
      sync_cv_.wait(lock, [&] { return sync_stopping_ || (!sync_busy_ && !to_sync_.empty()); });
      if (to_sync_.empty()) return;  // stopping: the writer thread has ended
      batches.swap(to_sync_);
      sync_busy_ = true;
    }
    SyncAndDeliver(batches);
  }
}

void LogWriter::SyncAndDeliver(std::deque<Batch>& batches) {
  // One fsync per segment written, for every batch taken.
  std::vector<Segment*> to_fsync;
  for (const Batch& b : batches) {
    for (const auto& s : b.written) {
      if (std::find(to_fsync.begin(), to_fsync.end(), s.get()) == to_fsync.end()) {
        to_fsync.push_back(s.get());
      }
    }
  }
  std::optional<Error> failure;
  {
    std::lock_guard guard(sync_mu_);
    failure = sync_failure_;
  }
  if (!failure && options_.durable) {
    for (Segment* s : to_fsync) {
      const auto start = std::chrono::steady_clock::now();
      if (s->Sync() != 0) {
        RecordSyncFailure("fsync of " + s->path() + " failed: " + std::strerror(errno));
        break;
      }
      fsync_seconds_.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::lock_guard guard(sync_mu_);
    failure = sync_failure_;
  }
  if (!failure) {
    // Readers in other processes go by the durable head: it moves before any acknowledgement.
    int64_t last = -1;
    for (const Batch& b : batches) {
      if (b.wrote) last = b.last_position;
    }
    // These batches are durable whether or not the head file takes them. A head that stays
    // behind is safe (readers see less, never more, than is durable) and is written again with
    // the next group, so a full disk here does not stop the store.
    if (last >= 0) (void)durable_head_->Publish(last);
  }
  for (Batch& b : batches) {
    std::optional<Error> batch_failure = b.refused ? std::nullopt : failure;
    if (!batch_failure && b.wrote) {
      planner_.Publish(b.heads);
      {
        std::lock_guard guard(head_mu_);
        head_position_.store(b.last_position, std::memory_order_release);
      }
      head_cv_.notify_all();
    }
    {
      std::lock_guard guard(sync_mu_);
      synced_heads_.insert(synced_heads_.end(), std::make_move_iterator(b.heads.begin()),
                           std::make_move_iterator(b.heads.end()));
    }
    Deliver(b, batch_failure);
  }
  {
    std::lock_guard guard(sync_mu_);
    sync_busy_ = false;
  }
  sync_cv_.notify_all();
}

void LogWriter::Deliver(Batch& batch, const std::optional<Error>& failure) {
  DeliverAppends(batch.appends, batch.decisions, failure);
}

int64_t LogWriter::WaitForHead(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(head_mu_);
  head_cv_.wait_for(lock, timeout,
                    [&] { return head_position_.load(std::memory_order_acquire) > after; });
  return head_position_.load(std::memory_order_acquire);
}

StoreStats LogWriter::Stats() const {
  StoreStats stats;
  stats.appends = appends_.load(std::memory_order_relaxed);
  stats.events = events_.load(std::memory_order_relaxed);
  stats.conflicts = conflicts_.load(std::memory_order_relaxed);
  stats.duplicates = duplicates_.load(std::memory_order_relaxed);
  stats.commits = commits_.load(std::memory_order_relaxed);
  stats.batch_appends = batch_appends_.Snapshot();
  stats.fsync_seconds = fsync_seconds_.Snapshot();
  stats.file_bytes = segments_.FileBytes();
  return stats;
}

}  // namespace evs::store::log
