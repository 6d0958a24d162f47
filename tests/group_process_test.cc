// A consumer group of 3 processes, each following the store's file through the read-only view
// while this process writes: every event handled exactly once, a stream by one member, in order.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "evs/event_store.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

struct Handled {
  int member;
  std::string stream;
  int64_t version;
};

std::map<int64_t, std::vector<Handled>> ReadOutputs(const testing::TempDir& dir, int members) {
  std::map<int64_t, std::vector<Handled>> by_position;
  for (int m = 0; m < members; ++m) {
    std::ifstream in(dir.File("member-" + std::to_string(m) + ".out"));
    int64_t position, version;
    std::string stream;
    while (in >> position >> stream >> version)
      by_position[position].push_back({m, stream, version});
  }
  return by_position;
}

TEST(GroupProcesses, ThreeMembersHandleEveryEventOnceWithPerStreamOrder) {
  testing::TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("events.sqlite");
  auto store = OpenSqliteEventStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      EventData e;
      e.type = "Tick";
      ASSERT_TRUE(
          (*store)->Append("stream-" + std::to_string(i % 12), ExpectedVersion::Any(), {e}).ok());
    }
  };
  append(60);  // history the members catch up on
  constexpr int kMembers = 3;
  std::vector<pid_t> pids;
  for (int m = 0; m < kMembers; ++m) {
    const std::string member = std::to_string(m);
    const std::string out = dir.File("member-" + member + ".out");
    const std::string db = options.path, feed = dir.File("feed.sqlite");
    pid_t pid = fork();
    if (pid == 0) {
      execl(EVS_GROUP_MEMBER, EVS_GROUP_MEMBER, db.c_str(), feed.c_str(), member.c_str(), "3",
            out.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  append(90);  // live, while the members run
  const int64_t head = *(*store)->HeadPosition();
  std::map<int64_t, std::vector<Handled>> handled;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       std::chrono::steady_clock::now() < deadline;) {
    handled = ReadOutputs(dir, kMembers);
    if (static_cast<int64_t>(handled.size()) == head) break;
    std::this_thread::sleep_for(20ms);
  }
  for (pid_t pid : pids) {
    kill(pid, SIGTERM);  // only the members this test started
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  handled = ReadOutputs(dir, kMembers);
  ASSERT_EQ(static_cast<int64_t>(handled.size()), head);
  std::map<std::string, int> owner;
  std::map<std::string, int64_t> last_version;
  for (const auto& [position, list] : handled) {
    ASSERT_EQ(list.size(), 1u) << "position " << position << " handled " << list.size() << " times";
    const Handled& h = list[0];
    auto [it, inserted] = owner.emplace(h.stream, h.member);
    EXPECT_EQ(it->second, h.member) << h.stream << " split across members";
    EXPECT_EQ(h.version, last_version[h.stream] + 1) << h.stream << " out of order";
    last_version[h.stream] = h.version;
  }
  std::set<int> members_used;
  for (const auto& [stream, member] : owner) members_used.insert(member);
  EXPECT_GT(members_used.size(), 1u) << "the streams should spread over the members";
}

}  // namespace
}  // namespace evs
