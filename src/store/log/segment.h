// Segment files of the log engine: named by number ("00000001.log"), created by writing zeros
// to their full size and fsyncing them (under a temporary name, renamed when complete), so that
// a commit's fsync later overwrites allocated blocks and journals no change of the file's size.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "evs/file_system.h"
#include "evs/status.h"

namespace evs::store::log {

// One open segment. Reads (Pread) may come from any thread; the writer alone writes.
class Segment {
 public:
  Segment(FileSystem& fs, uint32_t number, int fd, std::string path, uint64_t size,
          uint32_t version = 2)
      : fs_(fs), number_(number), version_(version), fd_(fd), path_(std::move(path)), size_(size) {}
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  uint32_t number() const { return number_; }
  // The format version of its header (log_format.h): how its first record's chain is seeded.
  uint32_t version() const { return version_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The file's size: grows only when a commit larger than a segment is written.
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  // Reads the size again from the file (a reader in another process sees the owner grow it).
  uint64_t RefreshSize();
  void GrewTo(uint64_t size) {
    if (size > this->size()) size_.store(size, std::memory_order_release);
  }
  // Writes all of `data` at `offset`: 0, or the errno.
  int Write(const char* data, size_t n, uint64_t offset);
  // Reads up to `n` bytes at `offset`: the bytes read, or -1 with errno.
  ssize_t Read(char* data, size_t n, uint64_t offset) const;
  int Sync() { return fs_.Fsync(fd_); }
  // Overwrites whatever is not zero in [from, size()) with zeros and fsyncs the file.
  Status ZeroFrom(uint64_t from);

 private:
  FileSystem& fs_;
  const uint32_t number_;
  const uint32_t version_;
  const int fd_;
  const std::string path_;
  std::atomic<uint64_t> size_;
};

std::string SegmentPath(const std::string& folder, uint32_t number);

// The numbers of the segments in `folder`, ascending; removes leftovers of a preallocation that
// a crash interrupted.
Result<std::vector<uint32_t>> ListSegments(FileSystem& fs, const std::string& folder);

// The numbers of the segments in `folder`, ascending, touching nothing (for readers).
Result<std::vector<uint32_t>> ListSegmentNumbers(FileSystem& fs, const std::string& folder);

// Opens an existing segment (read-only for a view of another process's store); kCorruption when
// its header is not a log segment's.
Result<std::shared_ptr<Segment>> OpenSegment(FileSystem& fs, const std::string& folder,
                                             uint32_t number, bool read_only = false);

// The base name of the durable head file (durable_head.h) the owner writes for readers in other
// processes: "<folder>/log-head".
inline std::string LogHeadBase(const std::string& folder) { return folder + "/log"; }

// Creates segment `number` of `bytes` (header, then zeros), durably, and opens it. Fails with the
// errno's error (ENOSPC: "disk full: ...") and leaves nothing behind.
Result<std::shared_ptr<Segment>> CreateSegment(FileSystem& fs, const std::string& folder,
                                               uint32_t number, uint64_t bytes);

// Creates the next segment in the background, ahead of the writer, so that a roll-over rarely
// waits for zeros to be written.
class SegmentPreallocator {
 public:
  SegmentPreallocator(FileSystem& fs, std::string folder, uint64_t bytes);
  ~SegmentPreallocator();

  // Starts creating segment `number` unless it is under way or made already.
  void Prepare(uint32_t number);
  // Segment `number`: the one prepared (waits for it), else made now on the caller's thread.
  Result<std::shared_ptr<Segment>> Take(uint32_t number);

 private:
  void Loop();

  FileSystem& fs_;
  const std::string folder_;
  const uint64_t bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<uint32_t> wanted_;  // requested, not yet started
  std::optional<uint32_t> busy_;    // being made
  std::map<uint32_t, Result<std::shared_ptr<Segment>>> made_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evs::store::log
