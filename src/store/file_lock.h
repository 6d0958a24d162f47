// One process at a time per store: an advisory lock (flock) on a file, held while open.
#pragma once

#include <string>

#include "evs/status.h"

namespace evs::store {

class FileLock {
 public:
  // kUnavailable when another process holds the lock; kIOError when the file cannot be opened.
  static Result<FileLock> Acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace evs::store
