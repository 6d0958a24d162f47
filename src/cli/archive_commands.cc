#include "cli/archive_commands.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>

#include "cli/feed_commands.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/replay_kinesis.h"
#include "common/event_json.h"
#include "evs/archive.h"
#include "evs/log_store.h"
#include "evs/projection.h"
#include "evs/s3.h"
#include "evs/verify.h"

namespace evs::cli {

void AddSegmentOptions(CLI::App* app, SegmentArgs& args) {
  app->add_option("--segment-events", args.events, "Cut a segment at this many events")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app->add_option("--segment-bytes", args.bytes,
                  "Cut a segment at this many bytes of JSON lines (before compression; at most "
                  "1 GiB)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  app->add_option("--segment-age", args.age_seconds,
                  "Cut a segment when its first event has waited this many seconds")
      ->check(CLI::Range(0.001, 3.0e8))
      ->capture_default_str();
  app->add_option("--level", args.level, "zstd compression level, 1 (fastest) to 19 (smallest)")
      ->check(CLI::Range(1, 19))
      ->capture_default_str();
}

ArchiverOptions ToArchiverOptions(const SegmentArgs& args) {
  ArchiverOptions options;
  options.segment_max_events = args.events;
  options.segment_max_bytes = args.bytes;
  options.segment_max_age =
      std::chrono::milliseconds(static_cast<int64_t>(args.age_seconds * 1000));
  options.compression_level = args.level;
  return options;
}

namespace {

constexpr const char* kArchiveHelp =
    "The archive: a folder, or s3://bucket/prefix (also from EVS_ARCHIVE)";

Result<std::unique_ptr<ObjectStore>> OpenArchive(const std::string& location) {
  if (location.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "no archive given: pass --archive LOCATION or set EVS_ARCHIVE");
  }
  return OpenObjectStore(location);
}

// --- archive --------------------------------------------------------------------------------

struct ArchiveArgs {
  std::string location;
  bool once = false;
  bool quiet = false;
  SegmentArgs segments;
};

int PrintArchiveSummary(const GlobalOptions& global, int64_t archived_up_to, int64_t segments,
                        uint64_t bytes) {
  if (global.json) {
    PrintJson({{"archived_up_to", archived_up_to},
               {"segments_written", segments},
               {"bytes_written", bytes}});
  } else {
    std::cout << "archived up to position " << archived_up_to << " (" << segments
              << " segments written, " << bytes << " bytes)\n";
  }
  return kExitOk;
}

int RunArchiveOnce(const GlobalOptions& global, const ArchiveArgs& args, EventStore& store,
                   ObjectStore& objects) {
  Progress progress("archive", !args.quiet);
  auto stats =
      ArchiveOnce(store, objects, ToArchiverOptions(args.segments),
                  [&](const ArchiveProgress& p) { progress.Update(p.position, p.target); });
  if (!stats.ok()) return ReportError(global, stats.error());
  progress.Finish();
  return PrintArchiveSummary(global, stats->archived_up_to, stats->segments_written,
                             stats->bytes_written);
}

int RunArchiveFollow(const GlobalOptions& global, const ArchiveArgs& args, EventStore& store,
                     ObjectStore& objects, const sigset_t& signals) {
  auto runner = ArchiveRunner::Start(store, objects, ToArchiverOptions(args.segments));
  if (!runner.ok()) return ReportError(global, runner.error());
  std::fprintf(stderr, "evs: archiving %s into %s until SIGINT or SIGTERM\n",
               global.data_dir.c_str(), objects.Location().c_str());
  int64_t shown = -1;
  std::string shown_error;
  for (;;) {
    const timespec second{1, 0};
    const int signal = sigtimedwait(&signals, nullptr, &second);
    const ArchiveRunnerStatus status = (*runner)->GetStatus();
    if (!args.quiet && status.archiver.archived_up_to != shown) {
      shown = status.archiver.archived_up_to;
      std::fprintf(stderr, "archive: archived up to %lld of %lld (%lld segments written)\n",
                   static_cast<long long>(shown), static_cast<long long>(status.head),
                   static_cast<long long>(status.archiver.segments_written));
    }
    if (status.error != shown_error) {
      shown_error = status.error;
      if (!shown_error.empty())
        std::fprintf(stderr, "archive: retrying: %s\n", shown_error.c_str());
    }
    if (signal == SIGINT || signal == SIGTERM) break;
  }
  std::fprintf(stderr, "evs: stopping; writing the open segment\n");
  if (auto s = (*runner)->Stop(); !s) return ReportError(global, s.error());
  const ArchiveRunnerStatus status = (*runner)->GetStatus();
  return PrintArchiveSummary(global, status.archiver.archived_up_to,
                             status.archiver.segments_written, status.archiver.bytes_written);
}

int RunArchive(const GlobalOptions& global, const ArchiveArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (!args.once) pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  auto objects = OpenArchive(args.location);
  if (!objects.ok()) return ReportError(global, objects.error());
  // The archive takes only durable events, so it reads through the store's owner: the store must
  // not be open in another process (run `evs serve --archive` there instead).
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, store.error());
  return args.once ? RunArchiveOnce(global, args, **store, **objects)
                   : RunArchiveFollow(global, args, **store, **objects, signals);
}

int RunArchiveStatus(const GlobalOptions& global, const ArchiveArgs& args) {
  auto objects = OpenArchive(args.location);
  if (!objects.ok()) return ReportError(global, objects.error());
  auto reader = ArchiveReader::Open(**objects);
  if (!reader.ok()) return ReportError(global, reader.error());
  uint64_t bytes = 0;
  for (const SegmentInfo& s : (*reader)->Segments()) bytes += s.size;
  const int64_t archived = (*reader)->LastPosition();
  std::optional<int64_t> head;
  auto store = OpenStoreForReading(global);
  if (!store.ok()) return ReportError(global, store.error());
  if (*store) {
    auto h = (*store)->HeadPosition();
    if (!h.ok()) return ReportError(global, h.error());
    head = *h;
  }
  const auto segments = static_cast<int64_t>((*reader)->Segments().size());
  if (global.json) {
    nlohmann::json out = {{"archive", (*objects)->Location()},
                          {"archived_up_to", archived},
                          {"segments", segments},
                          {"bytes", bytes}};
    if (head) {
      out["head"] = *head;
      out["lag"] = std::max<int64_t>(0, *head - archived);
    }
    PrintJson(out);
  } else {
    std::cout << "archive " << (*objects)->Location() << "\n  archived up to " << archived
              << "\n  segments " << segments << "\n  bytes " << bytes << "\n";
    if (head) {
      std::cout << "  head " << *head << "\n  lag " << std::max<int64_t>(0, *head - archived)
                << " events\n";
    } else {
      std::cout << "  no store in " << global.data_dir << "\n";
    }
  }
  return kExitOk;
}

// --- verify ---------------------------------------------------------------------------------

struct VerifyArgs {
  std::string location;
  bool quiet = false;
};

int RunVerify(const GlobalOptions& global, const VerifyArgs& args) {
  auto store = OpenStoreForReading(global);
  if (!store.ok()) return ReportError(global, store.error());
  std::unique_ptr<ObjectStore> objects;
  if (!args.location.empty()) {
    auto opened = OpenArchive(args.location);
    if (!opened.ok()) return ReportError(global, opened.error());
    objects = std::move(opened).value();
  }
  if (!*store && !objects) {
    return ReportInvalid(global, "nothing to verify: no store in " + global.data_dir +
                                     " and no archive given (--archive or EVS_ARCHIVE)");
  }
  Progress progress("verify", !args.quiet);
  VerifyOptions options;
  options.progress = [&](const ArchiveProgress& p) { progress.Update(p.position, p.target); };
  auto report = Verify(store->get(), objects.get(), options);
  if (!report.ok()) return ReportError(global, report.error());
  progress.Finish();
  const VerifyReport& r = *report;
  if (global.json) {
    nlohmann::json out = {{"ok", r.ok()},
                          {"problem_count", r.problem_count},
                          {"problems", r.problems},
                          {"compared_events", r.compared_events}};
    if (*store) out["store"] = {{"events", r.store_events}, {"streams", r.store_streams}};
    if (objects) {
      out["archive"] = {{"location", objects->Location()},
                        {"segments", r.archive_segments},
                        {"events", r.archive_events},
                        {"feed", r.feed_archive}};
    }
    PrintJson(out);
  } else {
    if (*store) {
      std::cout << "store " << (IsLogStore(global) ? LogStoreFolder(global) : StorePath(global))
                << ": " << r.store_events << " events in " << r.store_streams << " streams\n";
    }
    if (objects) {
      std::cout << "archive " << objects->Location() << ": " << r.archive_segments << " segments, "
                << r.archive_events << " events\n";
    }
    if (r.feed_archive) {
      std::cout << "the archive is a Kinesis feed's (numbered in arrival order): checked on its "
                   "own, each stream once and in order\n";
    } else if (*store && objects) {
      std::cout << "compared " << r.compared_events << " events held by both\n";
    }
    for (const std::string& problem : r.problems) std::cout << "PROBLEM: " << problem << "\n";
    if (r.problem_count > static_cast<int64_t>(r.problems.size())) {
      std::cout << "... and " << r.problem_count - static_cast<int64_t>(r.problems.size())
                << " more problems\n";
    }
    std::cout << (r.ok()
                      ? "verify: OK\n"
                      : "verify: FAILED with " + std::to_string(r.problem_count) + " problems\n");
  }
  return r.ok() ? kExitOk : kExitError;
}

// --- replay ---------------------------------------------------------------------------------

struct ReplayArgs {
  std::string location;
  int64_t from = 1;
  std::optional<int64_t> to;
  std::string until;
  bool print = false;
  std::string into;
  std::string restore;
  std::string to_kinesis;
  std::string state;
  bool resume = false;
  bool restart = false;
  int64_t max_events = 0;
  bool quiet = false;
};

int PrintReplaySummary(const GlobalOptions& global, const std::string& what,
                       const ReplayResult& result, bool to_stderr) {
  if (global.json && !to_stderr) {
    PrintJson({{"replayed", what},
               {"events", result.events},
               {"first_position", result.first_position},
               {"last_position", result.last_position},
               {"segments", result.segments},
               {"bytes", result.bytes}});
    return kExitOk;
  }
  std::string line = what + ": " + std::to_string(result.events) + " events";
  if (result.events > 0) {
    line += " (positions " + std::to_string(result.first_position) + ".." +
            std::to_string(result.last_position) + ")";
  }
  line += " from " + std::to_string(result.segments) + " segments\n";
  (to_stderr ? std::cerr : std::cout) << line;
  return kExitOk;
}

int RunReplay(const GlobalOptions& global, const ReplayArgs& args) {
  ReplayOptions options;
  options.from = args.from;
  if (args.to) options.to = *args.to;
  if (args.from < 1) return ReportInvalid(global, "--from must be 1 or more");
  if (args.to && *args.to < args.from) return ReportInvalid(global, "--to is before --from");
  if (!args.until.empty()) {
    options.until_us = ParseTimestamp(args.until);
    if (!options.until_us) {
      return ReportInvalid(global, "--until '" + args.until +
                                       "' is not a time; use e.g. 2026-11-26T10:00:00Z, "
                                       "2026-11-26T10:00:00.5+01:00 or microseconds since "
                                       "the epoch");
    }
  }
  const bool kinesis_only =
      !args.state.empty() || args.resume || args.restart || args.max_events != 0;
  if (kinesis_only && args.to_kinesis.empty()) {
    return ReportInvalid(global,
                         "--state, --resume, --restart and --max-events go with --to-kinesis");
  }
  if (!args.to_kinesis.empty()) {
    ReplayToKinesisArgs kinesis;
    kinesis.location = args.location;
    kinesis.stream = args.to_kinesis;
    kinesis.from = args.from;
    kinesis.to = args.to;
    kinesis.until_us = options.until_us;
    kinesis.state = args.state;
    kinesis.resume = args.resume;
    kinesis.restart = args.restart;
    kinesis.max_events = args.max_events;
    kinesis.quiet = args.quiet;
    return RunReplayToKinesis(global, kinesis);
  }
  auto objects = OpenArchive(args.location);
  if (!objects.ok()) return ReportError(global, objects.error());
  auto reader = ArchiveReader::Open(**objects);
  if (!reader.ok()) return ReportError(global, reader.error());
  const int64_t last = std::min(options.to, (*reader)->LastPosition());
  Progress progress(args.print ? "replay" : (args.restore.empty() ? "replay" : "restore"),
                    !args.quiet);
  options.progress = [&](const ArchiveProgress& p) {
    progress.Update(p.position - options.from + 1, last - options.from + 1);
  };

  if (args.print) {
    JsonLinesHandler handler(/*flush=*/false);
    auto result = (*reader)->Replay(options, handler);
    if (!result.ok()) return ReportError(global, result.error());
    progress.Finish();
    return PrintReplaySummary(global, "replay", *result, /*to_stderr=*/true);
  }
  if (!args.restore.empty()) {
    std::error_code ec;
    const std::filesystem::path dir(args.restore);
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
      return ReportInvalid(global,
                           "--restore needs an empty folder; '" + args.restore + "' is not empty");
    }
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return ReportError(global, Error::Make(ErrorCode::kIOError, "cannot create '" + args.restore +
                                                                      "': " + ec.message()));
    }
    // With --store log, into the log engine's folder of the new data folder.
    auto result =
        IsLogStore(global)
            ? RestoreLogEventStore(**reader, options, (dir / "log").string())
            : RestoreSqliteEventStore(**reader, options, (dir / "events.sqlite").string());
    if (!result.ok()) return ReportError(global, result.error());
    progress.Finish();
    return PrintReplaySummary(global, "restored into " + args.restore, *result, false);
  }
  if (options.from != 1) {
    return ReportInvalid(global, "--into rebuilds a read model from the start: --from must be 1");
  }
  auto opened = OpenProjection(global, args.into);
  if (!opened.ok()) return ReportError(global, opened.error());
  ProjectionRunner* runner = opened->runner.get();
  std::optional<ReplayResult> replayed;
  Status s = runner->RebuildFrom([&](EventHandler& handler) -> Status {
    auto result = (*reader)->Replay(options, handler);
    if (!result.ok()) return result.error();
    replayed = *result;
    return OkStatus();
  });
  runner->Stop();
  if (!s.ok()) return ReportError(global, s.error());
  progress.Finish();
  return PrintReplaySummary(global, "replayed into " + args.into, *replayed, false);
}

}  // namespace

void AddArchiveCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto archive_args = std::make_shared<ArchiveArgs>();
  CLI::App* archive = app.add_subcommand(
      "archive",
      "Archive the log into compressed segments, until SIGINT or SIGTERM (or --once); "
      "`archive status` shows how far it got");
  archive->add_option("--archive", archive_args->location, kArchiveHelp)->envname("EVS_ARCHIVE");
  archive->add_flag("--once", archive_args->once,
                    "Archive what the log holds now (the last segment may be short) and exit");
  archive->add_flag("-q,--quiet", archive_args->quiet, "No progress on stderr");
  AddSegmentOptions(archive, archive_args->segments);
  CLI::App* status =
      archive->add_subcommand("status", "Show the archive: archived up to, lag, segments, bytes");
  status->fallthrough();
  archive->callback([&global, &command, archive_args, status] {
    const GlobalOptions* g = &global;
    if (status->parsed()) {
      command = [g, archive_args] { return RunArchiveStatus(*g, *archive_args); };
    } else {
      command = [g, archive_args] { return RunArchive(*g, *archive_args); };
    }
  });

  auto verify_args = std::make_shared<VerifyArgs>();
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check the store (dense positions and versions) and the archive (checksums, continuity, "
      "agreement with the store); exit 1 on any problem");
  verify->add_option("--archive", verify_args->location, kArchiveHelp)->envname("EVS_ARCHIVE");
  verify->add_flag("-q,--quiet", verify_args->quiet, "No progress on stderr");
  RunWhenSelected(verify, global, command, verify_args, &RunVerify);

  auto replay_args = std::make_shared<ReplayArgs>();
  CLI::App* replay = app.add_subcommand(
      "replay",
      "Replay archived events, checked segment by segment: print them, rebuild a projection, "
      "restore a store, or re-publish them to Kinesis for downstream consumers");
  replay->add_option("--archive", replay_args->location, kArchiveHelp)
      ->envname("EVS_ARCHIVE")
      ->required();
  replay->add_option("--from", replay_args->from, "The first position")->capture_default_str();
  replay->add_option("--to", replay_args->to, "The last position (default: the archive's end)");
  replay->add_option("--until", replay_args->until,
                     "Stop before the first event recorded after this time (RFC 3339, e.g. "
                     "2026-11-26T10:00:00Z, or microseconds since the epoch)");
  auto* mode = replay->add_option_group("mode", "What to do with the events (one of)");
  mode->add_flag("--print", replay_args->print, "Write the events to stdout as JSON lines");
  mode->add_option("--into", replay_args->into,
                   "Rebuild this projection (cart_summary) from the archive and swap it in; the "
                   "store must not be open elsewhere");
  mode->add_option("--restore", replay_args->restore,
                   "Rebuild the event store in this empty folder, identical to the original "
                   "(same ids, versions, positions and times): the SQLite store, or with "
                   "--store log the log engine");
  mode->add_option(
      "--to-kinesis", replay_args->to_kinesis,
      "Publish the events to this Kinesis stream in the change-capture relay's record format "
      "(marked \"replay\": true, with each event's position), partition key = the stream id, "
      "per-stream order kept; resumable (see --state): SIGINT or SIGTERM stops after the current "
      "window (exit 4); settings from AWS_* variables");
  mode->require_option(1);
  replay->add_option("--state", replay_args->state,
                     "--to-kinesis: the file keeping how far the replay got (default "
                     "<data>/replay-state/<stream>-<hash of archive and stream>.json). Rerunning "
                     "the same command continues after the last fully published position; "
                     "other --from/--to/--until while it is unfinished are refused, and a "
                     "finished replay is not repeated (see --restart)");
  replay->add_flag("--resume", replay_args->resume,
                   "--to-kinesis: continue the replay of the state file; an error when there is "
                   "none");
  replay->add_flag("--restart", replay_args->restart,
                   "--to-kinesis: ignore the state file and start at --from (it is replaced)");
  replay
      ->add_option("--max-events", replay_args->max_events,
                   "--to-kinesis: stop after this many events (exit 4; rerun to continue)")
      ->check(CLI::PositiveNumber);
  replay->add_flag("-q,--quiet", replay_args->quiet, "No progress on stderr");
  RunWhenSelected(replay, global, command, replay_args, &RunReplay);
}

}  // namespace evs::cli
