#include "fault_vfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace evs::testing {

struct FaultVfs::Impl {
  // What was written to one file since its last good sync, to take back on a failed one.
  struct Undo {
    int64_t size_at_sync = 0;
    std::vector<std::pair<int64_t, std::string>> old_bytes;  // in the order they were replaced
  };

  sqlite3_vfs vfs{};
  sqlite3_vfs* base = nullptr;
  std::string name;

  mutable std::mutex mu;  // guards the plan below, and makes tracked writes and syncs atomic
  int fail_syncs = 0;
  unsigned fail_sync_kinds = 0;
  bool lose_writes = false;
  std::optional<int64_t> write_budget;
  unsigned budget_kinds = 0;
  int short_writes = 0;
  int short_write_code = SQLITE_FULL;
  unsigned short_write_kinds = 0;
  std::map<std::string, Undo> undo;  // by file name, while lose_writes or tracking is on
  bool track_unsynced = false;
  bool powered_off = false;
  // The last tracked write, for a torn write at a power loss.
  std::string last_write_path;
  int64_t last_write_offset = 0;
  std::string last_write_bytes;
  // Syncs held for a test (HoldSyncs).
  unsigned hold_sync_kinds = 0;
  int held_syncs = 0;
  std::condition_variable held_cv;
  int64_t syncs[4] = {0, 0, 0, 0};  // by kind bit
  int64_t faults = 0;
};

namespace {

using Impl = FaultVfs::Impl;

// SQLite's handle: ours first, the default VFS's right after it.
struct FaultFile {
  sqlite3_file base;
  Impl* owner;
  sqlite3_file* real;
  unsigned kind;
  std::string* path;  // "" for temporary files
};

constexpr size_t kFaultFileBytes = (sizeof(FaultFile) + 7) & ~size_t{7};

FaultFile* Of(sqlite3_file* file) { return reinterpret_cast<FaultFile*>(file); }
Impl* Of(sqlite3_vfs* vfs) { return static_cast<Impl*>(vfs->pAppData); }

unsigned KindOf(int flags) {
  if (flags & SQLITE_OPEN_MAIN_DB) return kMainDb;
  if (flags & SQLITE_OPEN_WAL) return kWal;
  if (flags & SQLITE_OPEN_MAIN_JOURNAL) return kJournal;
  return kOtherFile;
}

int KindIndex(unsigned kind) {
  switch (kind) {
    case kMainDb:
      return 0;
    case kWal:
      return 1;
    case kJournal:
      return 2;
    default:
      return 3;
  }
}

// With `mu` held: remembers what [offset, offset + amount) holds now, if faults may take it back.
void Track(FaultFile* f, int64_t offset, int64_t amount) {
  Impl& impl = *f->owner;
  if ((!impl.lose_writes && !impl.track_unsynced) || f->path->empty()) return;
  sqlite3_int64 size = 0;
  if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK) return;
  auto [it, fresh] = impl.undo.try_emplace(*f->path);
  if (fresh) it->second.size_at_sync = size;
  const int64_t end = std::min<int64_t>(offset + amount, size);
  if (end <= offset) return;
  std::string old(static_cast<size_t>(end - offset), '\0');
  if (f->real->pMethods->xRead(f->real, old.data(), static_cast<int>(old.size()), offset) ==
      SQLITE_OK) {
    it->second.old_bytes.emplace_back(offset, std::move(old));
  }
}

// With `mu` held: puts the file back as it was at its last good sync.
void TakeBack(FaultFile* f) {
  Impl& impl = *f->owner;
  auto it = impl.undo.find(*f->path);
  if (it == impl.undo.end()) return;
  Impl::Undo& undo = it->second;
  for (auto old = undo.old_bytes.rbegin(); old != undo.old_bytes.rend(); ++old) {
    f->real->pMethods->xWrite(f->real, old->second.data(), static_cast<int>(old->second.size()),
                              old->first);
  }
  f->real->pMethods->xTruncate(f->real, undo.size_at_sync);
  impl.undo.erase(it);
}

int Close(sqlite3_file* file) {
  FaultFile* f = Of(file);
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  delete f->path;
  f->path = nullptr;
  return rc;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  FaultFile* f = Of(file);
  Impl& impl = *f->owner;
  std::lock_guard guard(impl.mu);
  if (impl.powered_off) return SQLITE_IOERR_WRITE;
  int allowed = amount;
  int fault = SQLITE_OK;
  if (impl.short_writes > 0 && (impl.short_write_kinds & f->kind)) {
    --impl.short_writes;
    allowed = amount / 2;
    fault = impl.short_write_code;
  } else if (impl.write_budget && (impl.budget_kinds & f->kind)) {
    if (*impl.write_budget >= amount) {
      *impl.write_budget -= amount;
    } else {
      allowed = static_cast<int>(*impl.write_budget);
      *impl.write_budget = 0;
      fault = SQLITE_FULL;
    }
  }
  if (fault != SQLITE_OK) ++impl.faults;
  if (allowed > 0) {
    Track(f, offset, allowed);
    if (impl.track_unsynced && !f->path->empty()) {
      impl.last_write_path = *f->path;
      impl.last_write_offset = offset;
      impl.last_write_bytes.assign(static_cast<const char*>(data), static_cast<size_t>(allowed));
    }
    int rc = f->real->pMethods->xWrite(f->real, data, allowed, offset);
    if (rc != SQLITE_OK) return rc;
  }
  return fault;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  FaultFile* f = Of(file);
  std::lock_guard guard(f->owner->mu);
  if (f->owner->powered_off) return SQLITE_IOERR_TRUNCATE;
  sqlite3_int64 now = 0;
  if (f->real->pMethods->xFileSize(f->real, &now) == SQLITE_OK && now > size) {
    Track(f, size, now - size);
  }
  return f->real->pMethods->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  FaultFile* f = Of(file);
  Impl& impl = *f->owner;
  std::unique_lock guard(impl.mu);
  if (impl.hold_sync_kinds & f->kind) {
    ++impl.held_syncs;
    impl.held_cv.notify_all();
    impl.held_cv.wait(guard, [&] { return !(impl.hold_sync_kinds & f->kind); });
    --impl.held_syncs;
  }
  if (impl.powered_off) return SQLITE_IOERR_FSYNC;
  ++impl.syncs[KindIndex(f->kind)];
  if (impl.fail_syncs > 0 && (impl.fail_sync_kinds & f->kind)) {
    --impl.fail_syncs;
    ++impl.faults;
    if (impl.lose_writes) TakeBack(f);
    return SQLITE_IOERR_FSYNC;
  }
  int rc = f->real->pMethods->xSync(f->real, flags);
  if (rc == SQLITE_OK && !f->path->empty()) impl.undo.erase(*f->path);
  return rc;
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xLock(f->real, level);
}

int Unlock(sqlite3_file* file, int level) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xUnlock(f->real, level);
}

int CheckReservedLock(sqlite3_file* file, int* out) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* file) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int DeviceCharacteristics(sqlite3_file* file) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void ShmBarrier(sqlite3_file* file) {
  FaultFile* f = Of(file);
  f->real->pMethods->xShmBarrier(f->real);
}

int ShmUnmap(sqlite3_file* file, int delete_flag) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xFetch(f->real, offset, amount, out);
}

int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  FaultFile* f = Of(file);
  return f->real->pMethods->xUnfetch(f->real, offset, p);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  Impl* impl = Of(vfs);
  FaultFile* f = Of(file);
  f->base.pMethods = nullptr;
  f->owner = impl;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kFaultFileBytes);
  f->real->pMethods = nullptr;
  f->kind = KindOf(flags);
  f->path = new std::string(name ? name : "");
  int rc = impl->base->xOpen(impl->base, name, f->real, flags, out_flags);
  if (!f->real->pMethods) {
    delete f->path;
    f->path = nullptr;
    return rc;
  }
  // The default VFS is version 3 (shared memory, memory-mapped reads), as is kMethods.
  f->base.pMethods = &kMethods;
  return rc;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  Impl* impl = Of(vfs);
  {
    std::lock_guard guard(impl->mu);
    if (impl->powered_off) return SQLITE_IOERR_DELETE;
    impl->undo.erase(name);
  }
  return impl->base->xDelete(impl->base, name, sync_dir);
}

int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Of(vfs)->base->xAccess(Of(vfs)->base, name, flags, out);
}

int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Of(vfs)->base->xFullPathname(Of(vfs)->base, name, size, out);
}

void* DlOpen(sqlite3_vfs* vfs, const char* name) {
  return Of(vfs)->base->xDlOpen(Of(vfs)->base, name);
}

void DlError(sqlite3_vfs* vfs, int size, char* out) {
  Of(vfs)->base->xDlError(Of(vfs)->base, size, out);
}

void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Of(vfs)->base->xDlSym(Of(vfs)->base, handle, symbol);
}

void DlClose(sqlite3_vfs* vfs, void* handle) { Of(vfs)->base->xDlClose(Of(vfs)->base, handle); }

int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return Of(vfs)->base->xRandomness(Of(vfs)->base, size, out);
}

int Sleep(sqlite3_vfs* vfs, int micros) { return Of(vfs)->base->xSleep(Of(vfs)->base, micros); }

int CurrentTime(sqlite3_vfs* vfs, double* out) {
  return Of(vfs)->base->xCurrentTime(Of(vfs)->base, out);
}

int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Of(vfs)->base->xGetLastError(Of(vfs)->base, size, out);
}

int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Of(vfs)->base->xCurrentTimeInt64(Of(vfs)->base, out);
}

int SetSystemCall(sqlite3_vfs* vfs, const char* name, sqlite3_syscall_ptr call) {
  return Of(vfs)->base->xSetSystemCall(Of(vfs)->base, name, call);
}

sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs* vfs, const char* name) {
  return Of(vfs)->base->xGetSystemCall(Of(vfs)->base, name);
}

const char* NextSystemCall(sqlite3_vfs* vfs, const char* name) {
  return Of(vfs)->base->xNextSystemCall(Of(vfs)->base, name);
}

std::atomic<int> next_id{0};

}  // namespace

FaultVfs::FaultVfs(bool make_default) : impl_(std::make_unique<Impl>()) {
  impl_->base = sqlite3_vfs_find(nullptr);
  impl_->name = "evs-faults-" + std::to_string(next_id.fetch_add(1));
  sqlite3_vfs& v = impl_->vfs;
  v.iVersion = 3;
  v.szOsFile = static_cast<int>(kFaultFileBytes) + impl_->base->szOsFile;
  v.mxPathname = impl_->base->mxPathname;
  v.zName = impl_->name.c_str();
  v.pAppData = impl_.get();
  v.xOpen = Open;
  v.xDelete = Delete;
  v.xAccess = Access;
  v.xFullPathname = FullPathname;
  v.xDlOpen = DlOpen;
  v.xDlError = DlError;
  v.xDlSym = DlSym;
  v.xDlClose = DlClose;
  v.xRandomness = Randomness;
  v.xSleep = Sleep;
  v.xCurrentTime = CurrentTime;
  v.xGetLastError = GetLastError;
  v.xCurrentTimeInt64 = CurrentTimeInt64;
  v.xSetSystemCall = SetSystemCall;
  v.xGetSystemCall = GetSystemCall;
  v.xNextSystemCall = NextSystemCall;
  sqlite3_vfs_register(&v, make_default ? 1 : 0);
}

FaultVfs::~FaultVfs() { sqlite3_vfs_unregister(&impl_->vfs); }

const std::string& FaultVfs::name() const { return impl_->name; }

void FaultVfs::FailSyncs(int count, unsigned kinds, bool lose_writes) {
  std::lock_guard guard(impl_->mu);
  impl_->fail_syncs = count;
  impl_->fail_sync_kinds = kinds;
  impl_->lose_writes = lose_writes;
  impl_->undo.clear();
}

void FaultVfs::DiskFullAfter(int64_t bytes, unsigned kinds) {
  std::lock_guard guard(impl_->mu);
  impl_->write_budget = bytes;
  impl_->budget_kinds = kinds;
}

void FaultVfs::ShortWrites(int count, int code, unsigned kinds) {
  std::lock_guard guard(impl_->mu);
  impl_->short_writes = count;
  impl_->short_write_code = code;
  impl_->short_write_kinds = kinds;
}

void FaultVfs::Clear() {
  std::lock_guard guard(impl_->mu);
  impl_->fail_syncs = 0;
  impl_->lose_writes = false;
  if (!impl_->track_unsynced) impl_->undo.clear();
  impl_->write_budget.reset();
  impl_->short_writes = 0;
}

void FaultVfs::TrackUnsynced() {
  std::lock_guard guard(impl_->mu);
  impl_->track_unsynced = true;
  impl_->undo.clear();
}

FaultVfs::PowerLossReport FaultVfs::PowerLoss(uint64_t seed, bool tear) {
  std::lock_guard guard(impl_->mu);
  PowerLossReport report;
  impl_->powered_off = true;
  // Straight to the files by name, not through SQLite's handles: some may be closed by now.
  for (auto& [path, undo] : impl_->undo) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;  // deleted since: a delete is a folder operation, kept
    ++report.files_reverted;
    for (auto old = undo.old_bytes.rbegin(); old != undo.old_bytes.rend(); ++old) {
      report.bytes_lost += static_cast<int64_t>(old->second.size());
      if (::pwrite(fd, old->second.data(), old->second.size(), old->first) < 0) break;
    }
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > undo.size_at_sync) {
      report.bytes_lost += st.st_size - undo.size_at_sync;
      if (::ftruncate(fd, undo.size_at_sync) != 0) {
      }
    }
    ::close(fd);
  }
  // A torn write: the first sectors of the last write made it to the disk, the rest did not.
  const size_t sectors = impl_->last_write_bytes.size() / 512;
  if (tear && sectors > 1 && impl_->undo.count(impl_->last_write_path)) {
    std::mt19937_64 random(seed);
    const size_t keep = 512 * (1 + random() % (sectors - 1));
    const int fd = ::open(impl_->last_write_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      if (::pwrite(fd, impl_->last_write_bytes.data(), keep, impl_->last_write_offset) > 0) {
        report.torn_bytes = static_cast<int64_t>(keep);
      }
      ::close(fd);
    }
  }
  impl_->undo.clear();
  impl_->last_write_path.clear();
  impl_->last_write_bytes.clear();
  return report;
}

void FaultVfs::PowerOff() {
  std::lock_guard guard(impl_->mu);
  impl_->powered_off = true;
}

void FaultVfs::PowerOn() {
  std::lock_guard guard(impl_->mu);
  impl_->powered_off = false;
  impl_->undo.clear();
}

void FaultVfs::HoldSyncs(unsigned kinds) {
  std::lock_guard guard(impl_->mu);
  impl_->hold_sync_kinds = kinds;
}

void FaultVfs::WaitForHeldSync() {
  std::unique_lock guard(impl_->mu);
  impl_->held_cv.wait(guard, [&] { return impl_->held_syncs > 0; });
}

void FaultVfs::ReleaseSyncs() {
  std::lock_guard guard(impl_->mu);
  impl_->hold_sync_kinds = 0;
  impl_->held_cv.notify_all();
}

int64_t FaultVfs::Syncs(unsigned kinds) const {
  std::lock_guard guard(impl_->mu);
  int64_t n = 0;
  for (unsigned kind : {kMainDb, kWal, kJournal, kOtherFile}) {
    if (kinds & kind) n += impl_->syncs[KindIndex(kind)];
  }
  return n;
}

int64_t FaultVfs::Faults() const {
  std::lock_guard guard(impl_->mu);
  return impl_->faults;
}

}  // namespace evs::testing
