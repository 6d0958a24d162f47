// The log engine: an embedded store of its own, beside the SQLite one (event_store.h states the
// contract both keep). Every commit is one checksummed, length-prefixed record appended to
// preallocated segment files; one writer, one fsync per group of commits; recovery trusts only
// the records that check out. README.md ("The log engine") describes the file format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "evs/file_system.h"
#include "evs/status.h"

namespace evs {

// How OpenLogEventStore opens a log store. Only `folder` must be set.
struct LogStoreOptions {
  // The store's folder: created when missing (its parent must exist). It holds the segments
  // ("00000001.log", ...), a lock file and nothing a user should edit.
  std::string folder;
  Limits limits;  // checked on every append
  // Wait for fsync before acknowledging. Turning it off is only for tests and benchmarks that
  // measure something else; acknowledged appends may then be lost.
  bool durable = true;
  // The most appends that one group commit (one write, one fsync) takes from the queue.
  size_t max_batch_appends = 1024;
  // Idempotent retries with expected any/exists are recognised while the original events are
  // among this many most recent events of the log (exact-version retries always are).
  size_t recent_event_ids = 100000;
  // The size segments are preallocated to (zeros, fsynced), so that the fsync of a commit never
  // has to journal a change of the file's size. A commit larger than a segment gets a segment
  // of its own, grown to fit. At least 4096.
  uint64_t segment_bytes = uint64_t{64} << 20;
  // For tests: every file call the store makes (segments, the lock, folder fsyncs); tests inject
  // fsync failures, a full disk and short writes. Null: RealFileSystem().
  std::shared_ptr<FileSystem> file_system;
  // The clock that recorded times come from. Null: SystemClock().
  std::shared_ptr<Clock> clock;
};

// Opens (or creates) the log store in `options.folder`. Only one process may open a folder at a
// time; a second gets kUnavailable.
//
// Opening recovers: it reads the segments in order and keeps every record up to the first one
// that does not check out (a bad checksum, an impossible length, a position that does not follow
// on); that record and everything after it are a torn tail of commits that were never
// acknowledged, and are zeroed (durably) before the store takes appends.
//
// When the disk fails (as OpenSqliteEventStore):
// * A failed fsync fails every append not yet acknowledged (kIOError; after a reopen each such
//   commit is either wholly there or absent), and from then on the store refuses appends
//   (kUnavailable, "... fsync failure ...; reopen the store") until it is closed and opened
//   again. Reads go on meanwhile. Acknowledged events are never lost.
// * A full disk (ENOSPC, or a short write) fails the appends of that commit with kIOError
//   "disk full ..."; none of them is ever read back, and the store takes appends again as soon
//   as there is space, without a reopen.
// * Any other write error fails that commit and makes the store refuse appends until reopened.
//
// Stream metadata and deletes are kept (records of their own); Scavenge() rewrites sealed
// segments with the hidden events as markers (README.md, "The log engine").
// Readers in other processes open OpenLogEventStoreReader below.
Result<std::unique_ptr<EventStore>> OpenLogEventStore(const LogStoreOptions& options);

// A read-only view of the log store in `folder` for other processes, beside the one that owns it
// (consumer-group members, live tails): no lock; Append() and the other writes are kUnavailable;
// WaitForHead() is woken when the owner writes the folder. Like the owner's reads, it sees only
// what is durable: every read is bounded by the durable head the owner rewrites after each fsync
// ("<folder>/log-head"), and it checks the checksum of every record it reads to get there. A
// lifecycle change (metadata, a delete) shows once an append follows it. Reads go through
// `file_system` (null: RealFileSystem()). kNotFound when no owner has opened a store in `folder`.
Result<std::unique_ptr<EventStore>> OpenLogEventStoreReader(
    const std::string& folder, std::shared_ptr<FileSystem> file_system = nullptr);

}  // namespace evs
