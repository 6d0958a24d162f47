#include "cli/replay_kinesis.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "aws/aws_client.h"
#include "aws/kinesis_replay.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "evs/archive.h"
#include "evs/file_system.h"
#include "evs/s3.h"

namespace evs::cli {
namespace {

using nlohmann::json;

// What a replay is, and how far it got.
struct ReplayState {
  std::string archive;
  std::string stream;
  int64_t from = 1;
  std::optional<int64_t> to;
  std::optional<int64_t> until_us;
  int64_t published_through = 0;
  bool done = false;

  bool SameRun(const ReplayState& other) const {
    return archive == other.archive && stream == other.stream && from == other.from &&
           to == other.to && until_us == other.until_us;
  }
  std::string Describe() const {
    std::string out =
        "--archive " + archive + " --to-kinesis " + stream + " --from " + std::to_string(from);
    if (to) out += " --to " + std::to_string(*to);
    if (until_us) out += " --until " + std::to_string(*until_us);
    return out;
  }
};

json ToJson(const ReplayState& s) {
  return {{"format", "evs-replay-state"},
          {"archive", s.archive},
          {"kinesis_stream", s.stream},
          {"from", s.from},
          {"to", s.to ? json(*s.to) : json(nullptr)},
          {"until_us", s.until_us ? json(*s.until_us) : json(nullptr)},
          {"published_through", s.published_through},
          {"done", s.done}};
}

// The state in `path`; nullopt when there is none; kCorruption when it is not a state file.
Result<std::optional<ReplayState>> LoadState(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<ReplayState>();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& what) {
    return Error::Make(ErrorCode::kCorruption, "the replay state " + path + " is not one (" + what +
                                                   "); delete it or pass --restart");
  };
  if (!in || j.is_discarded() || !j.is_object() || j.value("format", "") != "evs-replay-state") {
    return bad("not an evs-replay-state JSON document");
  }
  ReplayState s;
  try {
    s.archive = j.at("archive").get<std::string>();
    s.stream = j.at("kinesis_stream").get<std::string>();
    s.from = j.at("from").get<int64_t>();
    if (!j.at("to").is_null()) s.to = j.at("to").get<int64_t>();
    if (!j.at("until_us").is_null()) s.until_us = j.at("until_us").get<int64_t>();
    s.published_through = j.at("published_through").get<int64_t>();
    s.done = j.at("done").get<bool>();
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  return std::optional<ReplayState>(std::move(s));
}

// Writes the state durably: a temporary file, fsync, rename over the old one, fsync the folder.
Status SaveState(const std::string& path, const ReplayState& state) {
  const std::filesystem::path file(path);
  const std::string folder =
      file.has_parent_path() ? file.parent_path().string() : std::string(".");
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  const std::string temp = path + ".tmp";
  const std::string text = ToJson(state).dump() + "\n";
  auto fs = RealFileSystem();
  auto failed = [&](const char* what) {
    return Error::Make(ErrorCode::kIOError, std::string("cannot ") + what + " the replay state " +
                                                path + ": " + std::strerror(errno));
  };
  const int fd = fs->Open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return failed("create");
  if (WriteFully(*fs, fd, text.data(), text.size()) != 0 || fs->Fsync(fd) != 0) {
    fs->Close(fd);
    return failed("write");
  }
  if (fs->Close(fd) != 0) return failed("write");
  if (fs->Rename(temp.c_str(), path.c_str()) != 0) return failed("rename");
  if (SyncFolder(*fs, folder) != 0) return failed("sync the folder of");
  return OkStatus();
}

// <data>/replay-state/<stream>-<FNV-1a of archive and stream>.json
std::string DefaultStatePath(const GlobalOptions& global, const std::string& archive,
                             const std::string& stream) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : archive + "\n" + stream) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  std::string safe;
  for (char c : stream) safe += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return global.data_dir + "/replay-state/" + safe.substr(0, 64) + "-" + hex + ".json";
}

}  // namespace

int RunReplayToKinesis(const GlobalOptions& global, const ReplayToKinesisArgs& args) {
  if (args.from < 1) return ReportInvalid(global, "--from must be 1 or more");
  if (args.to && *args.to < args.from) return ReportInvalid(global, "--to is before --from");
  if (args.resume && args.restart) {
    return ReportInvalid(global, "--resume and --restart contradict each other");
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  if (args.location.empty()) {
    return ReportInvalid(global, "no archive given: pass --archive LOCATION or set EVS_ARCHIVE");
  }
  auto objects = OpenObjectStore(args.location);
  if (!objects.ok()) return ReportError(global, objects.error());
  auto reader = ArchiveReader::Open(**objects);
  if (!reader.ok()) return ReportError(global, reader.error());
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return ReportError(global, config.error());
  aws::AwsClient client(std::move(config).value(), aws::NewCurlTransport());

  ReplayState run;
  run.archive = (*objects)->Location();
  run.stream = args.stream;
  run.from = args.from;
  run.to = args.to;
  run.until_us = args.until_us;
  run.published_through = args.from - 1;
  const std::string state_path =
      args.state.empty() ? DefaultStatePath(global, run.archive, run.stream) : args.state;
  auto saved = LoadState(state_path);
  if (!saved.ok()) return ReportError(global, saved.error());
  if (args.resume && !*saved) {
    return ReportInvalid(global, "--resume: there is no replay state in " + state_path +
                                     " (run without --resume to start)");
  }
  if (*saved && !args.restart) {
    const ReplayState& before = **saved;
    if (before.SameRun(run)) {
      if (before.done) {
        std::string message = "replay to Kinesis stream " + run.stream +
                              " already finished (published through position " +
                              std::to_string(before.published_through) + ", state " + state_path +
                              "); pass --restart to replay again";
        if (global.json) {
          PrintJson({{"kinesis_stream", run.stream},
                     {"done", true},
                     {"events", 0},
                     {"published_through", before.published_through},
                     {"next_from", before.published_through + 1},
                     {"state", state_path}});
        } else {
          std::cout << message << "\n";
        }
        return kExitOk;
      }
      run.published_through = before.published_through;
    } else if (!before.done || args.resume) {
      return ReportInvalid(global, "the replay state " + state_path + " is of another replay (" +
                                       before.Describe() + ", published through position " +
                                       std::to_string(before.published_through) +
                                       "): rerun with those arguments to continue it, or pass "
                                       "--restart (or another --state) to start this one");
    }
  }
  const int64_t start = run.published_through + 1;
  const int64_t last = std::min(args.to.value_or(INT64_MAX), (*reader)->LastPosition());
  if (!args.quiet) {
    std::fprintf(stderr, "evs: replaying positions %lld..%lld of %s to Kinesis stream %s%s%s\n",
                 static_cast<long long>(start), static_cast<long long>(last), run.archive.c_str(),
                 run.stream.c_str(), start > args.from ? ", resuming after position " : "",
                 start > args.from ? std::to_string(start - 1).c_str() : "");
    std::fprintf(stderr, "evs: state in %s; SIGINT or SIGTERM stops after the current window\n",
                 state_path.c_str());
  }

  Progress progress("replay", !args.quiet);
  aws::KinesisReplayOptions options;
  options.sending.stream_name = args.stream;
  options.from = start;
  options.to = args.to.value_or(INT64_MAX);
  options.until_us = args.until_us;
  options.max_events = args.max_events;
  int stop_signal = 0;
  options.on_published = [&](int64_t through) -> Status {
    run.published_through = through;
    return SaveState(state_path, run);
  };
  options.stop_requested = [&] {
    const timespec zero{0, 0};
    const int signal = sigtimedwait(&signals, nullptr, &zero);
    if (signal == SIGINT || signal == SIGTERM) stop_signal = signal;
    return stop_signal != 0;
  };
  options.progress = [&](const ArchiveProgress& p) {
    progress.Update(p.position - start + 1, last - start + 1);
  };
  auto result = aws::ReplayToKinesis(client, **reader, options);
  if (!result.ok()) {
    std::string where = run.published_through >= start
                            ? "published through position " + std::to_string(run.published_through)
                            : "nothing published in this run";
    return ReportError(
        global, Error::Make(result.error().code, result.error().message + " (" + where +
                                                     "; rerun the same command to resume; state " +
                                                     state_path + ")"));
  }
  progress.Finish();
  run.done = result->done;
  if (run.done || !*saved) {
    if (Status s = SaveState(state_path, run); !s) return ReportError(global, s.error());
  }
  std::string stopped = result->stopped;
  if (stop_signal != 0) stopped = stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
  if (global.json) {
    PrintJson({{"kinesis_stream", run.stream},
               {"archive", run.archive},
               {"events", result->events},
               {"records", result->records},
               {"put_calls", result->put_calls},
               {"retried", result->retried},
               {"resumed_from", start},
               {"published_through", run.published_through},
               {"next_from", run.published_through + 1},
               {"done", run.done},
               {"stopped", stopped},
               {"state", state_path}});
  } else {
    std::cout << "replay to Kinesis stream " << run.stream << ": published " << result->events
              << " events in " << result->records << " records ("
              << (start > args.from ? "resumed at position " : "from position ") << start
              << ", published through " << run.published_through << ")\n";
    if (run.done) {
      std::cout << "finished: every event of the range is published\n";
    } else {
      std::cout << "stopped (" << stopped << ") after position " << run.published_through
                << "; rerun the same command (or add --resume) to continue from position "
                << run.published_through + 1 << "\n";
    }
  }
  return run.done ? kExitOk : kExitIncomplete;
}

}  // namespace evs::cli
