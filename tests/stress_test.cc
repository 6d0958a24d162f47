// A randomized stress test in the manner of RocksDB's db_stress: a child process
// (stress_child.cc) appends, reads and follows the log from many threads while it is killed at
// a seeded random moment or a fault is injected at one (a failed fsync that loses the unsynced
// writes, a full disk, a short write). After every round the test opens the store itself and
// checks it against the oracle the child kept outside its process (stress_oracle.h): every
// stream at a version in [acknowledged, pending], every event as written, the global log dense
// with each stream's versions in order. Then the next round goes on from there.
//
// EVS_STRESS_ROUNDS (default 8) and EVS_STRESS_SEED (default: random, printed) set the campaign;
// scripts/stress runs long ones.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "evs_child.h"
#include "stress_engines.h"
#include "stress_oracle.h"
#include "temp_dir.h"

namespace evs::testing {
namespace {

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

// Everything the store holds, checked against the oracle. Returns the events in the log.
int64_t CheckStore(const std::string& engine, const std::string& dir, StressOracle& oracle) {
  auto opened = OpenStressStore(engine, dir, nullptr);
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
  if (!opened.ok()) return 0;
  EventStore& store = **opened;
  int64_t total = 0;
  std::vector<int64_t> versions(kStressStreams, 0);
  for (int s = 0; s < kStressStreams; ++s) {
    auto version = store.StreamVersion(StressStreamId(s));
    EXPECT_TRUE(version.ok());
    if (!version.ok()) return 0;
    StressSlot& slot = oracle.slot(s);
    EXPECT_GE(*version, slot.acked) << StressStreamId(s) << ": an acknowledged append was lost";
    EXPECT_LE(*version, slot.pending) << StressStreamId(s) << ": holds events never appended";
    versions[static_cast<size_t>(s)] = *version;
    total += *version;
    int64_t next = 1;
    for (int page_count = 0; next <= *version && page_count < 100000; ++page_count) {
      auto page = store.ReadStream(StressStreamId(s), {Direction::kForward, next, 1000});
      EXPECT_TRUE(page.ok()) << StressStreamId(s);
      if (!page.ok() || page->events.empty()) break;
      for (const RecordedEvent& e : page->events) {
        EXPECT_EQ(e.version, next) << StressStreamId(s);
        EXPECT_EQ(CheckStressEvent(e), "");
        next = e.version + 1;
      }
    }
    EXPECT_EQ(next, *version + 1) << StressStreamId(s) << ": stream reads end early";
  }
  std::vector<int64_t> seen(kStressStreams, 0);
  int64_t after = 0;
  for (int page_count = 0; page_count < 1000000; ++page_count) {
    auto page = store.ReadLog(after, 4096);
    EXPECT_TRUE(page.ok());
    if (!page.ok() || page->events.empty()) break;
    for (const RecordedEvent& e : page->events) {
      EXPECT_EQ(e.position, after + 1) << "a hole in the log";
      after = e.position;
      EXPECT_EQ(CheckStressEvent(e), "");
      auto s = StressStreamIndex(e.stream_id);
      if (!s) continue;
      int64_t& last = seen[static_cast<size_t>(*s)];
      EXPECT_EQ(e.version, last + 1) << e.stream_id << " out of order in the log";
      last = e.version;
    }
  }
  EXPECT_EQ(after, total) << "the log and the streams disagree";
  EXPECT_EQ(seen, versions);
  // The next round starts from what is there.
  for (int s = 0; s < kStressStreams; ++s) {
    oracle.slot(s).acked = versions[static_cast<size_t>(s)];
    oracle.slot(s).pending = versions[static_cast<size_t>(s)];
  }
  return total;
}

class Stress : public ::testing::TestWithParam<std::string> {};

TEST_P(Stress, KillsAndFaultsAtRandomMomentsLoseNothingAcknowledged) {
  const std::string engine = GetParam();
  const uint64_t rounds = EnvNumber("EVS_STRESS_ROUNDS", 8);
  const uint64_t seed = EnvNumber("EVS_STRESS_SEED", std::random_device{}());
  std::printf("stress (%s): %llu rounds, EVS_STRESS_SEED=%llu\n", engine.c_str(),
              static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(seed));
  TempDir dir;
  const std::string oracle_path = dir.File("oracle");
  StressOracle oracle;
  ASSERT_TRUE(oracle.Open(oracle_path));
  std::mt19937_64 random(seed);
  std::map<std::string, int> endings;
  int64_t events = 0;
  for (uint64_t round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", EVS_STRESS_SEED=" + std::to_string(seed));
    const char* faults[] = {"none", "none", "fsync", "disk-full", "short-write"};
    const std::string fault = faults[random() % 5];
    const int kill_after_ms = 50 + static_cast<int>(random() % 700);
    const int fault_after_ms = static_cast<int>(random() % 300);
    Child child({"--engine", engine, "--dir", dir.path(), "--oracle", oracle_path, "--seed",
                 std::to_string(random()), "--writers", std::to_string(1 + random() % 8),
                 "--readers", std::to_string(random() % 3), "--appends-per-writer", "3000",
                 "--fault", fault, "--fault-after-ms", std::to_string(fault_after_ms)});
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    if (!child.Exited()) kill(child.pid(), SIGKILL);  // only the child this test started
    auto status = child.WaitForExit();
    ASSERT_TRUE(status.has_value()) << "the child did not end\n" << child.Stderr();
    std::string ending;
    if (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) {
      ending = "killed";
    } else if (WIFEXITED(*status) && WEXITSTATUS(*status) == 10) {
      ending = "refused writes after the failed fsync";
    } else if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
      ending = "finished";
    } else {
      FAIL() << "fault " << fault << ": the child ended with status " << *status << "\n"
             << child.Stderr();
    }
    ++endings[ending + " (" + fault + ")"];
    events = CheckStore(engine, dir.path(), oracle);
    if (HasFailure()) return;
  }
  EXPECT_GT(events, 0) << "no round appended anything";
  std::printf("  %lld events in the log after %llu rounds\n", static_cast<long long>(events),
              static_cast<unsigned long long>(rounds));
  for (const auto& [ending, count] : endings) {
    std::printf("  %d x %s\n", count, ending.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, Stress, ::testing::ValuesIn(kStressEngines));

}  // namespace
}  // namespace evs::testing
