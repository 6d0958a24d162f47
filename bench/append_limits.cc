#include "append_limits.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

namespace evs::bench {
namespace {

// The file both limits write into: 64 MiB of zeros, fsynced, then overwritten round and round.
constexpr off_t kLimitFileBytes = 64 << 20;

Error LimitFileError(const std::string& what, const std::string& path) {
  return Error::Make(ErrorCode::kIOError, what + " " + path + ": " + std::strerror(errno));
}

// A preallocated file, removed when destroyed.
class LimitFile {
 public:
  ~LimitFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  Status Create(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return LimitFileError("cannot create", path);
    const std::string zeros(1 << 20, '\0');
    for (off_t at = 0; at < kLimitFileBytes; at += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd_, zeros.data(), zeros.size(), at) != static_cast<ssize_t>(zeros.size())) {
        return LimitFileError("cannot preallocate", path);
      }
    }
    if (::fsync(fd_) != 0) return LimitFileError("cannot fsync", path);
    return OkStatus();
  }

  // Writes `bytes` at the next offset (back to 0 when they would pass the end), then fdatasyncs.
  Status WriteAndSync(const std::string& bytes) {
    if (offset_ + static_cast<off_t>(bytes.size()) > kLimitFileBytes) offset_ = 0;
    if (::pwrite(fd_, bytes.data(), bytes.size(), offset_) != static_cast<ssize_t>(bytes.size())) {
      return LimitFileError("cannot write", path_);
    }
    offset_ += static_cast<off_t>(bytes.size());
    if (::fdatasync(fd_) != 0) return LimitFileError("cannot fdatasync", path_);
    return OkStatus();
  }

 private:
  std::string path_;
  int fd_ = -1;
  off_t offset_ = 0;
};

// Leader/follower group commit of the trivial log: a writer queues its record; the first one
// that finds no sync running becomes the leader, writes everything queued and syncs it, then
// wakes the others. Nothing else: no index, no checks, no encoding.
class TrivialGroupLog {
 public:
  explicit TrivialGroupLog(LimitFile& file) : file_(file) {}

  Status Append(const char* record, size_t size) {
    std::unique_lock lock(mu_);
    pending_.append(record, size);
    const uint64_t mine = ++queued_;
    while (durable_ < mine) {
      if (!failure_.ok()) return failure_;
      if (syncing_) {
        synced_.wait(lock);
        continue;
      }
      syncing_ = true;
      std::string batch;
      batch.swap(pending_);
      const uint64_t upto = queued_;
      lock.unlock();
      Status status = file_.WriteAndSync(batch);
      lock.lock();
      syncing_ = false;
      if (status.ok()) {
        durable_ = upto;
        ++groups_;
      } else {
        failure_ = status;
      }
      synced_.notify_all();
    }
    return OkStatus();
  }

  uint64_t groups() {
    std::lock_guard lock(mu_);
    return groups_;
  }

 private:
  LimitFile& file_;
  std::mutex mu_;
  std::condition_variable synced_;
  std::string pending_;
  uint64_t queued_ = 0;
  uint64_t durable_ = 0;
  uint64_t groups_ = 0;
  bool syncing_ = false;
  Status failure_ = OkStatus();
};

}  // namespace

Result<Row> RunThreadsLimit(const BenchOptions& options, int writers) {
  LimitFile file;
  if (auto s = file.Create(options.dir + "/threads-limit.log"); !s.ok()) return s.error();
  TrivialGroupLog log(file);
  const std::string record(kLimitRecordBytes, 'r');
  TimedRunOptions run{writers, options.warmup_seconds, options.seconds};
  Row row = RunTimed(run, [&](int) -> Worker {
    return [&log, &record]() -> Status { return log.Append(record.data(), record.size()); };
  });
  row.system = "threads-limit";
  row.extra["record_bytes"] = kLimitRecordBytes;
  row.extra["groups_incl_warmup"] = log.groups();
  return row;
}

Result<Row> RunFsyncLimit(const BenchOptions& options, int group) {
  LimitFile file;
  if (auto s = file.Create(options.dir + "/fsync-limit.log"); !s.ok()) return s.error();
  const std::string batch(kLimitRecordBytes * static_cast<size_t>(group), 'r');
  TimedRunOptions run{1, options.warmup_seconds, options.seconds};
  // One operation is one group: every record of it is durable after that group's write and sync,
  // so the group's latency is each record's.
  Row row = RunTimed(run, [&](int) -> Worker {
    return [&file, &batch]() -> Status { return file.WriteAndSync(batch); };
  });
  row.system = "fsync-limit";
  row.ops *= group;
  row.ops_per_s *= group;
  row.extra["record_bytes"] = kLimitRecordBytes;
  row.extra["records_per_group"] = group;
  return row;
}

}  // namespace evs::bench
