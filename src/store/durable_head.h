// The durable head of an embedded store, for the readers in other processes.
//
// SQLite makes a commit visible to every connection when it is written, before the store's
// fsync makes it durable. The owner's own reads are bounded by the head it publishes after each
// fsync; readers in other processes (consumer-group members, live tails) read the same bound
// from "<store>-head", which the owner rewrites after each fsync of the WAL, before it
// acknowledges the batch (when that write fails, as on a full disk, the head stays behind, which
// is safe, until the next batch writes it). Without it a reader could hand a subscriber a commit
// that a power loss then takes back: the subscriber would checkpoint past positions that the next
// commits reuse, and skip them.
//
// The file is 16 bytes: the position and its bitwise complement, little-endian, so that a torn
// read is detected. It is not fsynced: after a power loss it holds an older position, and a
// position only ever becomes durable before it is written there, so it never exceeds what is
// on disk. The owner writes it again when it opens the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "evs/file_system.h"
#include "evs/status.h"

namespace evs::store {

inline std::string DurableHeadPath(const std::string& store_path) { return store_path + "-head"; }

class DurableHeadWriter {
 public:
  // Opens (creates) the head file of the store at `store_path`.
  static Result<DurableHeadWriter> Open(FileSystem& fs, const std::string& store_path);
  DurableHeadWriter(DurableHeadWriter&& other) noexcept
      : fs_(other.fs_), fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
  }
  DurableHeadWriter& operator=(DurableHeadWriter&&) = delete;
  ~DurableHeadWriter();

  // Records that every position up to `position` is durable.
  Status Publish(int64_t position);

 private:
  DurableHeadWriter(FileSystem& fs, int fd, std::string path)
      : fs_(&fs), fd_(fd), path_(std::move(path)) {}
  FileSystem* fs_;
  int fd_;
  std::string path_;
};

// The head recorded for the store at `store_path`; nullopt when no head file exists (a store
// written by a release before it, or never opened by an owner since).
Result<std::optional<int64_t>> ReadDurableHead(FileSystem& fs, const std::string& store_path);

}  // namespace evs::store
