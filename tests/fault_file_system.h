// A FileSystem for tests that makes the real calls and injects the faults a test plans: failed
// fsyncs (of files, of folders), a full disk, short writes, and a power loss that takes back
// everything not yet fsynced. Thread-safe.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

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
  // The next `count` fsyncs of files whose path ends with `suffix` fail with EIO and sync
  // nothing (other fsyncs go through).
  void FailFsyncsOf(std::string suffix, int count = 1) {
    std::lock_guard guard(mu_);
    fail_suffix_ = std::move(suffix);
    fail_suffix_fsyncs_ = count;
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
  // The next `count` writes write nothing and report 0 bytes written, as a faulty device may.
  void StalledWrites(int count) {
    std::lock_guard guard(mu_);
    stalled_writes_ = count;
  }
  void Clear() {
    std::lock_guard guard(mu_);
    stalled_writes_ = 0;
    fail_fsyncs_ = 0;
    fail_suffix_fsyncs_ = 0;
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

  // Power loss. From TrackUnsynced() on, every change is remembered until the fsync that makes
  // it durable: a file's data until that file is fsynced, a name created, renamed or removed
  // until its folder is. PowerLoss() undoes every change not yet durable, newest first (a file
  // whose data was synced but whose name was not vanishes, as on a real disk), and from then on
  // every call that would change the disk fails with EIO until PowerOn(). Returns the changes
  // taken back.
  void TrackUnsynced() {
    std::lock_guard guard(mu_);
    tracking_ = true;
    changes_.clear();
  }
  int PowerLoss() {
    std::lock_guard guard(mu_);
    powered_off_ = true;
    const int undone = static_cast<int>(changes_.size());
    for (auto c = changes_.rbegin(); c != changes_.rend(); ++c) Undo(*c);
    changes_.clear();
    return undone;
  }
  // The first half of PowerLoss(): every call that would change the disk fails from now on,
  // but nothing is undone yet (see FaultVfs::PowerOff).
  void PowerOff() {
    std::lock_guard guard(mu_);
    powered_off_ = true;
  }
  void PowerOn() {
    std::lock_guard guard(mu_);
    powered_off_ = false;
  }

  int Open(const char* path, int flags, mode_t mode) override {
    std::lock_guard guard(mu_);
    const bool writes = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
    if (powered_off_ && writes) return Fail(EIO);
    struct stat before;
    const bool existed = ::lstat(path, &before) == 0;
    if (tracking_ && existed && (flags & O_TRUNC) && S_ISREG(before.st_mode)) {
      RecordData(path, 0, before.st_size, std::string());  // everything, as if overwritten
    }
    int fd = real_->Open(path, flags, mode);
    if (fd < 0) return fd;
    paths_[fd] = path;
    if (flags & O_DIRECTORY) folders_.insert(fd);
    if (tracking_ && !existed && (flags & O_CREAT)) {
      Change c;
      c.kind = Change::kCreate;
      c.path = path;
      c.folder = FolderId(path);
      changes_.push_back(std::move(c));
    }
    return fd;
  }
  ssize_t Write(int fd, const void* data, size_t size) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    if (!Budget(size)) return -1;
    if (Stalled()) return 0;
    const off_t offset = ::lseek(fd, 0, SEEK_CUR);
    if (tracking_ && offset >= 0) TrackWrite(fd, offset, size);
    return real_->Write(fd, data, size);
  }
  ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    if (!Budget(size)) return -1;
    if (Stalled()) return 0;
    if (tracking_) TrackWrite(fd, offset, size);
    return real_->Pwrite(fd, data, size, offset);
  }
  ssize_t Pread(int fd, void* data, size_t size, off_t offset) override {
    return real_->Pread(fd, data, size, offset);
  }
  int Fsync(int fd) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    const unsigned kind = folders_.count(fd) ? kFolders : kFiles;
    ++(kind == kFolders ? folder_fsyncs_ : file_fsyncs_);
    if (fail_suffix_fsyncs_ > 0 && paths_.count(fd) && paths_[fd].ends_with(fail_suffix_)) {
      --fail_suffix_fsyncs_;
      ++faults_;
      return Fail(EIO);
    }
    if (fail_fsyncs_ > 0 && (fsync_target_ & kind)) {
      --fail_fsyncs_;
      ++faults_;
      return Fail(EIO);
    }
    const int rc = real_->Fsync(fd);
    struct stat st;
    if (rc == 0 && tracking_ && ::fstat(fd, &st) == 0) {
      const Id id{st.st_dev, st.st_ino};
      // The file's data, or the names in the folder, are durable now.
      std::erase_if(changes_, [&](const Change& c) {
        return kind == kFolders ? (c.kind != Change::kData && c.folder == id)
                                : (c.kind == Change::kData && c.file == id);
      });
    }
    return rc;
  }
  int Close(int fd) override {
    {
      std::lock_guard guard(mu_);
      folders_.erase(fd);
      paths_.erase(fd);
    }
    return real_->Close(fd);
  }
  int Rename(const char* from, const char* to) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    Change c = RenameChange(from, to);
    const int rc = real_->Rename(from, to);
    if (rc == 0 && tracking_) changes_.push_back(std::move(c));
    return rc;
  }
  int RenameNoReplace(const char* from, const char* to) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    Change c = RenameChange(from, to);
    const int rc = real_->RenameNoReplace(from, to);
    if (rc == 0 && tracking_) changes_.push_back(std::move(c));
    return rc;
  }
  int Unlink(const char* path) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    Change c;
    c.kind = Change::kUnlink;
    c.path = path;
    c.folder = FolderId(path);
    c.old_content = tracking_ ? ReadWhole(path) : std::nullopt;
    const int rc = real_->Unlink(path);
    if (rc == 0 && tracking_) changes_.push_back(std::move(c));
    return rc;
  }
  int Mkdir(const char* path, mode_t mode) override {
    std::lock_guard guard(mu_);
    if (powered_off_) return Fail(EIO);
    const int rc = real_->Mkdir(path, mode);
    if (rc == 0 && tracking_) {
      Change c;
      c.kind = Change::kMkdir;
      c.path = path;
      c.folder = FolderId(path);
      changes_.push_back(std::move(c));
    }
    return rc;
  }
  int Fstat(int fd, struct stat* out) override { return real_->Fstat(fd, out); }
  int Stat(const char* path, struct stat* out) override { return real_->Stat(path, out); }
  int Lstat(const char* path, struct stat* out) override { return real_->Lstat(path, out); }
  int Flock(int fd, int operation) override { return real_->Flock(fd, operation); }
  int ListFolder(const char* path, std::vector<std::string>* names) override {
    return real_->ListFolder(path, names);
  }

 private:
  struct Id {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const Id&) const = default;
  };
  // One change not yet durable.
  struct Change {
    enum Kind { kData, kCreate, kRename, kUnlink, kMkdir } kind = kData;
    Id file;           // kData: the file written
    Id folder;         // the others: the folder whose names changed
    std::string path;  // kData: the file's name when written; else the name created or removed
    std::string from;  // kRename: the old name (`path` is the new one)
    off_t offset = 0;  // kData: what the write replaced: old_size and the bytes it overwrote
    off_t old_size = 0;
    std::string old_bytes;
    std::optional<std::string> old_content;  // kRename: what `path` held; kUnlink: the file
  };

  int Fail(int err) {
    errno = err;
    return -1;
  }
  bool Budget(size_t& size) {
    if (budget_) {
      if (*budget_ <= 0 && size > 0) {
        ++faults_;
        errno = ENOSPC;
        return false;
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
    return true;
  }
  bool Stalled() {
    if (stalled_writes_ <= 0) return false;
    --stalled_writes_;
    ++faults_;
    return true;
  }
  static Id FolderId(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
    struct stat st;
    if (::stat(folder.empty() ? "/" : folder.c_str(), &st) != 0) return Id{};
    return Id{st.st_dev, st.st_ino};
  }
  static std::optional<std::string> ReadWhole(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct stat st;
    std::optional<std::string> out;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      out.emplace(static_cast<size_t>(st.st_size), '\0');
      if (::pread(fd, out->data(), out->size(), 0) != static_cast<ssize_t>(out->size())) {
        out.reset();
      }
    }
    ::close(fd);
    return out;
  }
  void RecordData(const std::string& path, off_t offset, off_t size, std::string old_bytes) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return;
    Change c;
    c.kind = Change::kData;
    c.file = Id{st.st_dev, st.st_ino};
    c.path = path;
    c.offset = offset;
    c.old_size = size;
    if (old_bytes.empty() && offset == 0 && size > 0) {
      c.old_content = ReadWhole(path);  // truncated on open: restore it whole
    }
    c.old_bytes = std::move(old_bytes);
    changes_.push_back(std::move(c));
  }
  void TrackWrite(int fd, off_t offset, size_t size) {
    auto path = paths_.find(fd);
    struct stat st;
    if (path == paths_.end() || ::fstat(fd, &st) != 0) return;
    Change c;
    c.kind = Change::kData;
    c.file = Id{st.st_dev, st.st_ino};
    c.path = path->second;
    c.offset = offset;
    c.old_size = st.st_size;
    const off_t end = std::min<off_t>(offset + static_cast<off_t>(size), st.st_size);
    if (end > offset) {
      c.old_bytes.resize(static_cast<size_t>(end - offset));
      if (::pread(fd, c.old_bytes.data(), c.old_bytes.size(), offset) < 0) c.old_bytes.clear();
    }
    changes_.push_back(std::move(c));
  }
  Change RenameChange(const char* from, const char* to) {
    Change c;
    c.kind = Change::kRename;
    c.from = from;
    c.path = to;
    c.folder = FolderId(to);
    if (tracking_) c.old_content = ReadWhole(to);
    return c;
  }
  static void WriteWhole(const std::string& path, const std::string& content) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (::pwrite(fd, content.data(), content.size(), 0) < 0) {
    }
    ::close(fd);
  }
  static void Undo(const Change& c) {
    switch (c.kind) {
      case Change::kData: {
        if (c.old_content) {
          WriteWhole(c.path, *c.old_content);
          break;
        }
        const int fd = ::open(c.path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) break;
        if (!c.old_bytes.empty() &&
            ::pwrite(fd, c.old_bytes.data(), c.old_bytes.size(), c.offset) < 0) {
        }
        struct stat st;
        if (::fstat(fd, &st) == 0 && st.st_size > c.old_size && ::ftruncate(fd, c.old_size) != 0) {
        }
        ::close(fd);
        break;
      }
      case Change::kCreate:
        ::unlink(c.path.c_str());
        break;
      case Change::kRename:
        ::rename(c.path.c_str(), c.from.c_str());
        if (c.old_content) WriteWhole(c.path, *c.old_content);
        break;
      case Change::kUnlink:
        if (c.old_content) WriteWhole(c.path, *c.old_content);
        break;
      case Change::kMkdir:
        ::rmdir(c.path.c_str());
        break;
    }
  }

  const std::shared_ptr<FileSystem> real_ = RealFileSystem();
  mutable std::mutex mu_;
  int fail_fsyncs_ = 0;
  std::string fail_suffix_;
  int fail_suffix_fsyncs_ = 0;
  unsigned fsync_target_ = kFilesAndFolders;
  std::optional<int64_t> budget_;
  int short_writes_ = 0;
  int stalled_writes_ = 0;
  std::set<int> folders_;
  std::map<int, std::string> paths_;
  int64_t faults_ = 0, file_fsyncs_ = 0, folder_fsyncs_ = 0;
  bool tracking_ = false;
  bool powered_off_ = false;
  std::vector<Change> changes_;  // oldest first
};

}  // namespace evs::testing
