// Bulk import of recorded events into a new embedded store, keeping their positions, versions,
// ids and times: the restore path of the archive. Not for live stores: it writes a file that no
// store has open, and the store appears at its path only when Finish() succeeds.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "evs/event.h"
#include "evs/file_system.h"
#include "evs/status.h"

namespace evs::store {

class SqliteImporter {
 public:
  // Starts a new store for `path`. kInvalidArgument when something already exists at `path`
  // (an importer never overwrites); kIOError when its folder cannot be written. The events go
  // to a temporary file beside `path` ("<path>.importing"), replaced if left over.
  // Every call outside SQLite goes through `fs`, which must outlive the importer.
  static Result<std::unique_ptr<SqliteImporter>> Create(const std::string& path,
                                                        FileSystem& fs = *RealFileSystem());
  virtual ~SqliteImporter() = default;  // without Finish(): removes the temporary file

  // Adds events in position order: the first import must start at position 1 and each event
  // follow the one before (position + 1), each stream's versions dense from 1; anything else is
  // kInvalidArgument naming the event. Stream ids, event ids, types, data, metadata and times
  // are kept exactly.
  virtual Status Add(std::span<const RecordedEvent> events) = 0;

  // Commits, fsyncs, moves the file to `path` and fsyncs the folder. The result opens with
  // OpenSqliteEventStore like any store.
  virtual Status Finish() = 0;
};

}  // namespace evs::store
