// The file calls evs makes itself, outside SQLite (which has its VFS for that): behind an
// interface so that tests can inject the faults a real disk cannot be made to show on demand, a
// failed fsync, a full disk, short writes. Production code uses RealFileSystem().
//
// Each method is its POSIX namesake: same arguments, same return value, errno set on failure.
// Short writes are legal, as for write(2). Implementations are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>

namespace evs {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual int Open(const char* path, int flags, mode_t mode) = 0;
  virtual ssize_t Write(int fd, const void* data, size_t size) = 0;
  virtual int Fsync(int fd) = 0;
  virtual int Close(int fd) = 0;
  virtual int Rename(const char* from, const char* to) = 0;
  virtual int Unlink(const char* path) = 0;
  virtual int Mkdir(const char* path, mode_t mode) = 0;
};

// The operating system's calls. Shared, and lives for the whole program.
std::shared_ptr<FileSystem> RealFileSystem();

}  // namespace evs
