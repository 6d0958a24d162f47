// One process at a time per store: an advisory lock (flock) on a file, held while open.
#pragma once

#include <string>

#include "evs/file_system.h"
#include "evs/status.h"

namespace evs::store {

class FileLock {
 public:
  // kUnavailable when another process holds the lock; kIOError when the file cannot be opened.
  static Result<FileLock> Acquire(FileSystem& fs, const std::string& path);

  FileLock(FileLock&& other) noexcept : fs_(other.fs_), fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  FileLock(FileSystem& fs, int fd) : fs_(&fs), fd_(fd) {}
  FileSystem* fs_;  // outlives the lock
  int fd_;
};

}  // namespace evs::store
