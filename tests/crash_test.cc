// Durability: a child process appends and reports each acknowledged append; it is killed with
// SIGKILL at a random moment. After reopening, every acknowledged event is there, and no commit
// is partly there.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "evs/event_store.h"
#include "temp_dir.h"

namespace evs {
namespace {

struct Ack {
  std::string stream;
  int64_t first_version, last_version, first_position, last_position;
  std::string commit;
};

// Runs the writer until its first acknowledgement and `run_ms` more (a slow machine still kills
// it mid-work, never before it has written), kills it, and returns what it acknowledged.
std::vector<Ack> RunAndKill(const std::string& db, int run_ms) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  pid_t child = fork();
  if (child == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(EVS_CRASH_WRITER, EVS_CRASH_WRITER, db.c_str(), "6", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string acked;
  std::mutex mutex;
  std::condition_variable first_line;
  bool acknowledged = false;
  std::thread reader([&] {
    char buffer[65536];
    ssize_t n;
    while ((n = read(out[0], buffer, sizeof buffer)) > 0) {
      std::lock_guard lock(mutex);
      acked.append(buffer, n);
      if (!acknowledged && acked.find('\n') != std::string::npos) {
        acknowledged = true;
        first_line.notify_one();
      }
    }
  });
  {
    std::unique_lock lock(mutex);
    first_line.wait_for(lock, std::chrono::seconds(60), [&] { return acknowledged; });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  reader.join();
  close(out[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself: " << status;

  std::vector<Ack> acks;
  std::istringstream lines(acked);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) break;  // a line cut by the kill was never fully reported
    std::istringstream fields(line);
    Ack a;
    std::string tag;
    fields >> tag >> a.stream >> a.first_version >> a.last_version >> a.first_position >>
        a.last_position >> a.commit;
    if (tag == "ack" && fields) acks.push_back(a);
  }
  return acks;
}

TEST(Crash, EveryAcknowledgedAppendSurvivesSigkillAndNoCommitIsTorn) {
  testing::TempDir dir;
  const std::string db = dir.File("events.sqlite");
  std::mt19937 random(12345);
  std::vector<Ack> all_acks;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    auto acks = RunAndKill(db, static_cast<int>(random() % 150));
    ASSERT_FALSE(acks.empty()) << "round " << round << ": the writer acknowledged nothing";
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());

    SqliteStoreOptions options;
    options.path = db;
    auto store = OpenSqliteEventStore(options);
    ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.error().message;
    std::map<int64_t, RecordedEvent> by_position;
    int64_t after = 0;
    for (;;) {
      auto page = (*store)->ReadLog(after, 5000);
      ASSERT_TRUE(page.ok()) << page.error().message;
      if (page->events.empty()) break;
      after = page->next_position;
      for (auto& e : page->events) by_position.emplace(e.position, std::move(e));
    }
    // Dense positions, dense versions per stream.
    std::map<std::string, int64_t> versions;
    int64_t expected_position = 1;
    std::map<std::string, std::pair<int, int>> commits;  // commit -> (seen, declared)
    for (const auto& [position, e] : by_position) {
      ASSERT_EQ(position, expected_position++) << "round " << round << ": a gap in positions";
      ASSERT_EQ(e.version, ++versions[e.stream_id]) << "round " << round << ": version gap";
      auto meta = nlohmann::json::parse(e.metadata);
      auto& c = commits[meta.at("commit").get<std::string>()];
      ++c.first;
      c.second = meta.at("count").get<int>();
    }
    for (const auto& [commit, counts] : commits) {
      ASSERT_EQ(counts.first, counts.second)
          << "round " << round << ": commit " << commit << " is partly there";
    }
    // Every acknowledged append, at the place it was acknowledged.
    for (const Ack& a : all_acks) {
      for (int64_t p = a.first_position; p <= a.last_position; ++p) {
        auto it = by_position.find(p);
        ASSERT_NE(it, by_position.end()) << "acknowledged position " << p << " was lost";
        EXPECT_EQ(it->second.stream_id, a.stream);
        EXPECT_EQ(it->second.version, a.first_version + (p - a.first_position));
        EXPECT_NE(it->second.metadata.find(a.commit), std::string::npos);
      }
    }
  }
  RecordProperty("acknowledged_appends", static_cast<int>(all_acks.size()));
}

}  // namespace
}  // namespace evs
