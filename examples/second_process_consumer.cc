// A consumer in a second process, following a store that the first process owns:
//
//   example_second_process_consumer [FOLDER]
//
// The first process (the owner) opens the embedded store, the only writer, and appends some
// events. It then starts this program again as the consumer, which opens the same file read-only
// (OpenSqliteEventStoreReader, beside the owner) and follows the log with a subscription: it
// catches up, says so, and goes on live while the owner appends more. The consumer writes each
// event it gets to its standard output, checks that positions come one after another, and exits
// once it has seen as many as it was told to expect. The owner reads those lines and checks them
// against its own log: every event, in order, nothing else. Every wait is bounded; either process
// exits non-zero on any mismatch or when a bound passes.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "evs/event_store.h"
#include "evs/subscription.h"
#include "work_folder.h"

extern char** environ;

namespace {

using std::chrono::steady_clock;
constexpr auto kBound = std::chrono::seconds(60);  // generous: the machine may be busy
constexpr int kEventsBefore = 30;                  // appended before the consumer starts
constexpr int kCommitsAfter = 20;                  // commits while it follows...
constexpr int kEventsPerCommit = 3;                // ...of this many events each
constexpr int kEvents = kEventsBefore + kCommitsAfter * kEventsPerCommit;

// "event <position> <stream> <version> <type>": one line per event, as both sides write it.
std::string Line(const evs::RecordedEvent& e) {
  return "event " + std::to_string(e.position) + " " + e.stream_id + " " +
         std::to_string(e.version) + " " + e.type;
}

// ---- The consumer (the second process) ----

// Writes each event to stdout and checks that positions come one after another.
class Printer : public evs::EventHandler {
 public:
  evs::Status Handle(std::span<const evs::RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    for (const evs::RecordedEvent& e : batch) {
      if (e.position != last_ + 1) {
        return evs::Error::Make(
            evs::ErrorCode::kCorruption,
            "position " + std::to_string(e.position) + " came after " + std::to_string(last_));
      }
      last_ = e.position;
      std::printf("%s\n", Line(e).c_str());
    }
    std::fflush(stdout);
    return evs::OkStatus();
  }

 private:
  std::mutex mu_;
  int64_t last_ = 0;
};

int Consume(const std::string& folder, int64_t expected) {
  auto store = evs::OpenSqliteEventStoreReader(folder + "/events.sqlite");
  auto checkpoints = evs::OpenSqliteCheckpointStore(folder + "/consumer.sqlite");
  if (!store.ok() || !checkpoints.ok()) {
    std::fprintf(stderr, "consumer: cannot open: %s\n",
                 (!store.ok() ? store.error() : checkpoints.error()).message.c_str());
    return 1;
  }
  Printer printer;
  evs::SubscriptionOptions options;
  options.name = "second-process";
  options.failure.on_exhausted = evs::FailurePolicy::OnExhausted::kStop;  // a gap is fatal here
  auto subscription = evs::Subscription::Start(**store, **checkpoints, printer, options);
  if (!subscription.ok()) {
    std::fprintf(stderr, "consumer: %s\n", subscription.error().message.c_str());
    return 1;
  }
  auto head = (*store)->HeadPosition();
  const bool caught_up = head.ok() && (*subscription)->WaitUntil(*head, kBound);
  std::printf("caught-up %lld\n", static_cast<long long>(head.ok() ? *head : -1));
  std::fflush(stdout);
  const bool all = caught_up && (*subscription)->WaitUntil(expected, kBound);
  const evs::SubscriptionStatus status = (*subscription)->GetStatus();
  subscription->reset();
  if (!all || status.checkpoint != expected) {
    std::fprintf(stderr, "consumer: got to position %lld of %lld: %s\n",
                 static_cast<long long>(status.checkpoint), static_cast<long long>(expected),
                 status.error.c_str());
    return 1;
  }
  return 0;
}

// ---- The owner (the first process) ----

// The consumer's stdout, read line by line, every read bounded by `deadline`.
class ConsumerOutput {
 public:
  ConsumerOutput(int fd, steady_clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  // The next line; false at the end of the output or when the deadline passed.
  bool Next(std::string& line) {
    for (;;) {
      if (size_t newline = buffer_.find('\n'); newline != std::string::npos) {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return true;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - steady_clock::now());
      pollfd ready{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  steady_clock::time_point deadline_;
  std::string buffer_;
};

// Starts this program as the consumer, its stdout into a pipe; the pid, or -1.
pid_t StartConsumer(const std::string& folder, int* read_fd) {
  int out[2];
  if (pipe(out) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string self = "/proc/self/exe";
  std::string mode = "--consume";
  std::string folder_arg = folder;
  std::string count = std::to_string(kEvents);
  char* args[] = {self.data(), mode.data(), folder_arg.data(), count.data(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, self.c_str(), &actions, nullptr, args, environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  *read_fd = out[0];
  return pid;
}

// Waits for the consumer to exit until `deadline`, then ends it; its exit status, or -1.
int WaitForExit(pid_t pid, steady_clock::time_point deadline) {
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (steady_clock::now() > deadline) {
      kill(pid, SIGKILL);  // only the child this program started
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(10000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool AppendCommit(evs::EventStore& store, int commit, int events) {
  std::vector<evs::EventData> batch;
  for (int i = 0; i < events; ++i) {
    batch.push_back({evs::Uuid{}, "Ticked", "{\"commit\":" + std::to_string(commit) + "}", "{}"});
  }
  return store.Append("clock-" + std::to_string(commit % 4), evs::ExpectedVersion::Any(), batch)
      .ok();
}

int Own(const std::string& path_argument) {
  example::WorkFolder folder(path_argument);
  example::Checks checks;
  if (!checks.Expect(folder.ok(), "a folder to work in")) return checks.ExitCode();
  evs::SqliteStoreOptions store_options;
  store_options.path = folder.File("events.sqlite");
  auto store = evs::OpenSqliteEventStore(store_options);
  if (!checks.Expect(store.ok(), "the store opens")) return checks.ExitCode();
  bool appended = true;
  for (int i = 0; i < kEventsBefore; ++i) appended = AppendCommit(**store, i, 1) && appended;
  checks.Expect(appended, "the first events are appended");
  std::printf("owner: appended %d events; starting the consumer\n", kEventsBefore);

  const auto deadline = steady_clock::now() + 2 * kBound;
  int read_fd = -1;
  const pid_t consumer = StartConsumer(folder.path(), &read_fd);
  if (!checks.Expect(consumer > 0, "the consumer starts")) return checks.ExitCode();
  ConsumerOutput output(read_fd, deadline);
  std::vector<std::string> seen;
  std::string line;
  while (output.Next(line) && line.rfind("caught-up", 0) != 0) seen.push_back(line);
  checks.Expect(line == "caught-up " + std::to_string(kEventsBefore), "the consumer caught up");
  std::printf("owner: the consumer caught up with %zu events; appending %d more commits\n",
              seen.size(), kCommitsAfter);
  for (int i = 0; i < kCommitsAfter; ++i) {
    appended = AppendCommit(**store, kEventsBefore + i, kEventsPerCommit) && appended;
  }
  checks.Expect(appended, "the later events are appended");
  while (output.Next(line)) seen.push_back(line);
  close(read_fd);
  const int exit_code = WaitForExit(consumer, deadline);
  checks.Expect(exit_code == 0, "the consumer exits cleanly (" + std::to_string(exit_code) + ")");

  // What the consumer saw is the owner's log, all of it, in order.
  auto log = (*store)->ReadLog(0, kEvents + 1);
  if (!checks.Expect(log.ok(), "the owner reads its log")) return checks.ExitCode();
  checks.Expect(seen.size() == log->events.size(),
                "the consumer saw " + std::to_string(seen.size()) + " of " +
                    std::to_string(log->events.size()) + " events");
  for (size_t i = 0; i < seen.size() && i < log->events.size(); ++i) {
    if (!checks.Expect(seen[i] == Line(log->events[i]),
                       "event " + std::to_string(i + 1) + ": the consumer saw '" + seen[i] + "'")) {
      break;
    }
  }
  std::printf("owner: the consumer saw all %zu events in order and exited with %d\n", seen.size(),
              exit_code);
  return checks.ExitCode();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--consume") {
    return Consume(argv[2], std::strtoll(argv[3], nullptr, 10));
  }
  return Own(argc > 1 ? argv[1] : "");
}
