// Every call evs makes to the file system outside SQLite (which has its VFS for that): behind an
// interface so that tests can inject the faults a real disk cannot be made to show on demand (a
// failed fsync, a full disk, short writes, a power loss that drops what was never synced).
// Production code uses RealFileSystem().
//
// Each method is its POSIX namesake: same arguments, same return value, errno set on failure.
// Short reads and writes are legal, as for read(2) and write(2). Implementations are
// thread-safe.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace evs {

// The file system calls evs makes, each as its POSIX namesake (see above).
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // open(2): a descriptor, or -1.
  virtual int Open(const char* path, int flags, mode_t mode) = 0;
  // write(2): the bytes written (maybe fewer than `size`), or -1.
  virtual ssize_t Write(int fd, const void* data, size_t size) = 0;
  // pwrite(2): the bytes written at `offset` (maybe fewer than `size`), or -1.
  virtual ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset) = 0;
  // pread(2): the bytes read at `offset` (maybe fewer than `size`; 0 at the end), or -1.
  virtual ssize_t Pread(int fd, void* data, size_t size, off_t offset) = 0;
  // fsync(2): 0, or -1 (and what the file holds beyond the last successful fsync is unknown).
  virtual int Fsync(int fd) = 0;
  // close(2).
  virtual int Close(int fd) = 0;
  // fstat(2).
  virtual int Fstat(int fd, struct stat* out) = 0;
  // stat(2).
  virtual int Stat(const char* path, struct stat* out) = 0;
  // lstat(2): as Stat, but of a symbolic link itself.
  virtual int Lstat(const char* path, struct stat* out) = 0;
  // rename(2): atomically replaces `to` when it exists.
  virtual int Rename(const char* from, const char* to) = 0;
  // renameat2(2) with RENAME_NOREPLACE: EEXIST when `to` exists; EINVAL where the file system
  // cannot refuse atomically.
  virtual int RenameNoReplace(const char* from, const char* to) = 0;
  // unlink(2).
  virtual int Unlink(const char* path) = 0;
  // mkdir(2).
  virtual int Mkdir(const char* path, mode_t mode) = 0;
  // flock(2): the advisory lock that keeps a second process off a store.
  virtual int Flock(int fd, int operation) = 0;
  // The names in folder `path` (without "." and ".."), in no particular order: 0, or -1 with
  // errno set as opendir(3) or readdir(3) set it.
  virtual int ListFolder(const char* path, std::vector<std::string>* names) = 0;
};

// The operating system's calls. Shared, and lives for the whole program.
std::shared_ptr<FileSystem> RealFileSystem();

// Helpers on any FileSystem, retrying EINTR and short transfers. Each returns 0, or an errno
// value. WriteFully writes all `size` bytes; EIO for a write that makes no progress.
int WriteFully(FileSystem& fs, int fd, const void* data, size_t size);
// Writes all `size` bytes at `offset`. Unlike WriteFully, it calls Pwrite again after one that
// wrote nothing.
int PwriteFully(FileSystem& fs, int fd, const void* data, size_t size, off_t offset);
// Reads `size` bytes at `offset`; EIO when the file ends before them.
int PreadFully(FileSystem& fs, int fd, void* data, size_t size, off_t offset);
// Opens folder `path` and fsyncs it, so that the names created, renamed or removed in it
// survive a power loss.
int SyncFolder(FileSystem& fs, const std::string& path);

}  // namespace evs
