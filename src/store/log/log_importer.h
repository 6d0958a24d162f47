// Bulk import of recorded events into a new log store, keeping their positions, versions, ids
// and times: the restore path of the archive into the log engine, and `evs migrate` from the
// SQLite store. Not for live stores: it writes a folder that no store has open, and the store
// appears at its path only when Finish() succeeds.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/file_system.h"
#include "evs/status.h"

namespace evs::store::log {

class LogImporter {
 public:
  // Starts a new log store for `folder`. kInvalidArgument when something already exists there
  // (an importer never overwrites); kIOError when its parent cannot be written. The segments go
  // to a temporary folder beside it ("<folder>.importing"), replaced if left over. Segments are
  // preallocated to `segment_bytes` as the store makes them (LogStoreOptions). Every file call
  // goes through `fs`, which must outlive the importer.
  static Result<std::unique_ptr<LogImporter>> Create(const std::string& folder,
                                                     uint64_t segment_bytes = uint64_t{64} << 20,
                                                     FileSystem& fs = *RealFileSystem());
  virtual ~LogImporter() = default;  // without Finish(): removes the temporary folder

  // Adds events in position order: the first import must start at position 1 and each event
  // follow the one before (position + 1), each stream's versions dense from 1; anything else is
  // kInvalidArgument naming the event. Stream ids, event ids, types, data, metadata and times
  // are kept exactly. Consecutive events of one stream recorded at the same time become one
  // commit record, as the store wrote them.
  virtual Status Add(std::span<const RecordedEvent> events) = 0;

  // Records a stream's metadata and deletes as they are, after the events added so far: once per
  // stream, normally after all events. A lifecycle with nothing set records nothing.
  // kInvalidArgument (and nothing written; the import goes on) when `lifecycle.version` is not
  // the version the import has for the stream.
  virtual Status SetLifecycle(std::string_view stream_id, const StreamLifecycle& lifecycle) = 0;

  // Writes what is buffered, fsyncs the segments, moves the folder to its name and fsyncs the
  // parent. The result opens with OpenLogEventStore like any log store (its indexes are built on
  // that first open).
  virtual Status Finish() = 0;
};

}  // namespace evs::store::log
