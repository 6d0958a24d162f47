// The PostgreSQL store beyond the contract suite (which runs on it too: store_contract_test.cc):
// many processes writing and following one database with no gaps, writers killed mid-load, the
// server restarted mid-load, wake-ups across stores. Against the private cluster of
// scripts/postgres (EVS_TEST_POSTGRES_URL; skipped when unset).
#include "evs/postgres.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "evs/subscription.h"
#include "postgres/pg_schema.h"
#include "postgres_test_env.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

// One evs_pg_child process, its stdout in a file; ended only by its own PID, waits bounded.
class PgChild {
 public:
  PgChild(const std::vector<std::string>& args, const std::string& out_file) {
    std::vector<std::string> storage = {EVS_PG_CHILD};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) dup2(out, STDOUT_FILENO);
      execv(EVS_PG_CHILD, argv.data());
      _exit(127);
    }
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~PgChild() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  // The exit code, or -1 after `timeout` (the child is then killed) or a signal.
  int Wait(std::chrono::seconds timeout = 300s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_ && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = status;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!status_) {
      ADD_FAILURE() << "evs_pg_child " << pid_ << " did not end in time: killed";
      Kill();
      return -1;
    }
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
  }
  void Kill() {
    if (pid_ <= 0 || status_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    status_ = status;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t CountLines(const std::string& path) {
  const std::string text = ReadFile(path);
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// Acknowledged appends from an evs_pg_child append's output: event id -> its position.
void ParseAcks(const std::string& path, std::map<std::string, int64_t>& acked) {
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string ack;
    int64_t first = 0;
    int64_t last = 0;
    if (!(words >> ack >> first >> last) || ack != "ack") continue;  // a torn last line
    std::vector<std::string> ids;
    for (std::string id; words >> id;) ids.push_back(id);
    if (static_cast<int64_t>(ids.size()) != last - first + 1) continue;
    for (size_t i = 0; i < ids.size(); ++i) acked[ids[i]] = first + static_cast<int64_t>(i);
  }
}

// The events one evs_pg_child append writes with APPENDS and THREADS.
int64_t ChildEvents(int appends, int threads) {
  int64_t n = 0;
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < appends; ++i) n += 1 + (i + t) % 3;
  }
  return n;
}

// The whole log, checked dense from 1: event id -> position.
std::map<std::string, int64_t> WholeLog(EventStore& store) {
  std::map<std::string, int64_t> log;
  int64_t after = 0;
  for (int pages = 0; pages < 100000; ++pages) {
    auto page = store.ReadLog(after, 1000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->events.empty()) break;
    for (const auto& e : page->events) {
      EXPECT_EQ(e.position, after + 1) << "a gap in the log";
      after = e.position;
      EXPECT_TRUE(log.emplace(e.id.ToString(), e.position).second)
          << "id twice: " << e.id.ToString();
    }
  }
  return log;
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    database_ = std::make_unique<testing::PostgresTestDatabase>();
    ASSERT_FALSE(database_->url().empty());
    ASSERT_TRUE(InitPostgresSchema(database_->url()).ok());
  }

  std::unique_ptr<EventStore> Open() {
    PostgresStoreOptions options;
    options.url = database_->url();
    auto store = OpenPostgresEventStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::PostgresTestDatabase> database_;
};

// Four writer processes (three threads each, group commit in each) append while three follower
// processes read the log as it grows: every follower sees every position exactly once, in order,
// with no gap; the log holds every acknowledged event once.
TEST_F(PostgresTest, ManyProcessesAppendWhileOthersFollowWithNoGaps) {
  constexpr int kWriters = 4;
  constexpr int kAppends = 150;
  constexpr int kThreads = 3;
  const int64_t total = kWriters * ChildEvents(kAppends, kThreads);
  std::vector<std::unique_ptr<PgChild>> followers;
  for (int f = 0; f < 3; ++f) {
    followers.push_back(std::make_unique<PgChild>(
        std::vector<std::string>{"follow", database_->url(), std::to_string(total), "240"},
        dir_.File("follow-" + std::to_string(f))));
  }
  std::vector<std::unique_ptr<PgChild>> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(std::make_unique<PgChild>(
        std::vector<std::string>{"append", database_->url(), "w" + std::to_string(w),
                                 std::to_string(kAppends), std::to_string(kThreads)},
        dir_.File("append-" + std::to_string(w))));
  }
  std::map<std::string, int64_t> acked;
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(writers[w]->Wait(), 0) << "writer " << w;
    ParseAcks(dir_.File("append-" + std::to_string(w)), acked);
  }
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(followers[f]->Wait(), 0) << ReadFile(dir_.File("follow-" + std::to_string(f)));
    EXPECT_EQ(ReadFile(dir_.File("follow-" + std::to_string(f))),
              "seen " + std::to_string(total) + "\n");
  }
  EXPECT_EQ(static_cast<int64_t>(acked.size()), total);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto log = WholeLog(*store);
  EXPECT_EQ(static_cast<int64_t>(log.size()), total);
  for (const auto& [id, position] : acked) {
    auto it = log.find(id);
    ASSERT_NE(it, log.end()) << "acknowledged event " << id << " is not in the log";
    EXPECT_EQ(it->second, position) << id;
  }
}

// A small crash campaign: writer processes killed with SIGKILL mid-load, one after the other;
// nothing they acknowledged is lost, nothing is there twice, and the log stays dense.
TEST_F(PostgresTest, WritersKilledMidLoadLoseNothingAcknowledged) {
  std::map<std::string, int64_t> acked;
  for (int round = 0; round < 4; ++round) {
    const std::string out = dir_.File("crash-" + std::to_string(round));
    PgChild writer({"append", database_->url(), "c" + std::to_string(round), "100000", "4"}, out);
    const size_t want = 30 + 40 * static_cast<size_t>(round);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (CountLines(out) < want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_GE(CountLines(out), want) << "the writer acknowledged too little in time";
    writer.Kill();
    ParseAcks(out, acked);
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto log = WholeLog(*store);
  EXPECT_GE(log.size(), acked.size());
  for (const auto& [id, position] : acked) {
    auto it = log.find(id);
    ASSERT_NE(it, log.end()) << "acknowledged event " << id << " was lost";
    EXPECT_EQ(it->second, position) << id;
  }
  EXPECT_EQ(*store->HeadPosition(), static_cast<int64_t>(log.size()));
}

// The server restarted (fast shutdown: every connection cut) while four threads append: the
// writer reconnects and runs its batch again; an append that still fails is retried by the
// caller with the same ids. Afterwards every acknowledged event is there exactly once.
TEST_F(PostgresTest, AServerRestartMidLoadLosesNothingAndWritesNothingTwice) {
  // A cluster of its own (the shared one serves tests running beside this one).
  const std::string script = std::string(EVS_SOURCE_DIR) + "/scripts/postgres";
  const std::string cluster = dir_.File("cluster");
  ASSERT_EQ(std::system((script + " start " + cluster + " >/dev/null").c_str()), 0);
  struct StopCluster {
    std::string command;
    ~StopCluster() { (void)std::system(command.c_str()); }
  } stop{script + " stop " + cluster + " >/dev/null"};
  std::string url = ReadFile(cluster + "/env");
  url = url.substr(url.find('=') + 1);
  url = url.substr(0, url.find('\n'));
  PostgresStoreOptions options;
  options.url = url;
  auto opened = OpenPostgresEventStore(options);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto store = std::move(opened).value();
  constexpr int kThreads = 4;
  constexpr int kAppends = 300;
  std::atomic<int> done{0};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::map<std::string, int64_t> acked;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        std::vector<EventData> events(2);
        for (auto& e : events) {
          e.id = Uuid::Random();
          e.type = "Tick";
        }
        const std::string stream = "r-" + std::to_string(t);
        for (int attempt = 0; attempt < 50; ++attempt) {
          auto r = store->Append(stream, ExpectedVersion::Any(), events);
          if (r.ok()) {
            std::lock_guard guard(mu);
            acked[events[0].id.ToString()] = r->first_position;
            acked[events[1].id.ToString()] = r->last_position;
            break;
          }
          ++failures;
          EXPECT_TRUE(r.error().code == ErrorCode::kUnavailable ||
                      r.error().code == ErrorCode::kIOError)
              << r.error().message;
          std::this_thread::sleep_for(100ms);
        }
        ++done;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (done.load() < kThreads * kAppends / 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const std::string restart = script + " restart " + cluster + " >/dev/null";
  const int before = done.load();
  EXPECT_EQ(std::system(restart.c_str()), 0);
  std::printf("the server restarted after %d of %d appends (%d when it was back)\n", before,
              kThreads * kAppends, done.load());
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.size(), static_cast<size_t>(kThreads * kAppends * 2));
  auto log = WholeLog(*store);
  EXPECT_EQ(log.size(), static_cast<size_t>(kThreads * kAppends * 2)) << "written twice or lost";
  for (const auto& [id, position] : acked) {
    auto it = log.find(id);
    ASSERT_NE(it, log.end()) << "acknowledged event " << id << " was lost";
    EXPECT_EQ(it->second, position) << id;
  }
  std::printf("appends that failed during the restart and were retried: %d\n", failures.load());
}

// Every connection to the database cut (pg_terminate_backend) again and again while four threads
// append: the writer's transaction is lost before, during or after its COMMIT; the batch runs
// again, resolved by its event ids. Afterwards every acknowledged event is there exactly once.
TEST_F(PostgresTest, ConnectionsCutMidLoadLoseNothingAndWriteNothingTwice) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto admin = pg::Connection::Open(database_->url());
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  constexpr int kThreads = 4;
  constexpr int kAppends = 200;
  std::atomic<int> done{0};
  std::mutex mu;
  std::map<std::string, int64_t> acked;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        std::vector<EventData> events(2);
        for (auto& e : events) {
          e.id = Uuid::Random();
          e.type = "Tick";
        }
        for (int attempt = 0; attempt < 50; ++attempt) {
          auto r = store->Append("cut-" + std::to_string(t), ExpectedVersion::Any(), events);
          if (r.ok()) {
            std::lock_guard guard(mu);
            acked[events[0].id.ToString()] = r->first_position;
            acked[events[1].id.ToString()] = r->last_position;
            break;
          }
          std::this_thread::sleep_for(50ms);
        }
        ++done;
      }
    });
  }
  int cuts = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  for (int next = 50; next < kThreads * kAppends && std::chrono::steady_clock::now() < deadline;) {
    if (done.load() < next) {
      std::this_thread::sleep_for(1ms);
      continue;
    }
    auto cut = (*admin)->Exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    EXPECT_TRUE(cut.ok()) << cut.error().message;
    ++cuts;
    next += 100;
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(cuts, 5);
  // Reads after a cut: each retries once on a fresh connection; none waits for a lost one.
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE((*admin)
                    ->Exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                    .ok());
    for (int i = 0; i < 10; ++i) {
      auto head = store->HeadPosition();
      EXPECT_TRUE(head.ok()) << head.error().message;
    }
  }
  EXPECT_EQ(acked.size(), static_cast<size_t>(kThreads * kAppends * 2));
  auto log = WholeLog(*store);
  EXPECT_EQ(log.size(), static_cast<size_t>(kThreads * kAppends * 2)) << "written twice or lost";
  for (const auto& [id, position] : acked) {
    auto it = log.find(id);
    ASSERT_NE(it, log.end()) << "acknowledged event " << id << " was lost";
    EXPECT_EQ(it->second, position) << id;
  }
}

// A store waiting for the head is woken by another store's commit (another set of connections,
// as another process would be): LISTEN/NOTIFY, not a poll.
TEST_F(PostgresTest, WaitForHeadIsWokenByAnotherStoresCommit) {
  auto waiter = Open();
  auto writer = Open();
  ASSERT_NE(waiter, nullptr);
  ASSERT_NE(writer, nullptr);
  std::thread append([&] {
    std::this_thread::sleep_for(100ms);
    EventData e;
    e.type = "Tick";
    EXPECT_TRUE(writer->Append("s", ExpectedVersion::Any(), {e}).ok());
  });
  auto head = waiter->WaitForHead(0, 60s);
  append.join();
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(*head, 1);
}

// Names and payloads with the characters that array literals and SQL quote: stored and read back
// byte for byte.
TEST_F(PostgresTest, QuotesBackslashesBracesAndUnicodeSurviveByteForByte) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::string stream = "s \"q\" \\ {a,b} 'x' caf\xc3\xa9";
  EventData e;
  e.type = "T\"y\\pe{,}'";
  e.data = R"({"a":"x\"y\\z","b":"{1,2}","c":"caf\u00e9 \u0000","d":"'; DROP TABLE x; --"})";
  e.metadata = R"({"m":"\\x00"})";
  std::vector<EventData> events{e, e};
  events[0].id = Uuid::Random();
  events[1].id = Uuid::Random();
  auto r = store->Append(stream, ExpectedVersion::NoStream(), events);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto page = store->ReadStream(stream, {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 2u);
  for (const auto& got : page->events) {
    EXPECT_EQ(got.stream_id, stream);
    EXPECT_EQ(got.type, e.type);
    EXPECT_EQ(got.data, e.data);
    EXPECT_EQ(got.metadata, e.metadata);
  }
  auto listed = store->ListStreams("", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->streams.size(), 1u);
  EXPECT_EQ(listed->streams[0].stream_id, stream);
  // The retry is recognised by its ids, whatever the characters.
  auto retry = store->Append(stream, ExpectedVersion::NoStream(), events);
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_EQ(retry->first_position, r->first_position);
}

std::vector<EventData> PgTicks(int n) {
  std::vector<EventData> events(static_cast<size_t>(n));
  for (auto& e : events) e.type = "Tick";
  return events;
}

// A database that version 1 (before stream lifecycle) initialised, with a stream in it: `evs pg
// init` (InitPostgresSchema) migrates it to version 2 (and on), its events read as before, and the
// stream can then be given metadata and deleted.
TEST(PostgresSchemaTest, AVersion1DatabaseIsMigratedToVersion2) {
  if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  testing::PostgresTestDatabase database;
  ASSERT_FALSE(database.url().empty());
  {
    auto c = pg::Connection::Open(database.url());
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto version = pg::MigrateSchema(**c, 1);
    ASSERT_TRUE(version.ok()) << version.error().message;
    EXPECT_EQ(*version, 1);
    // What version 1's writer left: a stream row and its events, the log's head.
    auto s = (*c)->ExecScript(
        "INSERT INTO evs_streams VALUES ('cart-1', 2);"
        "INSERT INTO evs_events VALUES "
        "(1, 'cart-1', 1, '00000000-0000-4000-8000-000000000001', 'Opened', '{}', '{}', 1),"
        "(2, 'cart-1', 2, '00000000-0000-4000-8000-000000000002', 'Added', '{}', '{}', 2);"
        "UPDATE evs_log_head SET position = 2, recorded_at_us = 2");
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  // A release that expects version 2 refuses to use it until it is migrated, and says how.
  PostgresStoreOptions options;
  options.url = database.url();
  options.create_schema = false;
  auto refused = OpenPostgresEventStore(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  EXPECT_NE(refused.error().message.find("evs pg init"), std::string::npos);

  auto migrated = InitPostgresSchema(database.url());
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  EXPECT_EQ(*migrated, kPostgresSchemaVersion);  // and on to the versions after it
  EXPECT_EQ(*InitPostgresSchema(database.url()), kPostgresSchemaVersion);  // again: nothing
  auto store = OpenPostgresEventStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto page = (*store)->ReadStream("cart-1", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[1].type, "Added");
  auto lifecycle = (*store)->GetStreamLifecycle("cart-1");
  ASSERT_TRUE(lifecycle.ok()) << lifecycle.error().message;
  EXPECT_EQ(lifecycle->version, 2);
  EXPECT_EQ(lifecycle->deleted_through, 0);
  EXPECT_FALSE(lifecycle->metadata.max_count.has_value());
  StreamMetadata metadata;
  metadata.max_count = 1;
  ASSERT_TRUE((*store)->SetStreamMetadata("cart-1", metadata).ok());
  page = (*store)->ReadStream("cart-1", {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].version, 2);
  ASSERT_TRUE((*store)->DeleteStream("cart-1", DeleteMode::kSoft, ExpectedVersion::Exact(2)).ok());
  EXPECT_EQ((*store)->ReadStream("cart-1", {}).error().code, ErrorCode::kNotFound);
}

// Lifecycle changes are decided in the database under the stream's row lock: what one store
// (process) deletes, another sees at once, and appends racing with a hard delete either land
// before it or are refused, never after it.
TEST_F(PostgresTest, LifecycleChangesAreSeenByEveryStoreOnTheDatabase) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Append("s", ExpectedVersion::NoStream(), PgTicks(3)).ok());
  ASSERT_TRUE(b->DeleteStream("s", DeleteMode::kSoft, ExpectedVersion::Exact(3)).ok());
  EXPECT_EQ(a->ReadStream("s", {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*a->StreamVersion("s"), 0);
  // A's append after B's soft delete starts the stream again at its next version.
  auto again = a->Append("s", ExpectedVersion::NoStream(), PgTicks(1));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->first_version, 4);
  auto page = b->ReadStream("s", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].version, 4);

  // Hard delete while the other store appends: every append acknowledged is below the
  // tombstone's version, and every later one is kStreamDeleted.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> highest_ok{0};
  std::atomic<int> refused{0};
  std::thread appender([&] {
    while (!stop.load()) {
      auto r = a->Append("s", ExpectedVersion::Any(), PgTicks(1));
      if (r.ok()) {
        highest_ok = std::max(highest_ok.load(), r->last_version);
      } else {
        EXPECT_EQ(r.error().code, ErrorCode::kStreamDeleted) << r.error().message;
        ++refused;
        return;
      }
    }
  });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(b->DeleteStream("s", DeleteMode::kHard).ok());
  std::this_thread::sleep_for(100ms);
  stop = true;
  appender.join();
  EXPECT_EQ(refused.load(), 1);
  auto lifecycle = a->GetStreamLifecycle("s");
  ASSERT_TRUE(lifecycle.ok()) << lifecycle.error().message;
  EXPECT_TRUE(lifecycle->hard_deleted);
  EXPECT_EQ(lifecycle->version, highest_ok.load());
  EXPECT_EQ(a->ReadStream("s", {}).error().code, ErrorCode::kStreamDeleted);
  EXPECT_EQ(b->DeleteStream("s", DeleteMode::kSoft).error().code, ErrorCode::kStreamDeleted);
  auto listed = a->ListStreams("", 10);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->streams.empty());
}

// Two stores (processes) scavenge the same streams at once while a third appends to one of them
// (pushing more of it out of its max_count) and a follower reads the log: the follower sees every
// position once, in order; each hidden event becomes a marker exactly once (the reports add up);
// nothing that reads still return is touched.
TEST_F(PostgresTest, ScavengingBesideOtherStoresAppendingKeepsTheLogDense) {
  auto a = Open();
  auto b = Open();
  auto w = Open();
  auto f = Open();
  ASSERT_TRUE(a && b && w && f);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(a->Append("trimmed", ExpectedVersion::Any(), PgTicks(10)).ok());
    ASSERT_TRUE(a->Append("gone", ExpectedVersion::Any(), PgTicks(10)).ok());
  }
  StreamMetadata metadata;
  metadata.max_count = 10;
  ASSERT_TRUE(a->SetStreamMetadata("trimmed", metadata).ok());
  ASSERT_TRUE(a->DeleteStream("gone", DeleteMode::kSoft).ok());

  std::atomic<bool> stop{false};
  std::atomic<bool> written{false};  // the writer has stopped
  std::thread writer([&] {
    while (!stop.load()) {
      ASSERT_TRUE(w->Append("trimmed", ExpectedVersion::Any(), PgTicks(1)).ok());
      ASSERT_TRUE(w->Append("live", ExpectedVersion::Any(), PgTicks(1)).ok());
    }
  });
  std::atomic<int64_t> followed{0};
  std::thread follower([&] {
    int64_t after = 0;
    for (bool last = false; !last;) {
      last = written.load();  // once more after the writer stopped
      for (;;) {
        auto page = f->ReadLog(after, 100);
        ASSERT_TRUE(page.ok()) << page.error().message;
        if (page->events.empty()) break;
        for (const auto& e : page->events) {
          ASSERT_EQ(e.position, after + 1) << "the follower stepped over a position";
          after = e.position;
          if (e.stream_id == "live") {
            EXPECT_NE(e.type, kScavengedEventType);
          }
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    followed = after;
  });
  int64_t scavenged = 0;
  std::mutex mu;
  auto scavenge = [&](EventStore& store) {
    ScavengeOptions options;
    options.events_per_step = 5;
    auto report = store.Scavenge(options);
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->streams_examined, 2);
    std::lock_guard guard(mu);
    scavenged += report->events_scavenged;
  };
  std::thread sa([&] { scavenge(*a); });
  std::thread sb([&] { scavenge(*b); });
  sa.join();
  sb.join();
  std::this_thread::sleep_for(50ms);
  stop = true;
  writer.join();
  written = true;
  follower.join();
  scavenge(*a);  // what the last appends pushed out

  const int64_t trimmed = *a->StreamVersion("trimmed");
  const auto log = WholeLog(*a);  // dense from 1
  EXPECT_EQ(static_cast<int64_t>(log.size()), followed.load());
  int64_t markers = 0;
  int64_t after = 0;
  for (;;) {
    auto page = a->ReadLog(after, 1000);
    ASSERT_TRUE(page.ok());
    if (page->events.empty()) break;
    for (const auto& e : page->events) {
      after = e.position;
      const bool hidden =
          e.stream_id == "gone" || (e.stream_id == "trimmed" && e.version <= trimmed - 10);
      EXPECT_EQ(e.type == kScavengedEventType, hidden) << e.stream_id << " " << e.version;
      markers += e.type == kScavengedEventType;
    }
  }
  EXPECT_EQ(markers, 300 + trimmed - 10);
  EXPECT_EQ(scavenged, markers);
  auto page = b->ReadStream("trimmed", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 10u);
  EXPECT_EQ(page->events.front().version, trimmed - 9);
  for (const auto& e : page->events) EXPECT_EQ(e.type, "Tick");
}

// ReadStream reads the stream's row (its lifecycle) and its events in one snapshot. Made to race
// deterministically: another session holds evs_events locked, so the read decides from the row and
// then waits on the events; meanwhile that session soft-deletes the stream and turns its events
// into markers (what DeleteStream and a scavenge step commit) and commits. The read must then
// answer as of before the change (the events), never the row from before with the events from
// after (markers a read never returns).
TEST_F(PostgresTest, ReadStreamReadsTheRowAndTheEventsInOneSnapshot) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Append("s", ExpectedVersion::NoStream(), PgTicks(5)).ok());
  ASSERT_TRUE(store->ReadStream("s", {}).ok());  // the pool's connection is open
  auto locker = pg::Connection::Open(database_->url());
  ASSERT_TRUE(locker.ok()) << locker.error().message;
  ASSERT_TRUE((*locker)->ExecScript("BEGIN; LOCK TABLE evs_events IN ACCESS EXCLUSIVE MODE").ok());
  std::optional<Result<StreamPage>> read;
  std::thread reader([&] { read.emplace(store->ReadStream("s", {})); });
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    auto rows = (*locker)->Exec(
        "SELECT count(*) FROM pg_locks WHERE relation = 'evs_events'::regclass AND NOT granted");
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    waiting = pg::GetInt8(rows->get(), 0, 0) > 0;
    if (!waiting) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(waiting) << "the read never waited on evs_events";
  ASSERT_TRUE((*locker)
                  ->ExecScript("UPDATE evs_streams SET deleted_through = 5 WHERE stream_id = 's';"
                               "UPDATE evs_events SET type = '$scavenged', data = '{}', "
                               "metadata = '{}' WHERE stream_id = 's'; COMMIT")
                  .ok());
  reader.join();
  ASSERT_TRUE(read.has_value());
  ASSERT_TRUE(read->ok()) << read->error().message;
  ASSERT_EQ((*read)->events.size(), 5u);
  for (const auto& e : (*read)->events) EXPECT_EQ(e.type, "Tick");
  // Read again: the stream is deleted.
  EXPECT_EQ(store->ReadStream("s", {}).error().code, ErrorCode::kNotFound);
}

// Collects what a subscription hands over.
class PgCollector : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    for (const auto& e : batch) positions_.push_back(e.position);
    cv_.notify_all();
    return OkStatus();
  }
  // Waits (bounded) until `n` events came; returns their positions.
  std::vector<int64_t> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] { return positions_.size() >= n; });
    return positions_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> positions_;
};

// A subscription on the PostgreSQL store keeps its checkpoint in the same database: it catches
// up, goes live (woken by NOTIFY), and a new one, from another checkpoint store, resumes there.
TEST_F(PostgresTest, ASubscriptionKeepsItsCheckpointInTheDatabase) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Append("a", ExpectedVersion::Any(), PgTicks(10)).ok());
  {
    auto checkpoints = OpenPostgresCheckpointStore(database_->url());
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
    PgCollector collector;
    SubscriptionOptions options;
    options.name = "pg-sub";
    auto sub = Subscription::Start(*store, **checkpoints, collector, options);
    ASSERT_TRUE(sub.ok()) << sub.error().message;
    EXPECT_EQ(collector.WaitFor(10).size(), 10u);
    ASSERT_TRUE(store->Append("b", ExpectedVersion::Any(), PgTicks(5)).ok());
    auto seen = collector.WaitFor(15);
    ASSERT_EQ(seen.size(), 15u);
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));
    (*sub)->Stop();
  }
  auto checkpoints = OpenPostgresCheckpointStore(database_->url());
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
  auto saved = (*checkpoints)->Load("pg-sub");
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  ASSERT_TRUE(saved->has_value());
  EXPECT_EQ(**saved, "15");
  ASSERT_TRUE(store->Append("c", ExpectedVersion::Any(), PgTicks(1)).ok());
  PgCollector collector;
  SubscriptionOptions options;
  options.name = "pg-sub";
  auto sub = Subscription::Start(*store, **checkpoints, collector, options);
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  EXPECT_EQ(collector.WaitFor(1), std::vector<int64_t>{16});
  (*sub)->Stop();
}

TEST_F(PostgresTest, ParkedEventsAndStatesAreSharedThroughTheDatabase) {
  auto first = OpenPostgresCheckpointStore(database_->url());
  auto second = OpenPostgresCheckpointStore(database_->url());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE((*first)->Load("none")->has_value());
  ParkedEvent parked;
  parked.subscription = "sub";
  parked.event.stream_id = "s";
  parked.event.version = 3;
  parked.event.position = 7;
  parked.event.id = Uuid::Random();
  parked.event.type = "T";
  parked.event.data = "{\"x\":1}";
  parked.event.metadata = "{}";
  parked.error = "boom";
  parked.attempts = 5;
  ASSERT_TRUE((*first)->Park(parked).ok());
  auto listed = (*second)->ListParked("", 0, 10);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  const ParkedEvent got = (*listed)[0];
  EXPECT_EQ(got.event.id, parked.event.id);
  EXPECT_EQ(got.event.data, parked.event.data);
  EXPECT_EQ(got.error, "boom");
  EXPECT_EQ(got.attempts, 5);
  EXPECT_GT(got.parked_at_us, 0);
  EXPECT_FALSE(got.retry_requested);
  EXPECT_EQ(*(*second)->CountParked("sub"), 1);
  EXPECT_EQ(*(*second)->CountParked("other"), 0);
  ASSERT_TRUE((*second)->RequestRetry(got.id).ok());
  auto requested = (*first)->RetryRequested("sub", 10);
  ASSERT_TRUE(requested.ok());
  ASSERT_EQ(requested->size(), 1u);
  EXPECT_TRUE((*requested)[0].retry_requested);
  ASSERT_TRUE((*first)->FinishRetry(got.id, std::string("again")).ok());
  listed = (*second)->ListParked("sub", 0, 10);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].attempts, 6);
  EXPECT_FALSE((*listed)[0].retry_requested);
  auto unparked = (*first)->Unpark(got.id);
  ASSERT_TRUE(unparked.ok()) << unparked.error().message;
  EXPECT_EQ((*first)->Unpark(got.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ((*first)->RequestRetry(got.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE((*first)->SaveState("sub", "live", "").ok());
  EXPECT_TRUE((*first)->SaveState("sub", "failed", "x").ok());
}

TEST_F(PostgresTest, BadUrlsAndMissingSchemasAreClearErrors) {
  PostgresStoreOptions options;
  options.url = "postgresql://evs@127.0.0.1:5432/db?nosuchoption=1";
  auto store = OpenPostgresEventStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument) << store.error().message;
  options.url = "postgresql://evs@127.0.0.1:1/db";
  store = OpenPostgresEventStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable) << store.error().message;
  testing::PostgresTestDatabase empty;
  options.url = empty.url();
  options.create_schema = false;
  store = OpenPostgresEventStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kNotFound);
  EXPECT_NE(store.error().message.find("evs pg init"), std::string::npos) << store.error().message;
  auto version = InitPostgresSchema(empty.url());
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(*version, kPostgresSchemaVersion);
  EXPECT_EQ(*InitPostgresSchema(empty.url()), kPostgresSchemaVersion);  // again: nothing to do
  store = OpenPostgresEventStore(options);
  EXPECT_TRUE(store.ok()) << store.error().message;
}

}  // namespace
}  // namespace evs
