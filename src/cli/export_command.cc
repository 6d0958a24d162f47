#include "cli/export_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/output.h"
#include "cli/progress.h"
#include "evs/event_store.h"
#include "store/sqlite_importer.h"

namespace evs::cli {
namespace {

// Events read from the source and handed to the importer at a time.
constexpr size_t kExportPage = 4096;
// Streams whose lifecycle is copied at a time.
constexpr size_t kExportStreamPage = 1000;

struct ExportArgs {
  std::string sqlite;
  bool quiet = false;
};

struct ExportSummary {
  int64_t events = 0;
  int64_t last_position = 0;
  int64_t streams = 0;
  int64_t lifecycles = 0;       // streams whose metadata or delete was copied
  int64_t partial_deletes = 0;  // soft deletes with events appended since: not carried
};

// The log, page by page, into the importer: positions, versions, ids, types, data, metadata
// and times exactly, scavenged markers included.
Status CopyLog(EventStore& source, store::SqliteImporter& importer, bool quiet,
               ExportSummary& summary) {
  auto head = source.HeadPosition();
  if (!head.ok()) return head.error();
  Progress progress("export", !quiet);
  int64_t after = 0;
  // Bounded by the head read at the start: events appended meanwhile are not exported.
  while (after < *head) {
    auto page = source.ReadLog(after, kExportPage);
    if (!page.ok()) return page.error();
    if (page->events.empty()) break;
    size_t keep = page->events.size();
    while (keep > 0 && page->events[keep - 1].position > *head) --keep;
    page->events.resize(keep);
    if (keep == 0) break;
    if (auto s = importer.Add(page->events); !s.ok()) return s;
    summary.events += static_cast<int64_t>(keep);
    after = page->events.back().position;
    progress.Update(after, *head);
  }
  progress.Finish();
  summary.last_position = after;
  return OkStatus();
}

// Each stream's metadata and deletes, as far as the public API can set them again.
Status CopyLifecycles(EventStore& source, EventStore& copy, ExportSummary& summary) {
  std::string after;
  for (;;) {
    auto page = copy.ListStreams(after, kExportStreamPage);
    if (!page.ok()) return page.error();
    for (const StreamInfo& info : page->streams) {
      ++summary.streams;
      auto lifecycle = source.GetStreamLifecycle(info.stream_id);
      if (!lifecycle.ok()) {
        if (lifecycle.error().code == ErrorCode::kNotFound ||
            lifecycle.error().code == ErrorCode::kUnsupported) {
          continue;
        }
        return lifecycle.error();
      }
      const StreamMetadata& m = lifecycle->metadata;
      bool copied = false;
      if (m.max_count || m.max_age_seconds || m.truncate_before || !m.custom.empty()) {
        if (auto s = copy.SetStreamMetadata(info.stream_id, m); !s.ok()) return s;
        copied = true;
      }
      if (lifecycle->hard_deleted || lifecycle->deleted_through > 0) {
        if (!lifecycle->hard_deleted && lifecycle->deleted_through != info.version) {
          ++summary.partial_deletes;
        } else {
          const DeleteMode mode = lifecycle->hard_deleted ? DeleteMode::kHard : DeleteMode::kSoft;
          if (auto s =
                  copy.DeleteStream(info.stream_id, mode, ExpectedVersion::Exact(info.version));
              !s.ok()) {
            return s;
          }
          copied = true;
        }
      }
      if (copied) ++summary.lifecycles;
    }
    if (page->next_after.empty()) return OkStatus();
    after = page->next_after;
  }
}

int RunExport(const GlobalOptions& global, const ExportArgs& args) {
  if (args.sqlite.empty()) return ReportInvalid(global, "--sqlite needs a file name");
  std::error_code ec;
  if (std::filesystem::exists(args.sqlite, ec)) {
    return ReportInvalid(global, "'" + args.sqlite +
                                     "' already exists; export writes a new file and never "
                                     "overwrites one");
  }
  const std::filesystem::path folder = std::filesystem::path(args.sqlite).parent_path();
  if (!folder.empty()) {
    std::filesystem::create_directories(folder, ec);
    if (ec) {
      return ReportError(
          global, Error::Make(ErrorCode::kIOError, "cannot create the folder '" + folder.string() +
                                                       "': " + ec.message()));
    }
  }
  auto source = OpenStore(global);
  if (!source.ok()) return ReportError(global, source.error());
  auto importer = store::SqliteImporter::Create(args.sqlite);
  if (!importer.ok()) return ReportError(global, importer.error());
  ExportSummary summary;
  if (auto s = CopyLog(**source, **importer, args.quiet || global.json, summary); !s.ok()) {
    return ReportError(global, s.error());
  }
  if (auto s = (*importer)->Finish(); !s.ok()) return ReportError(global, s.error());
  {
    SqliteStoreOptions options;
    options.path = args.sqlite;
    auto copy = OpenSqliteEventStore(options);
    if (!copy.ok()) return ReportError(global, copy.error());
    if (auto s = CopyLifecycles(**source, **copy, summary); !s.ok()) {
      return ReportError(global, s.error());
    }
  }
  if (global.json) {
    PrintJson({{"exported", args.sqlite},
               {"events", summary.events},
               {"last_position", summary.last_position},
               {"streams", summary.streams},
               {"lifecycles", summary.lifecycles},
               {"partial_deletes_not_copied", summary.partial_deletes}});
    return kExitOk;
  }
  std::cout << "exported " << summary.events << " events (positions 1.." << summary.last_position
            << ") of " << summary.streams << " streams into " << args.sqlite << "; "
            << summary.lifecycles << " streams' metadata or deletes copied\n";
  if (summary.partial_deletes > 0) {
    std::cerr << "evs: warning: streams deleted and appended to since: " << summary.partial_deletes
              << "; their deletes are not copied (the copy reads all their events)\n";
  }
  return kExitOk;
}

}  // namespace

void AddExportCommand(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* sub = app.add_subcommand(
      "export", "Copy the store into a new SQLite file (for the sqlite3 shell or another evs)");
  sub->add_option("--sqlite", args->sqlite,
                  "The SQLite file to write (must not exist); it opens with `evs --data DIR` "
                  "when named DIR/events.sqlite")
      ->required();
  sub->add_flag("-q,--quiet", args->quiet, "No progress on stderr");
  sub->footer(
      "Copies the global log (positions, versions, ids, types, data, metadata, times; scavenged "
      "events as their markers) as it is when the export starts, then each stream's metadata "
      "and deletes. Needs a store with a global log (not DynamoDB).");
  RunWhenSelected(sub, global, command, args, &RunExport);
}

}  // namespace evs::cli
