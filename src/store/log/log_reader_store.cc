// A read-only view of a log store for other processes (consumer-group members, live tails): no
// lock, no writer. It reads the durable head the owner writes after each fsync ("log-head",
// durable_head.h) and scans the records up to it into an index of its own (from the owner's
// index checkpoint when it matches the log), checking each record's checksum; every read is
// bounded by that head, so it never hands out a commit that a power loss could take back.
// WaitForHead() is woken by inotify when the owner writes the folder.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <unordered_map>

#include "evs/log_store.h"
#include "store/commit_planner.h"
#include "store/durable_head.h"
#include "store/log/log_checkpoint.h"
#include "store/log/log_cursor.h"
#include "store/log/log_format.h"
#include "store/log/log_index.h"
#include "store/log/log_reads.h"
#include "store/log/log_recovery.h"
#include "store/log/segment.h"
#include "store/read_validation.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

class LogReaderStore final : public EventStore {
 public:
  LogReaderStore(std::string folder, std::shared_ptr<FileSystem> fs, int watch)
      : folder_(std::move(folder)), fs_(std::move(fs)), watch_(watch) {}
  ~LogReaderStore() override {
    if (watch_ >= 0) close(watch_);
  }

  Status Init() {
    auto numbers = store::log::ListSegmentNumbers(*fs_, folder_);
    if (!numbers) return numbers.error();
    first_segment_ = numbers->empty() ? 1 : numbers->front();
    scanned_.end = store::log::RecordLocation{first_segment_, store::log::kSegmentHeaderBytes};
    auto durable = store::ReadDurableHead(*fs_, store::log::LogHeadBase(folder_));
    if (!durable) return durable.error();
    std::string why;
    // The owner's Scavenge() rewrites sealed segments (renamed over them), and removes INDEX
    // before its first rename: so the checkpoint is used only when every segment it covers was
    // opened while the same INDEX was there (those files are the ones it describes). Segments
    // are never opened again by path after that for records already indexed.
    const std::string index_path = store::log::LogCheckpointPath(folder_);
    struct stat index_before {};
    const bool had_index = fs_->Stat(index_path.c_str(), &index_before) == 0;
    auto checkpoint = store::log::ReadLogCheckpoint(*fs_, folder_, index_, &why);
    if (checkpoint) {
      bool opened = had_index;
      for (uint32_t n = first_segment_; opened && n <= checkpoint->end.end.segment; ++n) {
        opened = GetSegment(n) != nullptr;
      }
      struct stat index_after {};
      const bool same_index = opened && fs_->Stat(index_path.c_str(), &index_after) == 0 &&
                              index_after.st_ino == index_before.st_ino &&
                              index_after.st_size == index_before.st_size &&
                              index_after.st_mtim.tv_sec == index_before.st_mtim.tv_sec &&
                              index_after.st_mtim.tv_nsec == index_before.st_mtim.tv_nsec;
      const bool usable = same_index && durable->value_or(0) >= checkpoint->end.next_position - 1 &&
                          store::log::CheckLogEnd(checkpoint->end, Segments()).empty();
      if (usable) {
        scanned_ = checkpoint->end;
        for (auto& [stream, head] : checkpoint->heads) {
          next_number_ = std::max(next_number_, head.number + 1);
          heads_.Set(stream, head);
          state_.emplace(std::move(stream), std::move(head));
        }
        head_.store(scanned_.next_position - 1);
      } else {
        index_.Load({}, {});
      }
    }
    if (auto h = Refresh(); !h) return h.error();
    return OkStatus();
  }

  Result<AppendResult> Append(std::string_view, ExpectedVersion, std::vector<EventData>) override {
    return ReadOnly();
  }
  Status SetStreamMetadata(std::string_view, const StreamMetadata&) override { return ReadOnly(); }
  Status DeleteStream(std::string_view, DeleteMode, ExpectedVersion) override { return ReadOnly(); }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    if (auto h = Refresh(); !h) return h.error();
    const store::StreamHead head = heads_.Find(stream_id);
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return *unreadable;
    return store::log::ReadLogStreamPage(index_, Segments(), folder_, stream_id, head, options,
                                         SystemClock()->NowMicros());
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    auto head = Refresh();
    if (!head) return head.error();
    return store::log::ReadLogPage(index_, Segments(), folder_, after, limit, *head);
  }

  // Scans the segments with one cursor and buffer, bounded by the durable head as ReadLog is.
  class Reader final : public LogReader {
   public:
    explicit Reader(LogReaderStore& store)
        : store_(store), pages_(store.index_, store.Segments(), store.folder_) {}
    Status Read(int64_t after, size_t limit, LogPage& page) override {
      if (auto s = store::ValidateReadLog(after, limit); !s) return s;
      auto head = store_.Refresh();
      if (!head) return head.error();
      return pages_.Read(after, limit, *head, page);
    }

   private:
    LogReaderStore& store_;
    store::log::LogPageReader pages_;
  };

  std::unique_ptr<LogReader> NewLogReader() override { return std::make_unique<Reader>(*this); }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    if (auto h = Refresh(); !h) return h.error();
    return store::log::ListLogStreams(index_, heads_, after, limit);
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    if (auto h = Refresh(); !h) return h.error();
    const store::StreamHead head = heads_.Find(stream_id);
    return head.Deleted() ? 0 : head.version;
  }

  Result<int64_t> HeadPosition() override { return Refresh(); }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto head = Refresh();
      if (!head.ok() || *head > after) return head;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return head;
      // A write in the folder, or at most 50 ms: the write that wakes us can come just before
      // the one that publishes the commit.
      pollfd p{watch_, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
      char buffer[4096];
      while (::read(watch_, buffer, sizeof buffer) > 0) {
      }
    }
  }

  Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id) override {
    if (auto h = Refresh(); !h) return h.error();
    return store::LifecycleOf(stream_id, heads_.Find(stream_id));
  }

 private:
  static Error ReadOnly() {
    return Error::Make(ErrorCode::kUnavailable,
                       "this is a read-only view of a log store that another process owns; "
                       "write through that process");
  }

  store::log::LogCursor::SegmentSource Segments() {
    return [this](uint32_t n) { return GetSegment(n); };
  }

  // Segments are opened when first read; the owner only ever adds them.
  std::shared_ptr<store::log::Segment> GetSegment(uint32_t number) {
    std::lock_guard guard(segments_mu_);
    auto it = segments_.find(number);
    if (it != segments_.end()) return it->second;
    auto opened = store::log::OpenSegment(*fs_, folder_, number, /*read_only=*/true);
    if (!opened) return nullptr;
    segments_.emplace(number, *opened);
    return *opened;
  }

  // Scans the records up to the owner's durable head into the index; returns that head.
  Result<int64_t> Refresh() {
    auto durable = store::ReadDurableHead(*fs_, store::log::LogHeadBase(folder_));
    if (!durable) return durable.error();
    const int64_t target = durable->value_or(0);
    std::lock_guard guard(mu_);
    if (target <= head_.load()) return head_.load();
    // Twice at most: a segment the owner removed and made again (after a crash) is opened anew.
    for (int pass = 0; pass < 2 && scanned_.next_position <= target; ++pass) {
      if (pass == 1) {
        std::lock_guard segments_guard(segments_mu_);
        // Only segments after the last one scanned: records indexed from a file are never read
        // from another one by the same name (Scavenge() renames a rewritten copy over a sealed
        // segment; the owner's recovery removes only segments after its end, which is at or
        // after the durable head this view scanned up to).
        segments_.erase(segments_.upper_bound(scanned_.end.segment), segments_.end());
      }
      store::log::LogCursor cursor(Segments(), scanned_.end, 1 << 20);
      std::vector<std::string> changed;
      while (scanned_.next_position <= target) {
        const auto step = cursor.Next();
        if (step == store::log::LogCursor::Step::kEnd) break;
        uint64_t seed = scanned_.chain;
        if (step == store::log::LogCursor::Step::kRecord &&
            cursor.location().offset == store::log::kSegmentHeaderBytes) {
          if (auto segment = GetSegment(cursor.location().segment)) {
            seed = store::log::ChainAt(segment->version(), segment->number(),
                                       cursor.location().offset, seed);
          }
        }
        if (step != store::log::LogCursor::Step::kRecord ||
            !store::log::ChecksOut(cursor.header(), cursor.header_bytes(), seed)) {
          return Error::Make(ErrorCode::kCorruption,
                             "the log store in " + folder_ + " has a record below its durable " +
                                 "head that does not check out (" +
                                 (cursor.reason().empty() ? "its checksum" : cursor.reason()) +
                                 ")");
        }
        auto info = store::log::ParseRecordInfo(cursor.header().kind, cursor.payload());
        if (!info) return store::log::CorruptLogRecord(folder_, cursor.location());
        auto it = state_.find(info->stream);
        if (it == state_.end()) {
          it = state_.emplace(std::string(info->stream), store::StreamHead{}).first;
          it->second.number = next_number_++;
        }
        if (info->kind == store::log::RecordKind::kLifecycle) {
          if (!store::log::DecodeLifecycle(cursor.payload(), it->second)) {
            return store::log::CorruptLogRecord(folder_, cursor.location());
          }
          index_.AddRecord(info->stream, info->first_position, cursor.location());
        } else {
          it->second.version = info->first_version + info->count - 1;
          index_.AddCommit(info->stream, info->first_version, info->first_position,
                           cursor.location());
        }
        changed.push_back(it->first);
        scanned_.chain = cursor.header().checksum;
        scanned_.last_record = cursor.location();
        scanned_.end = cursor.end();
        scanned_.next_position = info->first_position + info->count;
      }
      for (const std::string& stream : changed) heads_.Set(stream, state_.find(stream)->second);
    }
    head_.store(std::min(target, scanned_.next_position - 1));
    return head_.load();
  }

  const std::string folder_;
  const std::shared_ptr<FileSystem> fs_;
  const int watch_;
  uint32_t first_segment_ = 1;

  std::mutex mu_;  // one refresh at a time
  store::log::LogEnd scanned_;
  std::unordered_map<std::string, store::StreamHead, store::StringHash, std::equal_to<>> state_;
  int64_t next_number_ = 1;
  store::StreamHeads heads_;  // published for reads
  store::log::LogIndex index_;
  std::atomic<int64_t> head_{0};

  std::mutex segments_mu_;
  std::map<uint32_t, std::shared_ptr<store::log::Segment>> segments_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenLogEventStoreReader(
    const std::string& folder, std::shared_ptr<FileSystem> file_system) {
  if (!file_system) file_system = RealFileSystem();
  struct stat st;
  const std::string head = store::DurableHeadPath(store::log::LogHeadBase(folder));
  if (file_system->Stat(head.c_str(), &st) != 0) {
    return Error::Make(ErrorCode::kNotFound, "no log store in " + folder);
  }
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch < 0 || inotify_add_watch(watch, folder.c_str(), IN_MODIFY | IN_CREATE) < 0) {
    if (watch >= 0) close(watch);
    return Error::Make(ErrorCode::kIOError, "cannot watch " + folder + " for commits");
  }
  auto store = std::make_unique<LogReaderStore>(folder, std::move(file_system), watch);
  if (auto s = store->Init(); !s) return s.error();
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace evs
