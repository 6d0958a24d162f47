// `evs serve --archive` as a child process, killed with SIGKILL by its PID while clients append
// and its archiver cuts small segments, then restarted, round after round. After every crash the
// archive is still one run of segments from position 1; a restart removes what an interrupted
// put left behind; and at the end, after a clean SIGTERM, the archive holds exactly the store's
// log (evs::Verify compares every event) and every acknowledged append is there.
#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/uuid.h"
#include "evs/verify.h"
#include "evs_child.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Child;
using testing::Clock;
using testing::NewClient;
using testing::Reply;
using testing::ToReply;
using namespace std::chrono_literals;

constexpr int kRounds = 10;
constexpr int kClients = 4;
constexpr std::string_view kTempPrefix = ".evs-tmp-";

// One append the server answered 201 to.
struct Ack {
  std::string stream;
  std::vector<Uuid> ids;
  int64_t first_position = 0;
  int64_t last_position = 0;
};

// Every file under `root` whose name marks an interrupted put.
std::set<std::string> TempFiles(const std::string& root) {
  std::set<std::string> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().starts_with(kTempPrefix)) {
      found.insert(it->path().string());
    }
  }
  return found;
}

// Whether the folder holds a temporary file right now (one readdir, no recursion: cheap enough
// to poll).
bool FolderHoldsTempFile(const std::string& folder) {
  DIR* dir = opendir(folder.c_str());
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = readdir(dir)) {
    if (std::string_view(entry->d_name).starts_with(kTempPrefix)) {
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

std::unique_ptr<Child> StartArchivingServer(const std::string& data, const std::string& archive,
                                            int& port) {
  auto child = std::make_unique<Child>(std::vector<std::string>{
      "--data", data, "serve", "--quiet", "--listen", "127.0.0.1:0", "--archive", archive,
      "--segment-events", "40", "--segment-bytes", "4096", "--segment-age", "0.05"});
  port = child->WaitForPort(data);
  EXPECT_GT(port, 0) << "no 'evs: serving' line\n" << child->Stderr();
  return child;
}

// Polls /healthz, bounded.
bool WaitHealthy(int port) {
  auto client = NewClient(port);
  const auto deadline = Clock::now() + testing::kStartTimeout;
  while (Clock::now() < deadline) {
    if (ToReply(client->Get("/healthz")).status == 200) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// `evs archive status --json`, run beside the server (it reads the store without its lock).
std::optional<json> ArchiveStatus(const std::string& data, const std::string& archive) {
  Child status({"--data", data, "--json", "archive", "status", "--archive", archive});
  auto exit = status.WaitForExit();
  if (!exit || !WIFEXITED(*exit) || WEXITSTATUS(*exit) != 0) {
    ADD_FAILURE() << "evs archive status failed\n" << status.Stderr();
    return std::nullopt;
  }
  json parsed = json::parse(status.Stdout(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << status.Stdout();
    return std::nullopt;
  }
  return parsed;
}

std::unique_ptr<ObjectStore> OpenArchiveFolder(const std::string& path) {
  DirectoryObjectStoreOptions options;
  options.path = path;
  options.create_if_missing = false;
  auto objects = OpenDirectoryObjectStore(options);
  EXPECT_TRUE(objects.ok()) << objects.error().message;
  return objects.ok() ? std::move(objects).value() : nullptr;
}

// Appends to the client's own stream until the server goes away, `stop` is set or the bound
// passes; records every acknowledged append.
void AppendUntilGone(int port, int round, int client_index, uint32_t seed,
                     const std::atomic<bool>& stop, std::vector<Ack>& acks,
                     std::atomic<int>& unexpected, std::string& unexpected_body) {
  auto client = NewClient(port);
  std::mt19937 rng(seed);
  const std::string stream = "archived-" + std::to_string(client_index);
  const auto deadline = Clock::now() + 30s;
  for (int n = 0; !stop && Clock::now() < deadline; ++n) {
    Ack ack;
    ack.stream = stream;
    json body = json::array();
    const int count = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < count; ++i) {
      ack.ids.push_back(Uuid::Random());
      body.push_back({{"id", ack.ids.back().ToString()},
                      {"type", "Noted"},
                      {"data", {{"round", round}, {"client", client_index}, {"n", n}, {"i", i}}}});
    }
    Reply reply = ToReply(client->Post("/streams/" + stream, body.dump(), "application/json"));
    if (reply.status == 201) {
      json answer = reply.Json();
      ack.first_position = answer.value("first_position", int64_t{0});
      ack.last_position = answer.value("position", int64_t{0});
      acks.push_back(std::move(ack));
    } else if (reply.status == -1) {
      return;  // killed: refused, reset or closed
    } else {
      if (unexpected++ == 0) unexpected_body = std::to_string(reply.status) + " " + reply.body;
      return;
    }
  }
}

TEST(ArchiveProcess, ArchiverKilledMidSegmentAndRestartedKeepsContinuityAndLosesNothing) {
  testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.File("data");
  const std::string archive = dir.File("archive");
  const std::string segments_folder = archive + "/segments";

  const uint32_t seed = std::random_device{}();
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937 rng(seed);

  std::vector<Ack> acks;
  std::set<std::string> leftovers;  // temporary files the last kill left behind
  int rounds_with_leftovers = 0;
  int kills_aimed_at_a_put = 0;
  int64_t archived_before = 0;  // segments are never removed: the archive only grows

  // Checks right after a start: the new archiver removed what the last kill left behind (it
  // does so before the server binds), and `archive status` reads the archive as one run while
  // the archiver writes, never ahead of the log.
  auto check_after_start = [&](int port) {
    ASSERT_TRUE(WaitHealthy(port));
    for (const std::string& path : leftovers) {
      EXPECT_FALSE(fs::exists(path)) << "left by the killed archiver, still there: " << path;
    }
    auto status = ArchiveStatus(data, archive);
    ASSERT_TRUE(status.has_value());
    const int64_t archived_up_to = status->value("archived_up_to", int64_t{-1});
    EXPECT_GE(archived_up_to, archived_before) << status->dump();
    EXPECT_LE(archived_up_to, status->value("head", int64_t{-1})) << status->dump();
  };

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " + std::to_string(seed));
    int port = 0;
    auto server = StartArchivingServer(data, archive, port);
    ASSERT_GT(port, 0);
    check_after_start(port);
    if (::testing::Test::HasFatalFailure()) return;

    std::atomic<bool> stop{false};
    std::atomic<int> unexpected{0};
    std::string unexpected_body;
    std::vector<std::vector<Ack>> client_acks(kClients);
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back(AppendUntilGone, port, round, t, static_cast<uint32_t>(rng()),
                           std::cref(stop), std::ref(client_acks[t]), std::ref(unexpected),
                           std::ref(unexpected_body));
    }
    // SIGKILL after a random delay; every other round as soon as a segment put is seen in
    // flight (after at least 50 ms), so that restarts over interrupted puts are common.
    const auto delay = std::chrono::milliseconds(50 + rng() % 351);
    const bool aim_at_put = round % 2 == 1;
    const auto start = Clock::now();
    bool aimed = false;
    while (Clock::now() - start < delay) {
      if (aim_at_put && Clock::now() - start >= 50ms && FolderHoldsTempFile(segments_folder)) {
        aimed = true;
        break;
      }
      std::this_thread::sleep_for(aim_at_put ? 200us : 5ms);
    }
    server->Kill();
    stop = true;
    for (auto& c : clients) c.join();
    if (aimed) ++kills_aimed_at_a_put;
    EXPECT_EQ(unexpected, 0) << unexpected_body;
    for (auto& a : client_acks) acks.insert(acks.end(), a.begin(), a.end());

    leftovers = TempFiles(archive);
    if (!leftovers.empty()) ++rounds_with_leftovers;
    // What the crash left is still one run of segments from position 1.
    auto objects = OpenArchiveFolder(archive);
    ASSERT_NE(objects, nullptr);
    auto reader = ArchiveReader::Open(*objects);
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    EXPECT_GE((*reader)->LastPosition(), archived_before);
    archived_before = (*reader)->LastPosition();
  }

  // Once more, until the archiver has caught up with the log, then a clean SIGTERM.
  {
    SCOPED_TRACE("final start, seed " + std::to_string(seed));
    int port = 0;
    auto server = StartArchivingServer(data, archive, port);
    ASSERT_GT(port, 0);
    check_after_start(port);
    if (::testing::Test::HasFatalFailure()) return;
    // Quiet segments are cut after 50 ms; poll, bounded, until nothing lags.
    const auto deadline = Clock::now() + 30s;
    for (;;) {
      auto status = ArchiveStatus(data, archive);
      ASSERT_TRUE(status.has_value());
      if (status->value("lag", int64_t{-1}) == 0) break;
      ASSERT_LT(Clock::now(), deadline) << "the archiver did not catch up: " << status->dump();
      std::this_thread::sleep_for(50ms);
    }
    // The server shows its archiver among its subscriptions, caught up with the head.
    auto client = NewClient(port);
    Reply subscriptions = ToReply(client->Get("/subscriptions"));
    ASSERT_EQ(subscriptions.status, 200) << subscriptions.body;
    const json listed = json::parse(subscriptions.body, nullptr, false);
    bool shown = false;
    for (const json& s : listed.value("subscriptions", json::array())) {
      if (s.value("name", "") != "archive") continue;
      shown = true;
      EXPECT_EQ(s.value("state", ""), "live") << s.dump();
      EXPECT_EQ(s.value("lag", int64_t{-1}), 0) << s.dump();
    }
    EXPECT_TRUE(shown) << subscriptions.body;
    server->Terminate();
    if (::testing::Test::HasFatalFailure()) return;
  }

  const std::set<std::string> left_at_end = TempFiles(archive);
  EXPECT_TRUE(left_at_end.empty())
      << left_at_end.size() << " temporary files, the first " << *left_at_end.begin();

  SqliteStoreOptions store_options;
  store_options.path = data + "/events.sqlite";
  auto store = OpenSqliteEventStore(store_options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto head = (*store)->HeadPosition();
  ASSERT_TRUE(head.ok()) << head.error().message;
  auto objects = OpenArchiveFolder(archive);
  ASSERT_NE(objects, nullptr);

  // One run from position 1 that ends at the store's head.
  auto reader = ArchiveReader::Open(*objects);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ((*reader)->LastPosition(), *head);

  // Every event in both, field by field; no problem in either.
  auto report = Verify(store->get(), objects.get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  std::string problems;
  for (const std::string& p : report->problems) problems += "\n  " + p;
  EXPECT_TRUE(report->ok()) << report->problem_count << " problems:" << problems;
  EXPECT_EQ(report->store_events, *head);
  EXPECT_EQ(report->archive_events, *head);
  EXPECT_EQ(report->compared_events, report->archive_events);

  // Every acknowledged event is in the store, at the position the server answered with.
  std::map<std::string, std::map<std::string, int64_t>> positions;  // stream -> id -> position
  for (int t = 0; t < kClients; ++t) {
    const std::string stream = "archived-" + std::to_string(t);
    ReadStreamOptions read;
    read.from = 1;
    read.limit = 1000;
    for (int page = 0; page < 1000; ++page) {
      auto events = (*store)->ReadStream(stream, read);
      if (!events.ok() && events.error().code == ErrorCode::kNotFound) break;
      ASSERT_TRUE(events.ok()) << events.error().message;
      for (const RecordedEvent& e : events->events) {
        positions[stream][e.id.ToString()] = e.position;
      }
      if (events->end_of_stream || events->events.empty()) break;
      read.from = events->events.back().version + 1;
    }
  }
  int64_t acknowledged_events = 0;
  int64_t missing = 0;
  for (const Ack& ack : acks) {
    for (size_t i = 0; i < ack.ids.size(); ++i) {
      ++acknowledged_events;
      auto& stream = positions[ack.stream];
      auto it = stream.find(ack.ids[i].ToString());
      if (it == stream.end()) {
        if (missing++ < 10) {
          ADD_FAILURE() << "acknowledged event " << ack.ids[i].ToString() << " of " << ack.stream
                        << " (position " << ack.first_position + static_cast<int64_t>(i)
                        << ") is not in the store";
        }
        continue;
      }
      EXPECT_EQ(it->second, ack.first_position + static_cast<int64_t>(i));
    }
    EXPECT_EQ(ack.last_position - ack.first_position + 1, static_cast<int64_t>(ack.ids.size()));
  }
  EXPECT_EQ(missing, 0);

  std::cout << "[ archive  ] " << kRounds << " kills (" << kills_aimed_at_a_put
            << " aimed at a put in flight), " << rounds_with_leftovers
            << " left a temporary file behind; " << acks.size() << " appends ("
            << acknowledged_events << " events) acknowledged; head " << *head << " in "
            << report->archive_segments << " segments; seed " << seed << "\n";
  ::testing::Test::RecordProperty("rounds_with_temporary_files", rounds_with_leftovers);
  ::testing::Test::RecordProperty("kills_aimed_at_a_put", kills_aimed_at_a_put);
  ::testing::Test::RecordProperty("acknowledged_events", static_cast<int>(acknowledged_events));
}

}  // namespace
}  // namespace evs
