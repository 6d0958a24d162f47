// The log engine as an EventStore: recovery on open (log_recovery.h), group commit through one
// writer (log_writer.h), stream reads through the in-memory index, reads of the global log as a
// sequential scan of the segments (log_cursor.h).
//
// Readers see only what is durable: reads are bounded by the published heads and head position,
// so a reader never sees an event that a crash could still take back, nor position p+1 before p.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "common/system_error.h"
#include "evs/log_store.h"
#include "store/append_validation.h"
#include "store/commit_planner.h"
#include "store/file_lock.h"
#include "store/log/log_cursor.h"
#include "store/log/log_format.h"
#include "store/log/log_index.h"
#include "store/log/log_reads.h"
#include "store/log/log_recovery.h"
#include "store/log/log_scavenger.h"
#include "store/log/log_writer.h"
#include "store/read_validation.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

using store::CommitPlanner;
using store::FileLock;
using store::StreamHead;

class LogEventStore final : public EventStore {
 public:
  LogEventStore(LogStoreOptions options, FileLock lock)
      : options_(std::move(options)), lock_(std::move(lock)), planner_(options_.recent_event_ids) {}

  // Writes the index checkpoint once every append is durable, so that the next open scans only
  // what comes after it (log_checkpoint.h). Not after a failure: the log decides then.
  ~LogEventStore() override {
    if (!writer_) return;
    writer_->Stop();
    if (writer_->Healthy() && !index_stale_ &&
        (writer_->WroteAny() || !opened_from_checkpoint_ || scavenged_)) {
      store::log::LogCheckpoint checkpoint;
      checkpoint.end = writer_->End();
      index_.Visit(
          [&](const std::string& stream, const std::vector<store::log::StreamCommit>&) {
            checkpoint.heads.emplace_back(stream, planner_.Heads().Find(stream));
          },
          [](const store::log::LogIndex::Mark&) {});
      // Best effort: without it the next open scans the whole log.
      (void)store::log::WriteLogCheckpoint(*options_.file_system, options_.folder, index_,
                                           checkpoint);
    }
    writer_.reset();
  }

  Status Init() {
    // Heads and recent ids as the scan finds them; handed to the planner once it is done.
    std::unordered_map<std::string, StreamHead, store::StringHash, std::equal_to<>> heads;
    struct RecentId {
      Uuid id;
      const std::string* stream;  // the key in `heads`: nodes do not move
      int64_t version, position;
    };
    std::deque<RecentId> recent;
    int64_t next_number = 1;
    auto version_of = [&](std::string_view stream) {
      auto it = heads.find(stream);
      return it == heads.end() ? int64_t{0} : it->second.version;
    };
    auto head_of = [&](std::string_view stream) -> std::pair<const std::string, StreamHead>& {
      auto it = heads.find(stream);
      if (it == heads.end()) {
        it = heads.emplace(std::string(stream), StreamHead{}).first;
        it->second.number = next_number++;
      }
      return *it;
    };
    // Each stream's commits in the index, found once per stream rather than once per record.
    std::unordered_map<const std::string*, std::vector<store::log::StreamCommit>*> slots;
    std::vector<store::CommittedId> ids;
    auto remember_ids = [&](const store::log::RecordInfo& info, std::string_view payload,
                            const std::string* stream, std::deque<RecentId>& into) {
      ids.clear();
      store::log::DecodeIds(payload, ids);
      for (size_t i = 0; i < ids.size(); ++i) {
        into.push_back(RecentId{ids[i].id, stream, info.first_version + static_cast<int64_t>(i),
                                ids[i].position});
        if (into.size() > options_.recent_event_ids) into.pop_front();
      }
    };
    auto visit = [&](const store::log::RecordInfo& info, std::string_view payload,
                     store::log::RecordLocation where) -> Status {
      auto& entry = head_of(info.stream);
      store::StreamHead& head = entry.second;
      if (info.kind == store::log::RecordKind::kLifecycle) {
        if (!store::log::DecodeLifecycle(payload, head)) {
          return Error::Make(ErrorCode::kCorruption,
                             "a lifecycle record of stream '" + std::string(info.stream) +
                                 "' at offset " + std::to_string(where.offset) + " is malformed");
        }
        index_.AddRecord(info.stream, info.first_position, where);
        return OkStatus();
      }
      head.version = info.first_version + info.count - 1;
      auto& slot = slots[&entry.first];
      if (!slot) slot = index_.StreamSlot(info.stream);
      index_.AddCommitTo(slot, info.first_version, info.first_position, where);
      return OkStatus();
    };

    FileSystem& fs = *options_.file_system;
    std::string why;
    auto checkpoint = store::log::ReadLogCheckpoint(fs, options_.folder, index_, &why);
    if (checkpoint) {
      for (auto& [stream, head] : checkpoint->heads) {
        next_number = std::max(next_number, head.number + 1);
        heads.emplace(std::move(stream), std::move(head));
      }
    }
    auto recovered =
        store::log::RecoverLog(fs, options_.folder, options_.segment_bytes,
                               checkpoint ? &checkpoint->end : nullptr, version_of, visit);
    if (recovered.ok() && !recovered->start_rejected.empty()) {
      // The checkpoint does not match the log: rebuild everything from the log.
      index_.Load({}, {});
      slots.clear();
      heads.clear();
      next_number = 1;
      checkpoint.reset();
      recovered = store::log::RecoverLog(fs, options_.folder, options_.segment_bytes, nullptr,
                                         version_of, visit);
    }
    if (!recovered) return recovered.error();
    opened_from_checkpoint_ = checkpoint.has_value();
    for (const auto& s : recovered->segments) segments_.Add(s);
    const int64_t head_position = recovered->next_position - 1;
    // The recent ids for retries are read from the log's tail once the scan is done (decoding
    // every id of a long log while scanning it would cost more than the scan).
    if (options_.recent_event_ids > 0 && head_position > 0) {
      const int64_t from =
          std::max<int64_t>(1, head_position - static_cast<int64_t>(options_.recent_event_ids) + 1);
      if (auto mark = index_.MarkBefore(from)) {
        store::log::LogCursor cursor([this](uint32_t n) { return segments_.Get(n); }, mark->second);
        // Bounded: each step moves past a record, and the scan ends at the head position.
        for (int64_t next = mark->first; next <= head_position;) {
          const store::log::LogCursor::Step step = cursor.Next();
          if (step == store::log::LogCursor::Step::kEnd) break;
          if (step != store::log::LogCursor::Step::kRecord) {
            return Error::Make(ErrorCode::kCorruption, "reading the log: " + cursor.reason());
          }
          auto info = store::log::ParseRecordInfo(cursor.header().kind, cursor.payload());
          if (!info) return Corrupt(cursor.location());
          if (info->first_position > head_position) break;
          if (info->kind != store::log::RecordKind::kCommit) continue;
          next = info->first_position + info->count;
          if (next - 1 < from) continue;
          auto it = heads.find(info->stream);
          if (it == heads.end()) return Corrupt(cursor.location());
          remember_ids(*info, cursor.payload(), &it->first, recent);
        }
      }
    }
    for (auto& [stream, head] : heads) planner_.LoadHead(stream, head);
    for (const RecentId& r : recent) planner_.LoadRecentId(r.id, *r.stream, r.version, r.position);
    head_position_ = head_position;
    store::log::LogWriterOptions writer_options;
    writer_options.folder = options_.folder;
    writer_options.durable = options_.durable;
    writer_options.max_batch_appends = std::max<size_t>(1, options_.max_batch_appends);
    writer_options.segment_bytes = options_.segment_bytes;
    writer_options.file_system = options_.file_system.get();
    writer_options.clock = options_.clock.get();
    writer_options.locations = &locations_mu_;
    writer_.emplace(std::move(writer_options), *recovered, planner_, index_, segments_,
                    head_position_);
    return writer_->Start();
  }

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, expected, events); !s) {
      return s.error();
    }
    return writer_->Append(stream_id, expected, std::move(events));
  }

  void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                   std::vector<EventData> events, AppendCallback callback) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, expected, events); !s) {
      callback(s.error());
      return;
    }
    writer_->AppendAsync(stream_id, expected, std::move(events), std::move(callback));
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    const StreamHead head = planner_.Heads().Find(stream_id);
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return *unreadable;
    std::shared_lock locations(locations_mu_);  // records stay where the index says
    return store::log::ReadLogStreamPage(index_, Segments(), options_.folder, stream_id, head,
                                         options, options_.clock->NowMicros());
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    std::shared_lock locations(locations_mu_);  // records stay where the index says
    return store::log::ReadLogPage(index_, Segments(), options_.folder, after, limit,
                                   head_position_.load(std::memory_order_acquire));
  }

  // Scans the segments with one cursor and buffer, bounded by the durable head as ReadLog is.
  class Reader final : public LogReader {
   public:
    explicit Reader(LogEventStore& store) : store_(store) {}
    Status Read(int64_t after, size_t limit, LogPage& page) override {
      if (auto s = store::ValidateReadLog(after, limit); !s) return s;
      // Records stay where the index says while it reads; after a Scavenge() moved some, the
      // cursor (its segment, its buffer, where it would resume) starts afresh.
      std::shared_lock locations(store_.locations_mu_);
      if (!pages_ || relocations_ != store_.index_.Relocations()) {
        pages_.emplace(store_.index_, store_.Segments(), store_.options_.folder);
        relocations_ = store_.index_.Relocations();
      }
      return pages_->Read(after, limit, store_.head_position_.load(std::memory_order_acquire),
                          page);
    }

   private:
    LogEventStore& store_;
    std::optional<store::log::LogPageReader> pages_;
    uint64_t relocations_ = 0;
  };

  std::unique_ptr<LogReader> NewLogReader() override { return std::make_unique<Reader>(*this); }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    return store::log::ListLogStreams(index_, planner_.Heads(), after, limit);
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    const StreamHead head = planner_.Heads().Find(stream_id);
    return head.Deleted() ? 0 : head.version;
  }

  Result<int64_t> HeadPosition() override { return head_position_.load(std::memory_order_acquire); }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    return writer_->WaitForHead(after, timeout);
  }

  StoreStats Stats() override { return writer_->Stats(); }

  Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id) override {
    return store::LifecycleOf(stream_id, planner_.Heads().Find(stream_id));
  }

  Status SetStreamMetadata(std::string_view stream_id, const StreamMetadata& metadata) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    if (auto s = ValidateStreamMetadata(metadata); !s) return s;
    store::LifecycleChange change;
    change.metadata = std::make_shared<const StreamMetadata>(metadata);
    return writer_->Change(stream_id, ExpectedVersion::Any(), change);
  }

  Status DeleteStream(std::string_view stream_id, DeleteMode mode,
                      ExpectedVersion expected) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    store::LifecycleChange change;
    change.kind = mode == DeleteMode::kHard ? store::LifecycleChange::Kind::kHardDelete
                                            : store::LifecycleChange::Kind::kSoftDelete;
    return writer_->Change(stream_id, expected, change);
  }

  // One at a time (log_scavenger.h); appends and reads go on meanwhile.
  Result<ScavengeReport> Scavenge(const ScavengeOptions& options) override {
    std::lock_guard one(scavenge_mu_);
    store::log::LogScavengeContext context{*options_.file_system,
                                           options_.folder,
                                           segments_,
                                           index_,
                                           planner_,
                                           *options_.clock,
                                           locations_mu_,
                                           index_stale_,
                                           [this] { return writer_->Seal(); }};
    auto report = store::log::ScavengeLog(context, options);
    scavenged_ = true;
    return report;
  }

 private:
  store::log::LogCursor::SegmentSource Segments() {
    return [this](uint32_t n) { return segments_.Get(n); };
  }
  Error Corrupt(store::log::RecordLocation where) const {
    return store::log::CorruptLogRecord(options_.folder, where);
  }

  const LogStoreOptions options_;
  FileLock lock_;
  CommitPlanner planner_;
  store::log::LogIndex index_;
  store::log::SegmentSet segments_;
  std::atomic<int64_t> head_position_{0};
  bool opened_from_checkpoint_ = false;
  // Held shared by every reader of record locations (reads, the writer's retries); Scavenge()
  // holds it exclusively while it moves a segment's records.
  std::shared_mutex locations_mu_;
  std::mutex scavenge_mu_;
  std::atomic<bool> index_stale_{false};
  std::atomic<bool> scavenged_{false};  // INDEX was removed: written again at close
  std::optional<store::log::LogWriter> writer_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenLogEventStore(const LogStoreOptions& options) {
  if (options.folder.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the log store needs a folder");
  }
  LogStoreOptions opened = options;
  if (!opened.file_system) opened.file_system = RealFileSystem();
  if (!opened.clock) opened.clock = SystemClock();
  opened.segment_bytes = std::max<uint64_t>(opened.segment_bytes, 4096);
  FileSystem& fs = *opened.file_system;
  struct stat st;
  if (fs.Stat(options.folder.c_str(), &st) != 0) {
    if (fs.Mkdir(options.folder.c_str(), 0755) != 0 && errno != EEXIST) {
      return SystemError("cannot create the log store's folder " + options.folder);
    }
    const auto slash = options.folder.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : options.folder.substr(0, slash);
    if (int err = SyncFolder(fs, parent.empty() ? "/" : parent); err != 0) {
      return SystemError("fsync of folder " + parent + " failed", err);
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       options.folder + " is not a folder; the log store needs one of its own");
  }
  auto lock = FileLock::Acquire(fs, options.folder + "/LOCK");
  if (!lock) return lock.error();
  auto store = std::make_unique<LogEventStore>(std::move(opened), std::move(lock).value());
  if (auto s = store->Init(); !s) return s.error();
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace evs
