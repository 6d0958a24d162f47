#include "store/log/segment.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/system_error.h"
#include "store/log/log_format.h"

namespace evs::store::log {
namespace {

constexpr size_t kLogZeroChunk = 1 << 20;

const char* LogZeros() {
  static const std::string* zeros = new std::string(kLogZeroChunk, '\0');
  return zeros->data();
}

// A write error as the store reports it: a full disk says so, and that the store goes on.
Error LogWriteError(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return Error::Make(ErrorCode::kIOError, "disk full: " + what + ": " + std::strerror(err));
  }
  return SystemError(what, err);
}

}  // namespace

Segment::~Segment() { fs_.Close(fd_); }

uint64_t Segment::RefreshSize() {
  struct stat st;
  if (fs_.Fstat(fd_, &st) == 0) GrewTo(static_cast<uint64_t>(st.st_size));
  return size();
}

int Segment::Write(const char* data, size_t n, uint64_t offset) {
  const int err = PwriteFully(fs_, fd_, data, n, static_cast<off_t>(offset));
  if (err == 0) GrewTo(offset + n);
  return err;
}

ssize_t Segment::Read(char* data, size_t n, uint64_t offset) const {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = fs_.Pread(fd_, data + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

Status Segment::ZeroFrom(uint64_t from) {
  std::string chunk(kLogZeroChunk, '\0');
  const uint64_t end = size();
  bool wrote = false;
  for (uint64_t at = from; at < end;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kLogZeroChunk, end - at));
    const ssize_t got = Read(chunk.data(), n, at);
    if (got < 0) return SystemError("cannot read " + path_);
    const auto read = static_cast<size_t>(got);
    if (std::any_of(chunk.data(), chunk.data() + read, [](char c) { return c != 0; })) {
      if (int err = Write(LogZeros(), read, at); err != 0) {
        return LogWriteError("cannot zero the torn tail of " + path_, err);
      }
      wrote = true;
    }
    if (read < n) break;
    at += n;
  }
  if (wrote && fs_.Fsync(fd_) != 0) return SystemError("fsync of " + path_ + " failed");
  return OkStatus();
}

std::string SegmentPath(const std::string& folder, uint32_t number) {
  char name[32];
  std::snprintf(name, sizeof name, "/%08u.log", number);
  return folder + name;
}

namespace {

Result<std::vector<uint32_t>> LogListSegments(FileSystem& fs, const std::string& folder,
                                              bool remove_leftovers) {
  std::vector<std::string> names;
  if (fs.ListFolder(folder.c_str(), &names) != 0) return SystemError("cannot list " + folder);
  std::vector<uint32_t> numbers;
  for (const std::string& name : names) {
    // A preallocation, or a scavenged copy (log_scavenger.h), that a crash interrupted.
    if (name.ends_with(".log.tmp") || name.ends_with(".log.scavenge")) {
      if (!remove_leftovers) continue;
      const std::string path = folder + "/" + name;
      if (fs.Unlink(path.c_str()) != 0) return SystemError("cannot remove " + path);
      continue;
    }
    if (name.size() != 12 || !name.ends_with(".log")) continue;
    uint32_t n = 0;
    bool digits = true;
    for (size_t i = 0; i < 8; ++i) {
      if (name[i] < '0' || name[i] > '9') digits = false;
      n = n * 10 + static_cast<uint32_t>(name[i] - '0');
    }
    if (digits && n > 0) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

}  // namespace

Result<std::vector<uint32_t>> ListSegments(FileSystem& fs, const std::string& folder) {
  return LogListSegments(fs, folder, /*remove_leftovers=*/true);
}

Result<std::vector<uint32_t>> ListSegmentNumbers(FileSystem& fs, const std::string& folder) {
  return LogListSegments(fs, folder, /*remove_leftovers=*/false);
}

Result<std::shared_ptr<Segment>> OpenSegment(FileSystem& fs, const std::string& folder,
                                             uint32_t number, bool read_only) {
  const std::string path = SegmentPath(folder, number);
  const int fd = fs.Open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
  if (fd < 0) return SystemError("cannot open " + path);
  struct stat st;
  if (fs.Fstat(fd, &st) != 0) {
    Error e = SystemError("cannot stat " + path);
    fs.Close(fd);
    return e;
  }
  char header[kSegmentHeaderBytes];
  const ssize_t got = fs.Pread(fd, header, sizeof header, 0);
  if (got != static_cast<ssize_t>(sizeof header) || !IsSegmentHeader(header)) {
    fs.Close(fd);
    return Error::Make(ErrorCode::kCorruption,
                       path + " is not a segment of an evs log store (format version 1 or " +
                           std::to_string(kFormatVersion) +
                           "): its header is wrong; move it away or restore the folder from a "
                           "backup");
  }
  auto segment = std::make_shared<Segment>(fs, number, fd, path, static_cast<uint64_t>(st.st_size),
                                           SegmentHeaderVersion(header));
  return segment;
}

Result<std::shared_ptr<Segment>> CreateSegment(FileSystem& fs, const std::string& folder,
                                               uint32_t number, uint64_t bytes) {
  const std::string path = SegmentPath(folder, number);
  const std::string temp = path + ".tmp";
  const int fd = fs.Open(temp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SystemError("cannot create " + temp);
  auto fail = [&](Error e) {
    fs.Close(fd);
    fs.Unlink(temp.c_str());
    return e;
  };
  const std::string header = SegmentHeader();
  if (int err = PwriteFully(fs, fd, header.data(), header.size(), 0); err != 0) {
    return fail(LogWriteError("cannot preallocate " + path, err));
  }
  for (uint64_t at = header.size(); at < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kLogZeroChunk, bytes - at));
    if (int err = PwriteFully(fs, fd, LogZeros(), n, static_cast<off_t>(at)); err != 0) {
      return fail(LogWriteError("cannot preallocate " + path, err));
    }
    at += n;
  }
  if (fs.Fsync(fd) != 0) return fail(SystemError("fsync of " + temp + " failed"));
  if (fs.Rename(temp.c_str(), path.c_str()) != 0) {
    return fail(SystemError("cannot rename " + temp));
  }
  if (int err = SyncFolder(fs, folder); err != 0) {
    fs.Close(fd);
    return SystemError("fsync of folder " + folder + " failed", err);
  }
  return std::make_shared<Segment>(fs, number, fd, path, std::max<uint64_t>(bytes, header.size()));
}

SegmentPreallocator::SegmentPreallocator(FileSystem& fs, std::string folder, uint64_t bytes)
    : fs_(fs), folder_(std::move(folder)), bytes_(bytes), thread_([this] { Loop(); }) {}

SegmentPreallocator::~SegmentPreallocator() {
  {
    std::lock_guard guard(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SegmentPreallocator::Prepare(uint32_t number) {
  {
    std::lock_guard guard(mu_);
    if (busy_ == number || made_.count(number) || wanted_ == number) return;
    wanted_ = number;
  }
  cv_.notify_all();
}

Result<std::shared_ptr<Segment>> SegmentPreallocator::Take(uint32_t number) {
  {
    std::unique_lock lock(mu_);
    if (wanted_ == number) wanted_.reset();  // not started: made here instead
    cv_.wait(lock, [&] { return busy_ != number; });
    auto it = made_.find(number);
    if (it != made_.end()) {
      auto made = std::move(it->second);
      made_.erase(it);
      if (made.ok()) return made;
      // A background failure (a full disk, say) is tried again here, now that it is needed.
    }
  }
  return CreateSegment(fs_, folder_, number, bytes_);
}

void SegmentPreallocator::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || wanted_.has_value(); });
    if (stopping_) return;
    const uint32_t number = *wanted_;
    wanted_.reset();
    busy_ = number;
    lock.unlock();
    auto made = CreateSegment(fs_, folder_, number, bytes_);
    lock.lock();
    made_.erase(number);
    made_.emplace(number, std::move(made));
    busy_.reset();
    cv_.notify_all();
  }
}

}  // namespace evs::store::log
