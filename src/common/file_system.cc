#include "evs/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace evs {
namespace {

class PosixFileSystem final : public FileSystem {
 public:
  int Open(const char* path, int flags, mode_t mode) override { return ::open(path, flags, mode); }
  ssize_t Write(int fd, const void* data, size_t size) override { return ::write(fd, data, size); }
  ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset) override {
    return ::pwrite(fd, data, size, offset);
  }
  ssize_t Pread(int fd, void* data, size_t size, off_t offset) override {
    return ::pread(fd, data, size, offset);
  }
  int Fsync(int fd) override { return ::fsync(fd); }
  int Close(int fd) override { return ::close(fd); }
  int Fstat(int fd, struct stat* out) override { return ::fstat(fd, out); }
  int Stat(const char* path, struct stat* out) override { return ::stat(path, out); }
  int Lstat(const char* path, struct stat* out) override { return ::lstat(path, out); }
  int Rename(const char* from, const char* to) override { return ::rename(from, to); }
  int RenameNoReplace(const char* from, const char* to) override {
    return ::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
  }
  int Unlink(const char* path) override { return ::unlink(path); }
  int Mkdir(const char* path, mode_t mode) override { return ::mkdir(path, mode); }
  int Flock(int fd, int operation) override { return ::flock(fd, operation); }
  int ListFolder(const char* path, std::vector<std::string>* names) override {
    DIR* dir = ::opendir(path);
    if (!dir) return -1;
    names->clear();
    for (;;) {
      errno = 0;
      const dirent* entry = ::readdir(dir);
      if (!entry) break;
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      names->emplace_back(entry->d_name);
    }
    const int err = errno;
    ::closedir(dir);
    errno = err;
    return err == 0 ? 0 : -1;
  }
};

}  // namespace

std::shared_ptr<FileSystem> RealFileSystem() {
  static const std::shared_ptr<FileSystem> real = std::make_shared<PosixFileSystem>();
  return real;
}

int WriteFully(FileSystem& fs, int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = fs.Write(fd, bytes + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never loop on it
    done += static_cast<size_t>(n);
  }
  return 0;
}

int PwriteFully(FileSystem& fs, int fd, const void* data, size_t size, off_t offset) {
  const char* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = fs.Pwrite(fd, bytes + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never loop on it
    done += static_cast<size_t>(n);
  }
  return 0;
}

int PreadFully(FileSystem& fs, int fd, void* data, size_t size, off_t offset) {
  char* bytes = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = fs.Pread(fd, bytes + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

int SyncFolder(FileSystem& fs, const std::string& path) {
  const int fd = fs.Open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int rc = fs.Fsync(fd);
  const int err = rc == 0 ? 0 : errno;
  fs.Close(fd);
  return err;
}

}  // namespace evs
