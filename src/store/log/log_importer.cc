#include "store/log/log_importer.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/system_error.h"
#include "store/commit_planner.h"
#include "store/file_lock.h"
#include "store/import_checks.h"
#include "store/log/log_format.h"
#include "store/log/segment.h"

namespace evs::store::log {
namespace {

// A commit record gathers at most this many events or bytes of them: records stay small enough
// to read back in one go, and big enough that headers cost nothing.
constexpr size_t kImportRecordEvents = 1024;
constexpr size_t kImportRecordBytes = size_t{1} << 20;
// Bytes gathered before they are written.
constexpr size_t kImportWriteBytes = size_t{4} << 20;
// Imported records carry one batch number: nothing was ever rewritten in their places.
constexpr uint64_t kImportAttempt = 1;

bool PathExists(FileSystem& fs, const std::string& path) {
  struct stat st;
  return fs.Lstat(path.c_str(), &st) == 0;
}

std::string ParentOf(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

class Importer final : public LogImporter {
 public:
  Importer(std::string folder, std::string temp, uint64_t segment_bytes, FileSystem& fs,
           FileLock lock)
      : folder_(std::move(folder)),
        temp_(std::move(temp)),
        segment_bytes_(segment_bytes),
        fs_(fs),
        lock_(std::move(lock)) {}

  ~Importer() override {
    if (!finished_) {
      current_.reset();
      segments_.clear();  // closes them before they go
      std::error_code ec;
      std::filesystem::remove_all(temp_, ec);  // nothing to report to from a destructor
    }
    ::unlink((folder_ + ".importing.lock").c_str());
  }

  Status Init() {
    if (fs_.Mkdir(temp_.c_str(), 0755) != 0) return SystemError("cannot create " + temp_);
    return NewSegment(1);
  }

  Status Add(std::span<const RecordedEvent> events) override {
    if (auto s = Usable(); !s) return s;
    for (const RecordedEvent& e : events) {
      if (auto s = AddOne(e); !s) return Fail(s);
    }
    return OkStatus();
  }

  Status SetLifecycle(std::string_view stream_id, const StreamLifecycle& lifecycle) override {
    if (auto s = Usable(); !s) return s;
    auto it = streams_.find(std::string(stream_id));
    const int64_t version = it == streams_.end() ? 0 : it->second;
    if (lifecycle.version != version) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "the lifecycle of stream '" + std::string(stream_id) + "' is at version " +
                             std::to_string(lifecycle.version) + ", but the import has it at " +
                             std::to_string(version));
    }
    const StreamMetadata& m = lifecycle.metadata;
    const bool has_metadata =
        m.max_count || m.max_age_seconds || m.truncate_before || !m.custom.empty();
    if (!has_metadata && lifecycle.deleted_through == 0 && !lifecycle.hard_deleted) {
      return OkStatus();
    }
    if (auto s = EndGroup(); !s) return Fail(s);
    StreamHead head;
    head.version = version;
    head.deleted_through = lifecycle.deleted_through;
    head.hard_deleted = lifecycle.hard_deleted;
    if (has_metadata) head.metadata = std::make_shared<const StreamMetadata>(m);
    const size_t start = buffer_.size();
    AppendLifecycleRecord(buffer_, chain_, kImportAttempt, last_position_ + 1, stream_id, head);
    if (auto s = Place(start); !s) return Fail(s);
    return OkStatus();
  }

  Status Finish() override {
    if (auto s = Usable(); !s) return s;
    if (auto s = FinishFolder(); !s) return Fail(s);
    return OkStatus();
  }

 private:
  Status Usable() const {
    if (finished_) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "the import into " + folder_ + " is finished");
    }
    if (failure_) {
      return Error::Make(ErrorCode::kUnavailable, "the import into " + folder_ +
                                                      " failed earlier and takes nothing more (" +
                                                      failure_->message + "); start a new one");
    }
    return OkStatus();
  }

  // The importer is done for after any failure: the temporary folder goes with it.
  Status Fail(const Status& s) {
    failure_ = s.error();
    return s;
  }

  Status AddOne(const RecordedEvent& e) {
    auto [it, added] = streams_.try_emplace(e.stream_id, 0);
    if (auto s = CheckImportedEvent(e, last_position_, last_recorded_at_us_, it->second + 1); !s) {
      if (added) streams_.erase(it);
      return s;
    }
    const bool follows = !group_.empty() && group_stream_ == e.stream_id &&
                         group_recorded_at_us_ == e.recorded_at_us &&
                         group_.size() < kImportRecordEvents && group_bytes_ < kImportRecordBytes;
    if (!follows) {
      if (auto s = EndGroup(); !s) return s;
      group_stream_ = e.stream_id;
      group_first_version_ = e.version;
      group_first_position_ = e.position;
      group_recorded_at_us_ = e.recorded_at_us;
    }
    EventData& data = group_.emplace_back();
    data.id = e.id;
    data.type = e.type;
    data.data = e.data;
    data.metadata = e.metadata;
    group_bytes_ += e.type.size() + e.data.size() + e.metadata.size();
    it->second = e.version;
    last_position_ = e.position;
    last_recorded_at_us_ = e.recorded_at_us;
    return OkStatus();
  }

  // Encodes the events gathered so far as one commit record.
  Status EndGroup() {
    if (group_.empty()) return OkStatus();
    const size_t start = buffer_.size();
    AppendCommitRecord(buffer_, chain_, kImportAttempt, group_first_position_, group_first_version_,
                       group_recorded_at_us_, group_stream_, group_);
    group_.clear();
    group_bytes_ = 0;
    return Place(start);
  }

  // The record at `start` in buffer_ goes where the store would put it: after the records
  // before it, or at the start of the next segment when it does not fit in this one (a record
  // larger than a segment gets an empty segment of its own, grown to fit).
  Status Place(size_t start) {
    if (offset_ + buffer_.size() > current_->size() && offset_ + start > kSegmentHeaderBytes) {
      std::string record = buffer_.substr(start);
      buffer_.resize(start);
      if (auto s = Write(); !s) return s;
      if (auto s = NewSegment(current_->number() + 1); !s) return s;
      buffer_ = std::move(record);
      start = 0;
    }
    // The first record of a segment starts its chain again (log_format.h, format version 2).
    if (offset_ + start == kSegmentHeaderBytes) {
      chain_ = ChainAt(current_->version(), current_->number(), kSegmentHeaderBytes, chain_);
      ResealRecord(buffer_.data() + start, chain_);
    }
    if (buffer_.size() >= kImportWriteBytes) return Write();
    return OkStatus();
  }

  Status Write() {
    if (buffer_.empty()) return OkStatus();
    if (int err = current_->Write(buffer_.data(), buffer_.size(), offset_); err != 0) {
      return Error::Make(ErrorCode::kIOError,
                         std::string(err == ENOSPC || err == EDQUOT ? "disk full: " : "") +
                             "cannot write " + current_->path() + ": " + std::strerror(err));
    }
    offset_ += buffer_.size();
    current_->GrewTo(offset_);
    buffer_.clear();
    return OkStatus();
  }

  Status NewSegment(uint32_t number) {
    auto made = CreateSegment(fs_, temp_, number, segment_bytes_);
    if (!made) return made.error();
    current_ = std::move(made).value();
    segments_.push_back(current_);
    offset_ = kSegmentHeaderBytes;
    return OkStatus();
  }

  Status FinishFolder() {
    if (auto s = EndGroup(); !s) return s;
    if (auto s = Write(); !s) return s;
    for (const auto& segment : segments_) {
      if (segment->Sync() != 0) return SystemError("fsync of " + segment->path() + " failed");
    }
    current_.reset();
    segments_.clear();
    if (int err = SyncFolder(fs_, temp_); err != 0) {
      return SystemError("fsync of folder " + temp_ + " failed", err);
    }
    if (fs_.RenameNoReplace(temp_.c_str(), folder_.c_str()) != 0) {
      if (errno == EEXIST || errno == ENOTEMPTY) {
        return Error::Make(ErrorCode::kInvalidArgument, "something appeared at " + folder_ +
                                                            " during the import; it is left as "
                                                            "it is");
      }
      return SystemError("cannot move " + temp_ + " to " + folder_);
    }
    finished_ = true;  // in place; a failed fsync below leaves it there, its name maybe not durable
    if (int err = SyncFolder(fs_, ParentOf(folder_)); err != 0) {
      return SystemError("fsync of folder " + ParentOf(folder_) + " failed", err);
    }
    return OkStatus();
  }

  const std::string folder_;
  const std::string temp_;
  const uint64_t segment_bytes_;
  FileSystem& fs_;
  FileLock lock_;  // one import into a folder at a time: they share the temporary folder
  std::vector<std::shared_ptr<Segment>> segments_;
  std::shared_ptr<Segment> current_;
  uint64_t offset_ = 0;  // where buffer_ goes in current_
  std::string buffer_;
  uint64_t chain_ = 0;
  std::unordered_map<std::string, int64_t> streams_;  // each stream's last version
  int64_t last_position_ = 0;
  int64_t last_recorded_at_us_ = INT64_MIN;
  // The commit record being gathered.
  std::vector<EventData> group_;
  size_t group_bytes_ = 0;
  std::string group_stream_;
  int64_t group_first_version_ = 0;
  int64_t group_first_position_ = 0;
  int64_t group_recorded_at_us_ = 0;
  bool finished_ = false;
  std::optional<Error> failure_;
};

}  // namespace

Result<std::unique_ptr<LogImporter>> LogImporter::Create(const std::string& folder,
                                                         uint64_t segment_bytes, FileSystem& fs) {
  if (folder.empty()) return Error::Make(ErrorCode::kInvalidArgument, "the import needs a folder");
  if (PathExists(fs, folder)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "something already exists at " + folder +
                           "; an import makes a new store, so move it away or choose another path");
  }
  const std::string temp = folder + ".importing";
  // Held until the importer is gone, so a second import into the same folder cannot take over
  // the temporary folder of the first.
  auto lock = FileLock::Acquire(fs, folder + ".importing.lock");
  if (!lock.ok()) {
    if (lock.error().code == ErrorCode::kUnavailable) {
      return Error::Make(ErrorCode::kUnavailable, "another import into " + folder + " is running");
    }
    return lock.error();
  }
  std::error_code ec;
  std::filesystem::remove_all(temp, ec);  // what an interrupted import left
  if (ec) return Error::Make(ErrorCode::kIOError, "cannot remove " + temp + ": " + ec.message());
  auto importer = std::make_unique<Importer>(folder, temp, std::max<uint64_t>(segment_bytes, 4096),
                                             fs, std::move(lock).value());
  if (auto s = importer->Init(); !s) return s.error();
  return std::unique_ptr<LogImporter>(std::move(importer));
}

}  // namespace evs::store::log
