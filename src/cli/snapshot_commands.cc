#include "cli/snapshot_commands.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/output.h"
#include "common/event_json.h"
#include "evs/snapshot.h"

namespace evs::cli {
namespace {

// Snapshots asked of the store at a time: states may be up to kMaxSnapshotBytes each.
constexpr size_t kSnapshotPageSize = 100;

// The snapshot store, or null when there is none yet (no file, no table): listing and dropping
// then have nothing to do, and neither creates one.
Result<std::unique_ptr<SnapshotStore>> OpenExisting(const GlobalOptions& global) {
  // Every store but DynamoDB keeps its snapshots in a SQLite file beside the data folder's store.
  if (DynamoDbTable(global).empty() &&
      !std::filesystem::exists(SnapshotPathFor(StorePath(global)))) {
    return std::unique_ptr<SnapshotStore>();
  }
  auto store = OpenSnapshotStore(global);
  if (!store.ok() && store.error().code == ErrorCode::kNotFound) {
    return std::unique_ptr<SnapshotStore>();  // the table of "dynamodb:TABLE" is not there
  }
  return store;
}

struct ListArgs {
  std::string prefix;
};

int RunList(const GlobalOptions& global, const ListArgs& args) {
  auto store = OpenExisting(global);
  if (!store.ok()) return ReportError(global, store.error());
  ListPrinter printer(global.json, "(no snapshots)");
  for (std::string after; *store != nullptr;) {
    auto page = (*store)->List(args.prefix, after, kSnapshotPageSize);
    if (!page.ok()) return ReportError(global, page.error());
    for (const Snapshot& s : *page) {
      if (printer.json()) {
        printer.AddJson({{"stream_id", s.stream_id},
                         {"version", s.version},
                         {"last_event_id", s.last_event_id.ToString()},
                         {"schema_version", s.schema_version},
                         {"state_bytes", s.state.size()},
                         {"taken_at", FormatTimestamp(s.taken_at_us)}});
      } else {
        printer.AddLine("stream=" + s.stream_id + " version=" + std::to_string(s.version) +
                        " schema_version=" + std::to_string(s.schema_version) +
                        " state_bytes=" + std::to_string(s.state.size()) +
                        " taken_at=" + FormatTimestamp(s.taken_at_us));
      }
    }
    if (page->size() < kSnapshotPageSize) break;
    after = page->back().stream_id;
  }
  printer.Finish();
  return kExitOk;
}

struct DropArgs {
  std::string stream;
  bool all = false;
};

int RunDrop(const GlobalOptions& global, const DropArgs& args) {
  if (args.stream.empty() && !args.all) {
    return ReportInvalid(global,
                         "give the stream whose snapshot to drop, or --all to drop every snapshot");
  }
  if (!args.stream.empty() && args.all) {
    return ReportInvalid(global, "give a stream or --all, not both");
  }
  auto store = OpenExisting(global);
  if (!store.ok()) return ReportError(global, store.error());
  int64_t dropped = 0;
  if (*store != nullptr) {
    auto result = (*store)->Drop(args.stream);
    if (!result.ok()) return ReportError(global, result.error());
    dropped = *result;
  }
  if (global.json) {
    nlohmann::json out = {{"dropped", dropped}};
    if (!args.stream.empty()) out["stream_id"] = args.stream;
    PrintJson(out);
  } else if (!args.stream.empty()) {
    std::cout << (dropped > 0 ? "dropped the snapshot of '" : "no snapshot of '") << args.stream
              << "'\n";
  } else {
    std::cout << "dropped " << dropped << (dropped == 1 ? " snapshot\n" : " snapshots\n");
  }
  return kExitOk;
}

}  // namespace

void AddSnapshotCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  CLI::App* snapshots = app.add_subcommand(
      "snapshots",
      "List or drop the snapshots of aggregates (a cache beside the store: dropping one only "
      "makes the next fetch read every event of its stream)");
  snapshots->require_subcommand(1);

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = snapshots->add_subcommand(
      "list", "List snapshots by stream id: version, schema version, state bytes, taken at");
  list->add_option("prefix", list_args->prefix, "Only streams whose id starts with this");
  RunWhenSelected(list, global, command, list_args, &RunList);

  auto drop_args = std::make_shared<DropArgs>();
  CLI::App* drop = snapshots->add_subcommand("drop", "Drop the snapshot of a stream, or all");
  drop->add_option("stream", drop_args->stream, "The stream whose snapshot to drop");
  drop->add_flag("--all", drop_args->all, "Drop every snapshot (when no stream is given)");
  RunWhenSelected(drop, global, command, drop_args, &RunDrop);
}

}  // namespace evs::cli
