#include "cli/store_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/follow.h"
#include "cli/output.h"
#include "common/event_json.h"
#include "evs/event_store.h"
#include "evs/expected_version.h"
#include "evs/uuid.h"

namespace evs::cli {
namespace {

// Items asked of the store at a time when a command pages through a list.
constexpr size_t kPageSize = 1000;

// --limit: absent means "everything".
size_t Remaining(std::optional<int64_t> limit) {
  return limit ? static_cast<size_t>(*limit) : std::numeric_limits<size_t>::max();
}

// The problem with --limit and --from, if any. CLI11's own range checks print doubles.
std::optional<std::string> PagingProblem(std::optional<int64_t> limit,
                                         std::optional<int64_t> from) {
  if (limit && *limit < 1) return "--limit must be at least 1, got " + std::to_string(*limit);
  if (from && *from < 0) return "--from must be 0 or more, got " + std::to_string(*from);
  return std::nullopt;
}

// "is not valid JSON" with nlohmann's account of where, or nothing when `text` is valid.
std::optional<std::string> JsonProblem(const std::string& text) {
  try {
    [[maybe_unused]] nlohmann::json parsed = nlohmann::json::parse(text);
    return std::nullopt;
  } catch (const nlohmann::json::parse_error& e) {
    // Drops the "[json.exception.parse_error.101] " prefix.
    std::string message = e.what();
    if (size_t end = message.find("] ");
        message.starts_with("[json.") && end != std::string::npos) {
      message.erase(0, end + 2);
    }
    return message;
  }
}

// --- append ---------------------------------------------------------------------------------

struct AppendArgs {
  std::string stream;
  std::string type;
  std::string data;
  std::string metadata = "{}";
  std::string id;
  std::string expected = "any";
};

int RunAppend(const GlobalOptions& global, const AppendArgs& args) {
  std::optional<ExpectedVersion> expected = ExpectedVersion::Parse(args.expected);
  if (!expected) {
    return ReportInvalid(global, "--expected '" + args.expected +
                                     "' is not an expected version; use any, no-stream, exists "
                                     "or a version number (0 or more)");
  }
  EventData event;
  if (!args.id.empty()) {
    std::optional<Uuid> id = Uuid::Parse(args.id);
    if (!id) return ReportInvalid(global, "--id '" + args.id + "' is not a UUID");
    event.id = *id;
  }
  if (auto problem = JsonProblem(args.data)) {
    return ReportInvalid(global, "--data is not valid JSON: " + *problem);
  }
  if (auto problem = JsonProblem(args.metadata)) {
    return ReportInvalid(global, "--metadata is not valid JSON: " + *problem);
  }
  event.type = args.type;
  event.data = args.data;
  event.metadata = args.metadata;

  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  std::vector<EventData> events;
  events.push_back(std::move(event));
  auto result = (*store)->Append(args.stream, *expected, std::move(events));
  if (!result) return ReportError(global, result.error());
  if (global.json) {
    PrintJson({{"first_version", result->first_version},
               {"last_version", result->last_version},
               {"first_position", result->first_position},
               {"last_position", result->last_position}});
  } else {
    std::cout << "appended to stream '" << args.stream
              << "': first_version=" << result->first_version
              << " last_version=" << result->last_version
              << " first_position=" << result->first_position
              << " last_position=" << result->last_position << '\n';
  }
  return kExitOk;
}

// --- streams --------------------------------------------------------------------------------

struct StreamsArgs {
  std::string after;
  std::optional<int64_t> limit;
};

int RunStreams(const GlobalOptions& global, const StreamsArgs& args) {
  if (auto problem = PagingProblem(args.limit, std::nullopt))
    return ReportInvalid(global, *problem);
  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  ListPrinter printer(global.json, "(no streams)");
  std::string after = args.after;
  for (size_t remaining = Remaining(args.limit); remaining > 0;) {
    auto page = (*store)->ListStreams(after, std::min(remaining, kPageSize));
    if (!page) return ReportError(global, page.error());
    for (const StreamInfo& stream : page->streams) {
      if (printer.json()) {
        printer.AddJson({{"stream_id", stream.stream_id}, {"version", stream.version}});
      } else {
        printer.AddLine("stream=" + stream.stream_id +
                        " version=" + std::to_string(stream.version));
      }
    }
    remaining -= std::min(remaining, page->streams.size());
    if (page->next_after.empty() || page->streams.empty()) break;
    after = page->next_after;
  }
  printer.Finish();
  return kExitOk;
}

// --- read -----------------------------------------------------------------------------------

void PrintEvent(ListPrinter& printer, const RecordedEvent& event, bool with_stream) {
  if (printer.json()) {
    printer.AddJson(EventToJson(event));
  } else {
    printer.AddLine(EventLine(event, with_stream));
  }
}

struct ReadArgs {
  std::string stream;
  std::optional<int64_t> from;
  bool backward = false;
  std::optional<int64_t> limit;
};

int RunRead(const GlobalOptions& global, const ReadArgs& args) {
  if (auto problem = PagingProblem(args.limit, args.from)) return ReportInvalid(global, *problem);
  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  ReadStreamOptions options;
  options.direction = args.backward ? Direction::kBackward : Direction::kForward;
  options.from = args.from.value_or(args.backward ? 0 : 1);
  ListPrinter printer(global.json, "(no events)");
  for (size_t remaining = Remaining(args.limit); remaining > 0;) {
    options.limit = std::min(remaining, kPageSize);
    auto page = (*store)->ReadStream(args.stream, options);
    if (!page) return ReportError(global, page.error());
    for (const RecordedEvent& event : page->events) PrintEvent(printer, event, false);
    remaining -= std::min(remaining, page->events.size());
    if (page->end_of_stream || page->events.empty()) break;
    const int64_t last = page->events.back().version;
    if (args.backward) {
      if (last <= 1) break;  // 0 would mean "from the end" again
      options.from = last - 1;
    } else {
      options.from = last + 1;
    }
  }
  printer.Finish();
  return kExitOk;
}

// --- log ------------------------------------------------------------------------------------

struct LogArgs {
  std::optional<int64_t> from;
  std::optional<int64_t> limit;
  bool follow = false;
};

int RunLog(const GlobalOptions& global, const LogArgs& args) {
  if (auto problem = PagingProblem(args.limit, args.from)) return ReportInvalid(global, *problem);
  if (args.follow) {
    if (args.limit) return ReportInvalid(global, "--follow and --limit do not go together");
    return FollowLog(global, args.from.value_or(0));
  }
  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  ListPrinter printer(global.json, "(no events)");
  int64_t after = args.from.value_or(0);
  for (size_t remaining = Remaining(args.limit); remaining > 0;) {
    auto page = (*store)->ReadLog(after, std::min(remaining, kPageSize));
    if (!page) return ReportError(global, page.error());
    for (const RecordedEvent& event : page->events) PrintEvent(printer, event, true);
    remaining -= std::min(remaining, page->events.size());
    if (page->events.empty() || page->next_position >= page->head_position) break;
    after = page->next_position;
  }
  printer.Finish();
  return kExitOk;
}

}  // namespace

void AddStoreCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto append_args = std::make_shared<AppendArgs>();
  CLI::App* append = app.add_subcommand(
      "append", "Append one event to a stream and print its versions and positions");
  append->footer(
      "After `append`, --data is the event's data: give the data folder before the command "
      "(evs --data DIR append ...), as --data-dir, or in EVS_DATA.");
  append->add_option("stream", append_args->stream, "The stream id")->required();
  append->add_option("-t,--type", append_args->type, "The event type name")->required();
  append->add_option("--data", append_args->data, "The event data (JSON)")->required();
  append->add_option("--metadata", append_args->metadata, "The event metadata (JSON)")
      ->capture_default_str();
  append->add_option("--id", append_args->id,
                     "The event id (a UUID; default: a random one). Resending an append with the "
                     "same id is an idempotent retry");
  append
      ->add_option("-e,--expected", append_args->expected,
                   "The stream's expected version: any, no-stream, exists or a version number")
      ->capture_default_str();
  RunWhenSelected(append, global, command, append_args, &RunAppend);

  auto streams_args = std::make_shared<StreamsArgs>();
  CLI::App* streams = app.add_subcommand("streams", "List streams and their versions, by id");
  streams->add_option("--after", streams_args->after, "Only streams with an id after this one");
  streams->add_option("-n,--limit", streams_args->limit,
                      "At most this many streams (default: all)");
  RunWhenSelected(streams, global, command, streams_args, &RunStreams);

  auto read_args = std::make_shared<ReadArgs>();
  CLI::App* read = app.add_subcommand("read", "Print the events of one stream");
  read->add_option("stream", read_args->stream, "The stream id")->required();
  read->add_option("--from", read_args->from,
                   "Forward: the first version to print (default 1). Backward: the highest "
                   "version to print (default: the last)");
  read->add_flag("-b,--backward", read_args->backward, "Newest first");
  read->add_option("-n,--limit", read_args->limit, "At most this many events (default: all)");
  RunWhenSelected(read, global, command, read_args, &RunRead);

  auto log_args = std::make_shared<LogArgs>();
  CLI::App* log = app.add_subcommand("log", "Print the global log in commit order");
  log->add_option("--from", log_args->from, "Print the events after this position (default 0)");
  log->add_option("-n,--limit", log_args->limit, "At most this many events (default: all)");
  log->add_flag("-f,--follow", log_args->follow,
                "Keep printing new events as they are committed (also beside a running evs serve; "
                "with --json, one JSON object per line)");
  RunWhenSelected(log, global, command, log_args, &RunLog);
}

}  // namespace evs::cli
