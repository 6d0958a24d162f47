// The local-folder ObjectStore: key "a/b" is the file <root>/a/b.
//
// Atomic puts come from rename(2) over the target; temporary files are named ".evs-tmp-*" so
// that they are never listed and can be swept by RemoveIncompleteWrites. Keys are checked before
// any path is built from them, so no key can name a file outside the root. Every open, write,
// fsync, rename, unlink, mkdir, read, stat and listing goes through the FileSystem seam (tests
// inject faults and power losses there).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "archive/object_keys.h"
#include "evs/object_store.h"
#include "evs/text.h"
#include "evs/uuid.h"

namespace evs {
namespace {

namespace fs = std::filesystem;

using archive::CheckKey;
using archive::KeyProblem;
using archive::kTempPrefix;
using archive::Quote;
constexpr size_t kMaxListKeys = 1000;

std::string ErrnoText(int err) { return std::strerror(err); }

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  Fd(FileSystem& fs, int fd) : fs_(fs), fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) fs_.Close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports close's own error (which can be a delayed write error).
  int Close() {
    int rc = fs_.Close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  FileSystem& fs_;
  int fd_;
};

std::string ParentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates `base`/`parts` one level at a time (`base` must exist). With `durable`, each folder's
// parent is fsynced so that the folder survives a crash along with what is put in it.
// Returns 0 or an errno value, and in `failed` the folder that could not be made.
int MakeFolders(FileSystem& fs, const std::string& base, std::string_view parts, bool durable,
                std::string* failed) {
  std::string path = base;
  std::vector<std::string> created_in;
  size_t start = 0;
  while (start < parts.size()) {
    size_t end = parts.find('/', start);
    if (end == std::string_view::npos) end = parts.size();
    std::string parent = path;
    if (!path.empty() && path.back() != '/') path += '/';
    path.append(parts.substr(start, end - start));
    start = end + 1;
    // Every parent is synced, not only those of new folders: an earlier put whose sync failed
    // may have left an entry that is not yet durable.
    created_in.push_back(parent);
    if (fs.Mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      *failed = path;
      return errno;
    }
    // EEXIST on a file shows up as ENOTDIR at the next level or at the final open.
  }
  if (durable) {
    for (const std::string& parent : created_in) {
      if (int err = SyncFolder(fs, parent); err != 0) {
        *failed = parent;
        return err;
      }
    }
  }
  return 0;
}

int64_t MicrosOf(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

// True when `prefix` has a whole ".." part: one between slashes, or at the start or the end.
bool HasDotDotPart(std::string_view prefix) {
  size_t start = 0;
  while (true) {
    size_t end = prefix.find('/', start);
    std::string_view part = prefix.substr(start, end == std::string_view::npos ? end : end - start);
    if (part == "..") return true;
    if (end == std::string_view::npos) return false;
    start = end + 1;
  }
}

class DirectoryObjectStore final : public ObjectStore {
 public:
  DirectoryObjectStore(std::string root, bool durable, std::shared_ptr<FileSystem> fs)
      : root_(std::move(root)), durable_(durable), fs_(std::move(fs)) {}

  Status Put(std::string_view key, std::string_view bytes) override {
    if (auto s = CheckKey(key, "key"); !s) return s;
    std::string target = PathOf(key);
    std::string folder = ParentOf(target);

    size_t slash = key.find_last_of('/');
    if (slash != std::string_view::npos) {
      std::string failed;
      if (int err = MakeFolders(*fs_, root_, key.substr(0, slash), durable_, &failed); err != 0) {
        return IOError("cannot create folder " + failed + " for object", key, err);
      }
    }

    std::string temp = folder + "/" + std::string(kTempPrefix) + Uuid::Random().ToString();
    int fd = fs_->Open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IOError("cannot create temporary file " + temp + " for", key, errno);
    Fd file(*fs_, fd);

    // From here on a failure must not leave the temporary file behind.
    auto fail = [&](const std::string& what, int err) {
      if (file.get() >= 0) file.Close();
      fs_->Unlink(temp.c_str());
      return IOError(what, key, err);
    };
    // Short writes are taken up again; a full disk shows on the next call (ENOSPC).
    if (int err = WriteFully(*fs_, fd, bytes.data(), bytes.size()); err != 0) {
      return fail("cannot write " + temp + " for", err);
    }
    // After a failed fsync what the file holds is unknown (the OS may have dropped the pages it
    // could not write): the put fails and its file goes, never to be renamed into place.
    if (durable_ && fs_->Fsync(fd) != 0) return fail("cannot fsync " + temp + " for", errno);
    if (file.Close() != 0) return fail("cannot close " + temp + " for", errno);
    if (fs_->Rename(temp.c_str(), target.c_str()) != 0) {
      int err = errno;
      return fail(err == EISDIR ? "cannot replace a folder with" : "cannot rename " + temp + " to",
                  err);
    }
    if (durable_) {
      if (int err = SyncFolder(*fs_, folder); err != 0) {
        // The object is in place, whole, but may not survive a crash; the caller should put it
        // again. Removing it would not help: it replaced whatever was there.
        return IOError("cannot fsync folder " + folder + " after writing", key, err);
      }
    }
    return OkStatus();
  }

  Result<std::string> Get(std::string_view key, std::optional<ByteRange> range) override {
    if (auto s = CheckKey(key, "key"); !s) return s.error();
    std::string path = PathOf(key);
    // O_NONBLOCK so that a FIFO placed in the folder cannot hang the open.
    int fd = fs_->Open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
      return IOError("cannot open", key, errno);
    }
    Fd file(*fs_, fd);
    struct stat st;
    if (fs_->Fstat(fd, &st) != 0) return IOError("cannot stat", key, errno);
    if (!S_ISREG(st.st_mode)) return NotFound(key);

    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t offset = range ? range->offset : 0;
    uint64_t length = range ? range->length : size;
    if (offset >= size) return std::string();
    length = std::min(length, size - offset);

    std::string out(static_cast<size_t>(length), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          fs_->Pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IOError("cannot read", key, errno);
      }
      if (n == 0) break;  // shrunk since fstat: not something evs does, but not a crash either
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }

  Result<ObjectInfo> Head(std::string_view key) override {
    if (auto s = CheckKey(key, "key"); !s) return s.error();
    struct stat st;
    if (fs_->Stat(PathOf(key).c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
      return IOError("cannot stat", key, errno);
    }
    if (!S_ISREG(st.st_mode)) return NotFound(key);
    return ObjectInfo{std::string(key), static_cast<uint64_t>(st.st_size), MicrosOf(st)};
  }

  Result<ObjectList> List(const ListOptions& options) override {
    const std::string_view prefix = options.prefix;
    const size_t max_keys = options.max_keys;
    if (max_keys < 1 || max_keys > kMaxListKeys) {
      return Error::Make(ErrorCode::kInvalidArgument, "max_keys is " + std::to_string(max_keys) +
                                                          "; it must be 1.." +
                                                          std::to_string(kMaxListKeys));
    }
    if (prefix.find('\0') != std::string_view::npos || HasDotDotPart(prefix)) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "invalid prefix " + Quote(prefix) + ": it contains a NUL or a '..' part");
    }
    // The token is the last key of the previous page. start_after is only compared with keys,
    // so any string is fine there (as on S3).
    if (!options.continuation.empty()) {
      if (auto s = CheckKey(options.continuation, "continuation token"); !s) return s.error();
    }
    const std::string_view after = std::max(options.start_after, options.continuation);

    // Only the folder the prefix names can hold matching keys. When that folder part could not
    // be part of any key (a leading '/', "//", "."), nothing matches; it is never walked.
    std::string walk_root = root_;
    size_t slash = prefix.find_last_of('/');
    if (slash != std::string_view::npos) {
      std::string_view folder = prefix.substr(0, slash);
      if (!KeyProblem(folder).empty()) return ObjectList{};
      walk_root += '/';
      walk_root += folder;
    }

    std::vector<std::string> keys;
    auto visit = [&](std::string key) {
      if (key.starts_with(prefix) && key > after) keys.push_back(std::move(key));
    };
    if (auto s = Walk(walk_root, visit); !s) return s.error();

    // Only this page's keys need ordering. std::string compares as unsigned bytes
    // (char_traits<char>::compare is memcmp), which is S3's order.
    ObjectList list;
    const size_t n = std::min(keys.size(), max_keys);
    std::partial_sort(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(n), keys.end());
    // The token is the last key of this page, even when that object vanishes meanwhile.
    if (keys.size() > max_keys) list.next_token = keys[n - 1];
    list.objects.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      struct stat st;
      if (fs_->Stat(PathOf(keys[i]).c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // deleted since the walk
        return IOError("cannot stat", keys[i], errno);
      }
      list.objects.push_back(
          ObjectInfo{std::move(keys[i]), static_cast<uint64_t>(st.st_size), MicrosOf(st)});
    }
    return list;
  }

  Status Delete(std::string_view key) override {
    if (auto s = CheckKey(key, "key"); !s) return s;
    std::string path = PathOf(key);
    if (fs_->Unlink(path.c_str()) != 0) {
      // No such object; a folder is not an object either (EISDIR on Linux, EPERM per POSIX).
      if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return OkStatus();
      if (errno == EPERM) {
        struct stat st;
        if (fs_->Lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return OkStatus();
        errno = EPERM;
      }
      return IOError("cannot delete", key, errno);
    }
    if (durable_) {
      std::string folder = ParentOf(path);
      if (int err = SyncFolder(*fs_, folder); err != 0) {
        return IOError("cannot fsync folder " + folder + " after deleting", key, err);
      }
    }
    return OkStatus();
  }

  Result<size_t> RemoveIncompleteWrites() override {
    size_t removed = 0;
    auto visit = [&](const std::string& path, const std::string& name, bool folder) -> Status {
      // evs never makes temporary folders; leave such folders be.
      if (folder || !name.starts_with(kTempPrefix)) return OkStatus();
      if (fs_->Unlink(path.c_str()) != 0) {
        if (errno == ENOENT) return OkStatus();
        return Error::Make(ErrorCode::kIOError,
                           "cannot remove temporary file " + path + ": " + ErrnoText(errno));
      }
      ++removed;
      return OkStatus();
    };
    if (auto s = WalkFolder(root_, visit); !s) {
      return Error::Make(ErrorCode::kIOError,
                         "cannot walk " + root_ + " for temporary files: " + s.error().message);
    }
    return removed;
  }

  std::string Location() const override { return root_; }

 private:
  // Only for checked keys: they cannot start with '/' or hold "..", so the path stays inside.
  std::string PathOf(std::string_view key) const {
    std::string path = root_;
    if (path.back() != '/') path += '/';
    path.append(key);
    return path;
  }

  // Calls `visit(path, name, is_folder)` for every entry under `folder`, depth first, and
  // descends into folders (never through a symbolic link, so a walk stays inside the root)
  // whose names are not temporary.
  template <class Visit>
  Status WalkFolder(const std::string& folder, Visit& visit) const {
    std::vector<std::string> names;
    if (fs_->ListFolder(folder.c_str(), &names) != 0) {
      return Error::Make(ErrorCode::kIOError, folder + ": " + ErrnoText(errno));
    }
    for (const std::string& name : names) {
      const std::string path = folder + "/" + name;
      struct stat st;
      if (fs_->Lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // removed since the listing
        return Error::Make(ErrorCode::kIOError, path + ": " + ErrnoText(errno));
      }
      const bool is_folder = S_ISDIR(st.st_mode);
      if (auto s = visit(path, name, is_folder); !s) return s;
      if (is_folder && !name.starts_with(kTempPrefix)) {
        if (auto s = WalkFolder(path, visit); !s) return s;
      }
    }
    return OkStatus();
  }

  // Calls `visit` with the key of every regular file under `folder` (a folder under the root)
  // whose path is a valid key; temporary files are not. A missing folder holds nothing.
  template <class Visit>
  Status Walk(const std::string& folder, Visit&& visit) const {
    std::string base = root_;
    if (base.back() != '/') base += '/';
    // A subfolder no object was put under holds nothing; a missing root is an error.
    struct stat st;
    if (folder != root_ && (fs_->Stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
      return OkStatus();
    }
    auto keys = [&](const std::string& path, const std::string& name, bool is_folder) {
      if (is_folder || name.starts_with(kTempPrefix) || !path.starts_with(base)) {
        return OkStatus();
      }
      // Follows a symbolic link to a file (listed, as Get reads it).
      struct stat target;
      if (fs_->Stat(path.c_str(), &target) != 0 || !S_ISREG(target.st_mode)) return OkStatus();
      std::string key = path.substr(base.size());
      if (!KeyProblem(key).empty()) return OkStatus();  // put there by hand; Get would refuse it
      visit(std::move(key));
      return OkStatus();
    };
    if (auto s = WalkFolder(folder, keys); !s) {
      return Error::Make(ErrorCode::kIOError, "cannot list " + s.error().message);
    }
    return OkStatus();
  }

  Error IOError(const std::string& what, std::string_view key, int err) const {
    return Error::Make(ErrorCode::kIOError,
                       what + " object " + Quote(key) + " in " + root_ + ": " + ErrnoText(err));
  }
  Error NotFound(std::string_view key) const {
    return Error::Make(ErrorCode::kNotFound, "no object " + Quote(key) + " in " + root_);
  }

  const std::string root_;
  const bool durable_;
  const std::shared_ptr<FileSystem> fs_;
};

// Creates `path` and its missing parents; with `durable`, fsyncs the parent of each new folder.
int MakeRoot(FileSystem& fs, const std::string& path, bool durable, std::string* failed) {
  bool absolute = path.front() == '/';
  std::string rest = absolute ? path.substr(1) : path;
  // Collapse "//" so that MakeFolders never sees an empty part.
  std::string clean;
  for (char c : rest) {
    if (c == '/' && (clean.empty() || clean.back() == '/')) continue;
    clean += c;
  }
  if (!clean.empty() && clean.back() == '/') clean.pop_back();
  if (clean.empty()) return 0;
  return MakeFolders(fs, absolute ? "/" : ".", clean, durable, failed);
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenDirectoryObjectStore(
    const DirectoryObjectStoreOptions& options) {
  std::shared_ptr<FileSystem> fs = options.file_system ? options.file_system : RealFileSystem();
  std::string path = options.path;
  if (path.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the object store folder path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the object store folder path " + Quote(path) + " contains a NUL byte");
  }
  // Absolute, so that the store does not move when the working folder changes.
  std::error_code ec;
  if (fs::path absolute = fs::absolute(path, ec); !ec) path = absolute.string();
  while (path.size() > 1 && path.back() == '/') path.pop_back();

  struct stat st;
  if (fs->Stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err != ENOENT) {
      return Error::Make(ErrorCode::kIOError,
                         "cannot open object store folder " + path + ": " + ErrnoText(err));
    }
    if (!options.create_if_missing) {
      return Error::Make(ErrorCode::kNotFound,
                         "object store folder " + path +
                             " does not exist; create it, or open with create_if_missing");
    }
    std::string failed;
    if (int e = MakeRoot(*fs, path, options.durable, &failed); e != 0) {
      return Error::Make(ErrorCode::kIOError, "cannot create object store folder " + path +
                                                  " (at " + failed + "): " + ErrnoText(e));
    }
    if (fs->Stat(path.c_str(), &st) != 0) {
      return Error::Make(ErrorCode::kIOError,
                         "cannot open object store folder " + path + ": " + ErrnoText(errno));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "object store path " + path + " exists but is not a folder");
  }
  return std::unique_ptr<ObjectStore>(
      std::make_unique<DirectoryObjectStore>(std::move(path), options.durable, std::move(fs)));
}

}  // namespace evs
