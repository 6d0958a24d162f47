#include "store/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

namespace evs::store {

Result<FileLock> FileLock::Acquire(FileSystem& fs, const std::string& path) {
  int fd = fs.Open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error::Make(ErrorCode::kIOError,
                       "cannot open lock file " + path + ": " + std::strerror(errno));
  }
  if (fs.Flock(fd, LOCK_EX | LOCK_NB) != 0) {
    fs.Close(fd);
    return Error::Make(ErrorCode::kUnavailable,
                       "the store is in use by another process (lock " + path +
                           "); stop it, or point this command at another data folder");
  }
  return FileLock(fs, fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) fs_->Close(fd_);
}

}  // namespace evs::store
