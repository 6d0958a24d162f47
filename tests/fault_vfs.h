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
  // With `make_default`, every SQLite connection of the process that names no VFS goes through
  // this one (the store's, the checkpoint store's, the read models'), until it is destroyed.
  explicit FaultVfs(bool make_default = false);
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

  // Power loss, in the manner of LevelDB's fault_injection_test: from TrackUnsynced() on, what
  // is written to a file is remembered until that file's next good sync. PowerLoss() puts every
  // file back as it was at its last good sync (as a machine that lost power finds its disk),
  // optionally keeping a torn prefix (whole 512-byte sectors) of the very last write, and from
  // then on every write, truncate, sync and delete fails (the machine is off: the process's
  // threads may still run, but nothing they do reaches the disk or is acknowledged) until
  // PowerOn(). Reads see the files as the power loss left them. The shared-memory index is not
  // tracked: SQLite rebuilds it from the WAL when the first connection opens again.
  void TrackUnsynced();
  struct PowerLossReport {
    int files_reverted = 0;
    int64_t bytes_lost = 0;  // bytes written since the last good syncs, now gone
    int64_t torn_bytes = 0;  // of the last write, kept
  };
  PowerLossReport PowerLoss(uint64_t seed, bool tear);
  // The first half of PowerLoss(): from now on every write, truncate, sync and delete fails,
  // but nothing is taken back yet. A test whose files go through several simulators (this VFS
  // and a FaultFileSystem) turns them all off before any of them reverts, so that no thread
  // acts on one simulator's reverted files while another's still take writes and syncs.
  void PowerOff();
  void PowerOn();

  // Syncs of files of `kinds` wait (having synced nothing yet) until ReleaseSyncs(), so that a
  // test can look at the store while a commit is written but not durable. WaitForHeldSync()
  // returns once a sync is waiting.
  void HoldSyncs(unsigned kinds);
  void WaitForHeldSync();
  void ReleaseSyncs();

  // xSync calls on files of `kinds` so far, failed ones included.
  int64_t Syncs(unsigned kinds = kAnyFile) const;
  // Faults injected so far (failed syncs, failed and short writes).
  int64_t Faults() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace evs::testing
