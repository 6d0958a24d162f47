// A sqlite3 VFS for tests that forwards every call to SQLite's default VFS ("unix") and injects
// the faults a test plans: failed fsyncs, a full disk, short writes, optionally only on some
// kinds of file. A store opens through it with SqliteStoreOptions::vfs = vfs.name().
//
// Each FaultVfs registers under a name of its own ("evs-faults-<n>"), so tests that run at once
// do not share a plan. Every connection opened through it must be closed before it is destroyed.
// Thread-safe: the plan may be changed while connections use the VFS.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

namespace evs::testing {

// The kinds of file a fault applies to: a bit mask.
enum FileKind : unsigned {
  kMainDb = 1,
  kWal = 2,
  kJournal = 4,    // the rollback journal
  kOtherFile = 8,  // temporary files, super-journals
  kAnyFile = 15,
};

class FaultVfs {
 public:
  FaultVfs();
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  // The name to open databases with (sqlite3_open_v2's zVfs, SqliteStoreOptions::vfs).
  const std::string& name() const;

  // The next `count` xSync calls on files of `kinds` fail with SQLITE_IOERR_FSYNC and sync
  // nothing. With `lose_writes`, each such failure also takes back everything written to that
  // file (through any handle) since its last good sync, as a kernel may drop the dirty pages of
  // a failed writeback and read the old contents from disk from then on (PostgreSQL's
  // "fsyncgate"). Writes are tracked for that from this call on.
  void FailSyncs(int count, unsigned kinds = kAnyFile, bool lose_writes = false);

  // Writes to files of `kinds` may write `bytes` more in all. The write that crosses the budget
  // writes what fits and fails with SQLITE_FULL, which is how the unix VFS reports ENOSPC and
  // short writes; every later write fails the same way until Clear().
  void DiskFullAfter(int64_t bytes, unsigned kinds = kAnyFile);

  // The next `count` writes to files of `kinds` write only the first half of their bytes and
  // fail with `code`: SQLITE_FULL (how the unix VFS reports a short write) or
  // SQLITE_IOERR_WRITE (a device error).
  void ShortWrites(int count, int code = SQLITE_FULL, unsigned kinds = kAnyFile);

  // No more faults: the disk has space again and syncs succeed.
  void Clear();

  // xSync calls on files of `kinds` so far, failed ones included.
  int64_t Syncs(unsigned kinds = kAnyFile) const;
  // Faults injected so far (failed syncs, failed and short writes).
  int64_t Faults() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace evs::testing
