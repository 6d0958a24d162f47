// A FileSystem for tests that makes the real calls and injects the faults a test plans: failed
// fsyncs (of files, of folders), a full disk, short writes. Thread-safe.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>

#include "evs/file_system.h"

namespace evs::testing {

class FaultFileSystem final : public FileSystem {
 public:
  enum Target : unsigned { kFiles = 1, kFolders = 2, kFilesAndFolders = 3 };

  // The next `count` fsyncs of `target` fail with EIO and sync nothing.
  void FailFsyncs(int count, unsigned target = kFilesAndFolders) {
    std::lock_guard guard(mu_);
    fail_fsyncs_ = count;
    fsync_target_ = target;
  }
  // Writes may write `bytes` more in all: the write that crosses the budget writes what fits (a
  // short write), and every write after it fails with ENOSPC until Clear().
  void DiskFullAfter(int64_t bytes) {
    std::lock_guard guard(mu_);
    budget_ = bytes;
  }
  // The next `count` writes write half their bytes (at least one), as write(2) may.
  void ShortWrites(int count) {
    std::lock_guard guard(mu_);
    short_writes_ = count;
  }
  void Clear() {
    std::lock_guard guard(mu_);
    fail_fsyncs_ = 0;
    budget_.reset();
    short_writes_ = 0;
  }
  int64_t Faults() const {
    std::lock_guard guard(mu_);
    return faults_;
  }
  int64_t Fsyncs(unsigned target = kFilesAndFolders) const {
    std::lock_guard guard(mu_);
    return ((target & kFiles) ? file_fsyncs_ : 0) + ((target & kFolders) ? folder_fsyncs_ : 0);
  }

  int Open(const char* path, int flags, mode_t mode) override {
    int fd = real_->Open(path, flags, mode);
    if (fd >= 0 && (flags & O_DIRECTORY)) {
      std::lock_guard guard(mu_);
      folders_.insert(fd);
    }
    return fd;
  }
  ssize_t Write(int fd, const void* data, size_t size) override {
    {
      std::lock_guard guard(mu_);
      if (budget_) {
        if (*budget_ <= 0 && size > 0) {
          ++faults_;
          errno = ENOSPC;
          return -1;
        }
        if (static_cast<int64_t>(size) > *budget_) {
          ++faults_;
          size = static_cast<size_t>(*budget_);
        }
        *budget_ -= static_cast<int64_t>(size);
      } else if (short_writes_ > 0 && size > 1) {
        --short_writes_;
        ++faults_;
        size = std::max<size_t>(1, size / 2);
      }
    }
    return real_->Write(fd, data, size);
  }
  int Fsync(int fd) override {
    {
      std::lock_guard guard(mu_);
      const unsigned kind = folders_.count(fd) ? kFolders : kFiles;
      ++(kind == kFolders ? folder_fsyncs_ : file_fsyncs_);
      if (fail_fsyncs_ > 0 && (fsync_target_ & kind)) {
        --fail_fsyncs_;
        ++faults_;
        errno = EIO;
        return -1;
      }
    }
    return real_->Fsync(fd);
  }
  int Close(int fd) override {
    {
      std::lock_guard guard(mu_);
      folders_.erase(fd);
    }
    return real_->Close(fd);
  }
  int Rename(const char* from, const char* to) override { return real_->Rename(from, to); }
  int Unlink(const char* path) override { return real_->Unlink(path); }
  int Mkdir(const char* path, mode_t mode) override { return real_->Mkdir(path, mode); }

 private:
  const std::shared_ptr<FileSystem> real_ = RealFileSystem();
  mutable std::mutex mu_;
  int fail_fsyncs_ = 0;
  unsigned fsync_target_ = kFilesAndFolders;
  std::optional<int64_t> budget_;
  int short_writes_ = 0;
  std::set<int> folders_;
  int64_t faults_ = 0, file_fsyncs_ = 0, folder_fsyncs_ = 0;
};

}  // namespace evs::testing
