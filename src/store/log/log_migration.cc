#include "store/log/log_migration.h"

#include <set>
#include <string>
#include <vector>

#include "evs/log_store.h"
#include "store/log/log_importer.h"
#include "store/sqlite.h"

namespace evs::store::log {
namespace {

// Events read from the source (and from the copy, to check it) at a time.
constexpr size_t kMigrationPage = 4096;
// Streams listed at a time.
constexpr size_t kMigrationStreamPage = 1000;

void Report(const std::function<void(const char*, int64_t, int64_t)>& progress, const char* step,
            int64_t done, int64_t total) {
  if (progress) progress(step, done, total);
}

bool SameEvent(const RecordedEvent& a, const RecordedEvent& b) {
  return a.position == b.position && a.stream_id == b.stream_id && a.version == b.version &&
         a.id == b.id && a.type == b.type && a.data == b.data && a.metadata == b.metadata &&
         a.recorded_at_us == b.recorded_at_us;
}

bool SameLifecycle(const StreamLifecycle& a, const StreamLifecycle& b) {
  return a.version == b.version && a.deleted_through == b.deleted_through &&
         a.hard_deleted == b.hard_deleted && a.metadata.max_count == b.metadata.max_count &&
         a.metadata.max_age_seconds == b.metadata.max_age_seconds &&
         a.metadata.truncate_before == b.metadata.truncate_before &&
         a.metadata.custom == b.metadata.custom;
}

Error Differs(const std::string& folder, const std::string& what) {
  return Error::Make(ErrorCode::kCorruption,
                     "the copy in " + folder + " differs from the store it was copied from: " +
                         what + "; the store is unchanged, the copy is left for inspection");
}

// Streams with metadata or deletes, which ListStreams leaves out when they have no events (or
// are deleted).
Status AddStreamsWithLifecycles(const std::string& sqlite_path, std::set<std::string>& streams) {
  auto db = Database::Open(sqlite_path, /*read_only=*/true);
  if (!db) return db.error();
  // A store that no release with lifecycles opened has no stream_meta table.
  auto has_meta = db->Prepare("SELECT 1 FROM sqlite_master WHERE name = 'stream_meta'");
  if (!has_meta) return has_meta.error();
  if (has_meta->Step() != SQLITE_ROW) return OkStatus();
  has_meta->Reset();
  auto list = db->Prepare(
      "SELECT s.stream_id FROM stream_meta m JOIN streams s ON s.stream_no = m.stream_no");
  if (!list) return list.error();
  int rc;
  while ((rc = list->Step()) == SQLITE_ROW) streams.insert(std::string(list->Text(0)));
  Error error = list->LastError("listing the streams with metadata");
  list->Reset();
  if (rc != SQLITE_DONE) return error;
  return OkStatus();
}

// Every stream ListStreams knows.
Status AddListedStreams(EventStore& source, std::set<std::string>& streams) {
  std::string after;
  for (;;) {
    auto page = source.ListStreams(after, kMigrationStreamPage);
    if (!page.ok()) return page.error();
    for (StreamInfo& info : page->streams) streams.insert(std::move(info.stream_id));
    if (page->next_after.empty()) return OkStatus();
    after = page->next_after;
  }
}

// The lifecycle of `stream` in `store`; nothing set for a stream the store does not know.
Result<StreamLifecycle> LifecycleOf(EventStore& store, const std::string& stream) {
  auto lifecycle = store.GetStreamLifecycle(stream);
  if (!lifecycle.ok() && lifecycle.error().code == ErrorCode::kNotFound) {
    return StreamLifecycle{};
  }
  return lifecycle;
}

Status CheckCopy(EventStore& source, EventStore& copy, const std::string& folder, int64_t head,
                 const std::set<std::string>& streams,
                 const std::function<void(const char*, int64_t, int64_t)>& progress) {
  auto copy_head = copy.HeadPosition();
  if (!copy_head.ok()) return copy_head.error();
  if (*copy_head != head) {
    return Differs(folder, "its head is position " + std::to_string(*copy_head) + ", not " +
                               std::to_string(head));
  }
  // Bounded by the head: each page moves `after` on or ends the loop.
  for (int64_t after = 0; after < head;) {
    auto theirs = source.ReadLog(after, kMigrationPage);
    if (!theirs.ok()) return theirs.error();
    auto ours = copy.ReadLog(after, kMigrationPage);
    if (!ours.ok()) return ours.error();
    if (theirs->events.empty()) break;
    if (ours->events.size() != theirs->events.size()) {
      return Differs(folder, "its log after position " + std::to_string(after) + " reads " +
                                 std::to_string(ours->events.size()) + " events, not " +
                                 std::to_string(theirs->events.size()));
    }
    for (size_t i = 0; i < ours->events.size(); ++i) {
      if (!SameEvent(ours->events[i], theirs->events[i])) {
        return Differs(folder, "the event at position " +
                                   std::to_string(theirs->events[i].position) + " is not the same");
      }
    }
    after = theirs->events.back().position;
    Report(progress, "check", after, head);
  }
  for (const std::string& stream : streams) {
    auto theirs = LifecycleOf(source, stream);
    if (!theirs.ok()) return theirs.error();
    auto ours = LifecycleOf(copy, stream);
    if (!ours.ok()) return ours.error();
    if (!SameLifecycle(*ours, *theirs)) {
      return Differs(folder, "stream '" + stream + "' has another version, metadata or delete");
    }
  }
  return OkStatus();
}

}  // namespace

Result<MigrationReport> MigrateSqliteIntoLog(
    const std::string& sqlite_path, const std::string& folder, uint64_t segment_bytes,
    const std::function<void(const char* step, int64_t done, int64_t total)>& progress) {
  SqliteStoreOptions source_options;
  source_options.path = sqlite_path;
  auto opened = OpenSqliteEventStore(source_options);
  if (!opened.ok()) return opened.error();
  EventStore& source = **opened;
  auto head = source.HeadPosition();
  if (!head.ok()) return head.error();
  auto importer = LogImporter::Create(folder, segment_bytes);
  if (!importer.ok()) return importer.error();
  MigrationReport report;
  std::set<std::string> streams;
  // Bounded by the head: each page moves `after` on or ends the loop.
  for (int64_t after = 0; after < *head;) {
    auto page = source.ReadLog(after, kMigrationPage);
    if (!page.ok()) return page.error();
    if (page->events.empty()) break;
    for (const RecordedEvent& e : page->events) streams.insert(e.stream_id);
    if (auto s = (*importer)->Add(page->events); !s) return s.error();
    report.events += static_cast<int64_t>(page->events.size());
    after = page->events.back().position;
    Report(progress, "copy", after, *head);
  }
  report.last_position = report.events;
  if (report.last_position != *head) {
    return Error::Make(ErrorCode::kCorruption,
                       "the store's log ends at position " + std::to_string(report.last_position) +
                           " but its head is " + std::to_string(*head) + "; nothing was migrated");
  }
  if (auto s = AddListedStreams(source, streams); !s) return s.error();
  if (auto s = AddStreamsWithLifecycles(sqlite_path, streams); !s) return s.error();
  report.streams = static_cast<int64_t>(streams.size());
  for (const std::string& stream : streams) {
    auto lifecycle = LifecycleOf(source, stream);
    if (!lifecycle.ok()) return lifecycle.error();
    const StreamMetadata& m = lifecycle->metadata;
    if (m.max_count || m.max_age_seconds || m.truncate_before || !m.custom.empty() ||
        lifecycle->deleted_through > 0 || lifecycle->hard_deleted) {
      ++report.lifecycles;
    }
    if (auto s = (*importer)->SetLifecycle(stream, *lifecycle); !s) return s.error();
  }
  if (auto s = (*importer)->Finish(); !s) return s.error();
  importer->reset();

  LogStoreOptions options;
  options.folder = folder;
  options.segment_bytes = segment_bytes;
  auto copy = OpenLogEventStore(options);
  if (!copy.ok()) return copy.error();
  if (auto s = CheckCopy(source, **copy, folder, *head, streams, progress); !s) return s.error();
  return report;
}

}  // namespace evs::store::log
