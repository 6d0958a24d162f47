#include "cli/lifecycle_commands.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "cli/output.h"
#include "cli/progress.h"
#include "evs/event_store.h"
#include "evs/postgres.h"
#include "http/auth.h"
#include "store/stream_lifecycle.h"

namespace evs::cli {
namespace {

// "90", "90s", "15m", "12h", "30d", "2w" in seconds; nullopt when it is none of these or not
// at least one second.
std::optional<int64_t> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  std::string_view number = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      unit = 0;
  }
  if (unit != 0) {
    number.remove_suffix(1);
  } else {
    unit = 1;
  }
  int64_t value = 0;
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error != std::errc() || end != number.data() + number.size() || value < 1 ||
      value > INT64_MAX / unit) {
    return std::nullopt;
  }
  return value * unit;
}

void PrintLifecycle(const GlobalOptions& global, const std::string& stream,
                    const StreamLifecycle& lifecycle) {
  const nlohmann::json json = store::LifecycleToJson(stream, lifecycle);
  if (global.json) {
    PrintJson(json);
    return;
  }
  std::cout << "stream '" << stream << "': version " << lifecycle.version << ", deleted "
            << json["deleted"].get<std::string>() << '\n';
  const StreamMetadata& m = lifecycle.metadata;
  auto line = [](const char* name, const std::optional<int64_t>& value) {
    std::cout << "  " << name << ": " << (value ? std::to_string(*value) : "-") << '\n';
  };
  line("max_count", m.max_count);
  line("max_age_seconds", m.max_age_seconds);
  line("truncate_before", m.truncate_before);
  std::cout << "  custom: " << (m.custom.empty() ? "-" : m.custom) << '\n';
}

// --- stream meta ----------------------------------------------------------------------------

struct MetaArgs {
  std::string stream;
  std::optional<int64_t> max_count;
  std::string max_age;
  std::optional<int64_t> truncate_before;
  std::optional<std::string> custom;
  bool clear = false;
};

int RunMeta(const GlobalOptions& global, const MetaArgs& args) {
  const bool changes =
      args.max_count || !args.max_age.empty() || args.truncate_before || args.custom || args.clear;
  std::optional<int64_t> max_age;
  if (!args.max_age.empty()) {
    max_age = ParseDuration(args.max_age);
    if (!max_age) {
      return ReportInvalid(global, "--max-age '" + args.max_age +
                                       "' is not a duration: a whole number of seconds of at "
                                       "least 1, or with s, m, h, d or w (90s, 12h, 30d)");
    }
  }
  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  if (changes) {
    StreamMetadata metadata;
    if (!args.clear) {
      auto current = (*store)->GetStreamLifecycle(args.stream);
      if (current.ok()) {
        metadata = current->metadata;
      } else if (current.error().code != ErrorCode::kNotFound) {
        return ReportError(global, current.error());
      }
    }
    if (args.max_count) metadata.max_count = *args.max_count;
    if (max_age) metadata.max_age_seconds = *max_age;
    if (args.truncate_before) metadata.truncate_before = *args.truncate_before;
    if (args.custom) metadata.custom = *args.custom;
    if (auto s = (*store)->SetStreamMetadata(args.stream, metadata); !s) {
      return ReportError(global, s.error());
    }
  }
  auto lifecycle = (*store)->GetStreamLifecycle(args.stream);
  if (!lifecycle) return ReportError(global, lifecycle.error());
  PrintLifecycle(global, args.stream, *lifecycle);
  return kExitOk;
}

// --- stream delete --------------------------------------------------------------------------

struct DeleteArgs {
  std::string stream;
  bool hard = false;
  std::string expected = "any";
};

int RunDelete(const GlobalOptions& global, const DeleteArgs& args) {
  std::optional<ExpectedVersion> expected = ExpectedVersion::Parse(args.expected);
  if (!expected) {
    return ReportInvalid(global, "--expected '" + args.expected +
                                     "' is not an expected version; use any, exists or a "
                                     "version number");
  }
  auto store = OpenStore(global);
  if (!store) return ReportError(global, store.error());
  const DeleteMode mode = args.hard ? DeleteMode::kHard : DeleteMode::kSoft;
  if (auto s = (*store)->DeleteStream(args.stream, mode, *expected); !s) {
    return ReportError(global, s.error());
  }
  if (global.json) {
    PrintJson({{"stream_id", args.stream}, {"deleted", args.hard ? "hard" : "soft"}});
  } else {
    std::cout << "stream '" << args.stream << "' deleted"
              << (args.hard ? " for good (a tombstone: it takes no more appends)"
                            : " (an append starts it again at its next version)")
              << '\n';
  }
  return kExitOk;
}

// --- scavenge -------------------------------------------------------------------------------

struct ScavengeArgs {
  std::string server;
  std::string token_file;
  size_t step = 100;
  bool compact = false;
};

void PrintScavenge(const GlobalOptions& global, const nlohmann::json& report) {
  if (global.json) {
    PrintJson(report);
    return;
  }
  std::cout << "scavenged " << report.value("events_scavenged", int64_t{0}) << " events in "
            << report.value("streams_total", int64_t{0}) << " streams; file "
            << report.value("file_bytes_before", int64_t{0}) << " -> "
            << report.value("file_bytes_after", int64_t{0}) << " bytes; writers waited at most "
            << report.value("longest_step_ms", 0.0) << " ms at a time\n";
  if (!report.value("file_shrinks", true) && IsPostgresUrl(global.store)) {
    std::cout << "PostgreSQL reuses the space (VACUUM) for new events; to give it back to the "
                 "file system, run `evs scavenge --compact` (VACUUM FULL: reads and appends wait "
                 "meanwhile)\n";
  } else if (!report.value("file_shrinks", true)) {
    std::cout << "this store was created before incremental vacuum: its free pages are reused by "
                 "new events; to give them back to the file system, stop evs serve and run "
                 "`evs scavenge --compact` once\n";
  }
}

int ScavengeHere(const GlobalOptions& global, const ScavengeArgs& args) {
  auto store = OpenStore(global);
  if (!store) {
    Error error = store.error();
    if (error.code == ErrorCode::kUnavailable) {
      error.message += "; to scavenge beside a running evs serve, use --server http://HOST:PORT";
    }
    return ReportError(global, error);
  }
  Progress progress("scavenge", !global.json);
  ScavengeOptions options;
  options.events_per_step = args.step;
  options.compact = args.compact;
  options.progress = [&](const ScavengeProgress& p) {
    progress.Update(p.streams_done, p.streams_total);
  };
  auto report = (*store)->Scavenge(options);
  progress.Finish();
  if (!report) return ReportError(global, report.error());
  PrintScavenge(global, {{"events_scavenged", report->events_scavenged},
                         {"streams_total", report->streams_examined},
                         {"file_bytes_before", report->file_bytes_before},
                         {"file_bytes_after", report->file_bytes_after},
                         {"file_shrinks", report->file_shrinks},
                         {"longest_step_ms", report->longest_step_ms},
                         {"seconds", report->seconds}});
  return kExitOk;
}

// Through a running server's POST /admin/scavenge, following its progress.
int ScavengeThroughServer(const GlobalOptions& global, const ScavengeArgs& args) {
  if (args.compact) {
    return ReportInvalid(global,
                         "--compact rewrites the whole file and needs the store to "
                         "itself: stop evs serve and run it without --server");
  }
  httplib::Client client(args.server);
  if (!client.is_valid()) {
    return ReportInvalid(global,
                         "--server '" + args.server + "' is not a URL like http://127.0.0.1:8080");
  }
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(30));
  httplib::Headers headers;
  if (!args.token_file.empty()) {
    auto token = http::ReadTokenFile(args.token_file);
    if (!token) return ReportError(global, token.error());
    headers.emplace("Authorization", "Bearer " + *token);
  }
  auto failed = [&](const std::string& what, const httplib::Result& result) {
    std::string message = what + " " + args.server + ": ";
    if (!result)
      return ReportError(global, Error::Make(ErrorCode::kUnavailable,
                                             message + httplib::to_string(result.error())));
    auto body = nlohmann::json::parse(result->body, nullptr, false);
    const std::string detail = body.is_object() ? body.value("detail", result->body) : result->body;
    return ReportError(
        global, Error::Make(result->status == 409 ? ErrorCode::kUnavailable : ErrorCode::kIOError,
                            message + "HTTP " + std::to_string(result->status) + ": " + detail));
  };
  auto started = client.Post("/admin/scavenge", headers);
  if (!started || started->status != 202) return failed("starting a scavenge on", started);
  Progress progress("scavenge", !global.json);
  // A scavenge of a large store takes minutes; the server answers each poll at once.
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto polled = client.Get("/admin/scavenge");
    if (!polled || polled->status != 200) return failed("following the scavenge on", polled);
    auto state = nlohmann::json::parse(polled->body, nullptr, false);
    if (!state.is_object()) {
      return ReportError(global, Error::Make(ErrorCode::kIOError,
                                             "the server answered GET /admin/scavenge with "
                                             "something that is not a JSON object"));
    }
    progress.Update(state.value("streams_done", int64_t{0}),
                    state.value("streams_total", int64_t{0}));
    const std::string s = state.value("state", "");
    if (s == "running") continue;
    progress.Finish();
    if (s != "done") {
      return ReportError(
          global, Error::Make(ErrorCode::kIOError,
                              "the scavenge failed on the server: " + state.value("error", s)));
    }
    PrintScavenge(global, state);
    return kExitOk;
  }
}

int RunScavenge(const GlobalOptions& global, const ScavengeArgs& args) {
  if (args.step < 1 || args.step > 100000) {
    return ReportInvalid(global,
                         "--step must be from 1 to 100000, got " + std::to_string(args.step));
  }
  return args.server.empty() ? ScavengeHere(global, args) : ScavengeThroughServer(global, args);
}

}  // namespace

void AddLifecycleCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  CLI::App* stream = app.add_subcommand("stream", "A stream's metadata and deletion");
  stream->require_subcommand(1);

  auto meta_args = std::make_shared<MetaArgs>();
  CLI::App* meta = stream->add_subcommand(
      "meta", "Show a stream's metadata, or change it: reads return only the events inside it");
  meta->add_option("stream", meta_args->stream, "The stream id")->required();
  meta->add_option("--max-count", meta_args->max_count, "Keep the last N events (N >= 1)");
  meta->add_option("--max-age", meta_args->max_age,
                   "Keep events recorded in the last DURATION (90s, 15m, 12h, 30d, 2w)");
  meta->add_option("--truncate-before", meta_args->truncate_before,
                   "Hide versions below V (V >= 1)");
  meta->add_option("--custom", meta_args->custom,
                   "The application's own metadata: a JSON object (replaces the last)");
  meta->add_flag("--clear", meta_args->clear,
                 "Start from no metadata, rather than change the stream's current one");
  meta->footer(
      "Events outside the metadata stay in the log (subscribers still get them) until "
      "`evs scavenge` reclaims their space.");
  RunWhenSelected(meta, global, command, meta_args, &RunMeta);

  auto delete_args = std::make_shared<DeleteArgs>();
  CLI::App* del = stream->add_subcommand(
      "delete", "Delete a stream: it reads as not found; --hard makes it a tombstone");
  del->add_option("stream", delete_args->stream, "The stream id")->required();
  del->add_flag("--hard", delete_args->hard,
                "For good: reads say deleted and every later append is refused");
  del->add_option("-e,--expected", delete_args->expected,
                  "The stream's expected version: any, exists or a version number")
      ->capture_default_str();
  RunWhenSelected(del, global, command, delete_args, &RunDelete);

  auto scavenge_args = std::make_shared<ScavengeArgs>();
  CLI::App* scavenge = app.add_subcommand(
      "scavenge",
      "Reclaim the space of truncated, expired and deleted events; appends go on meanwhile");
  scavenge->add_option("--server", scavenge_args->server,
                       "Scavenge the store of this running evs serve (http://HOST:PORT)");
  scavenge->add_option("--token-file", scavenge_args->token_file,
                       "With --server: the file of the server's bearer token");
  scavenge
      ->add_option("--step", scavenge_args->step,
                   "Events reclaimed per step: appends wait for at most one step")
      ->capture_default_str();
  scavenge->add_flag("--compact", scavenge_args->compact,
                     "Also rewrite a store created before incremental vacuum, so that its file "
                     "shrinks (writers wait meanwhile: run it with evs serve stopped); on "
                     "PostgreSQL, VACUUM FULL the events' table (reads and appends wait)");
  RunWhenSelected(scavenge, global, command, scavenge_args, &RunScavenge);
}

}  // namespace evs::cli
