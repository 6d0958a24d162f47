// Power loss, simulated: every SQLite file of the process (the store, the checkpoint stores, the
// read model) goes through a FaultVfs and the archive through a FaultFileSystem, both of which
// remember what was written since each file's last good fsync. A round runs the store with its
// subscribers (one on the owner, one on the read-only view that other processes use), a
// projection and the archiver under concurrent appends, "loses power" at a seeded moment
// (dropping every write that was not synced, optionally tearing the last one), tears everything
// down, powers on and reopens, then checks against an oracle kept in the test's memory, outside
// the files. The power goes off for every file at one instant, and what the process's threads
// still do until the teardown stops them (they read files being put back, torn pages included)
// counts for nothing, as on a machine that is off:
// * every acknowledged append is there, at its positions and versions, with its ids;
// * an append that got no answer is wholly there or wholly absent; the log is dense;
// * no subscriber was handed an event that the power loss took back (it would have
//   checkpointed past positions that later commits reuse, and skipped those), and after the
//   restart each has seen every position;
// * the projection applied every event exactly once; the archive verifies against the store.
//
// The same rounds run on the log engine (its every file call goes through the FaultFileSystem).
//
// EVS_POWER_LOSS_ROUNDS sets the rounds (scripts/power-loss --rounds N runs any number);
// EVS_POWER_LOSS_SEED the first seed. PowerLossTest.WithoutFsync* shows that the checks catch a
// store that does not fsync.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "evs/object_store.h"
#include "evs/projection.h"
#include "evs/subscription.h"
#include "evs/verify.h"
#include "fault_file_system.h"
#include "fault_vfs.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::strtoll(value, nullptr, 10) : fallback;
}

struct Append {
  std::string stream;
  std::vector<Uuid> ids;
  AppendResult result;  // when acknowledged
};

// What the test knows from outside the files: acknowledged appends, appends in doubt, and what
// each subscriber was handed.
struct Oracle {
  std::mutex mu;
  std::vector<Append> acknowledged;
  std::vector<Append> in_doubt;
  std::vector<std::string> violations;
  int64_t acks_this_round = 0;

  void Violation(std::string what) {
    std::lock_guard guard(mu);
    violations.push_back(std::move(what));
  }
};

// Records what it is handed, position by position; a position handed again must hold the same
// event (at-least-once redelivery), never another one.
class RecordingHandler : public EventHandler {
 public:
  RecordingHandler(std::string name, Oracle& oracle) : name_(std::move(name)), oracle_(oracle) {}
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    // The machine is off: what a thread still reads here, from files being put back as the
    // power loss left them (a torn page among them), was never handed over.
    if (power_lost_) return OkStatus();
    const std::string when = "round " + std::to_string(round_);
    for (const RecordedEvent& e : batch) {
      auto [it, fresh] = seen_.try_emplace(e.position, Seen{e.id, when});
      if (!fresh && it->second.id != e.id) {
        oracle_.Violation(name_ + " was handed position " + std::to_string(e.position) +
                          " as event " + it->second.id.ToString() + " (" + it->second.when +
                          "), and later as " + e.id.ToString() + " (" + when +
                          "): the first was taken back after delivery");
        it->second = Seen{e.id, when};
      }
    }
    return OkStatus();
  }
  // The round that hands events over (for the messages), from power on to the power loss.
  void StartRound(uint64_t round) {
    std::lock_guard guard(mu_);
    round_ = round;
    power_lost_ = false;
  }
  void PowerLost() {
    std::lock_guard guard(mu_);
    power_lost_ = true;
  }
  // Checks every position of the log was handed over, as the log holds it.
  void Check(const std::map<int64_t, Uuid>& log) {
    std::lock_guard guard(mu_);
    for (const auto& [position, id] : log) {
      auto it = seen_.find(position);
      if (it == seen_.end()) {
        oracle_.Violation(name_ + " never saw position " + std::to_string(position));
      } else if (it->second.id != id) {
        oracle_.Violation(name_ + " saw position " + std::to_string(position) + " as " +
                          it->second.id.ToString() + " (" + it->second.when + "); the log holds " +
                          id.ToString());
      }
    }
    for (const auto& [position, id] : seen_) {
      if (!log.count(position)) {
        oracle_.Violation(name_ + " saw position " + std::to_string(position) +
                          ", which the log does not hold");
      }
    }
  }

 private:
  const std::string name_;
  Oracle& oracle_;
  struct Seen {
    Uuid id;
    std::string when;
  };
  std::mutex mu_;
  std::map<int64_t, Seen> seen_;
  uint64_t round_ = 0;
  bool power_lost_ = false;
};

// Counts each stream's events: exactly-once effect means applied == last_version == the
// stream's version once caught up.
class CountingProjection : public Projection {
 public:
  std::string Name() const override { return "counts"; }
  std::vector<std::string> Tables() const override { return {"counts"}; }
  Status CreateTables(ReadModel& model) override {
    return model.Execute("CREATE TABLE IF NOT EXISTS counts" + model.Suffix() +
                         "(stream TEXT PRIMARY KEY, applied INTEGER, last_version INTEGER)");
  }
  Status Apply(ReadModel& model, const RecordedEvent& event) override {
    return model.Execute("INSERT INTO counts" + model.Suffix() +
                             " VALUES (?1, 1, ?2) ON CONFLICT(stream) DO UPDATE SET "
                             "applied = applied + 1, last_version = ?2",
                         {event.stream_id, event.version});
  }
};

struct Params {
  bool durable = true;
  bool archive = true;
  bool log_engine = false;  // the log engine (log_store.h) instead of the SQLite store
};

class PowerLossTest : public ::testing::Test {
 protected:
  PowerLossTest() : vfs_(/*make_default=*/true) {
    fs_ = std::make_shared<testing::FaultFileSystem>();
  }

  // One round: open everything, check what the last power loss left, run traffic, lose power
  // at a seeded moment, tear down.
  void Round(uint64_t seed, const Params& params) {
    std::mt19937_64 random(seed);
    owner_seen_.StartRound(seed);
    reader_seen_.StartRound(seed);
    vfs_.TrackUnsynced();
    fs_->TrackUnsynced();

    auto store = OpenStore(params);
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto reader = params.log_engine ? OpenLogEventStoreReader(dir_.File("log"), fs_)
                                    : OpenSqliteEventStoreReader(dir_.File("events.sqlite"), fs_);
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    auto checkpoints = OpenSqliteCheckpointStore(dir_.File("checkpoints.sqlite"));
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
    // The reader's subscriber keeps its checkpoints apart, as another process would.
    auto reader_checkpoints = OpenSqliteCheckpointStore(dir_.File("reader-checkpoints.sqlite"));
    ASSERT_TRUE(reader_checkpoints.ok()) << reader_checkpoints.error().message;
    DirectoryObjectStoreOptions archive_options;
    archive_options.path = dir_.File("archive");
    archive_options.file_system = fs_;
    auto archive = OpenDirectoryObjectStore(archive_options);
    ASSERT_TRUE(archive.ok()) << archive.error().message;

    // What the last power loss left.
    if (!CheckStore(**store)) return;

    SubscriptionOptions owner_options;
    owner_options.name = "owner";
    owner_options.batch_size = 16;
    owner_options.idle_wait = 20ms;
    auto owner_sub = Subscription::Start(**store, **checkpoints, owner_seen_, owner_options);
    ASSERT_TRUE(owner_sub.ok()) << owner_sub.error().message;
    SubscriptionOptions reader_options = owner_options;
    reader_options.name = "reader";
    auto reader_sub =
        Subscription::Start(**reader, **reader_checkpoints, reader_seen_, reader_options);
    ASSERT_TRUE(reader_sub.ok()) << reader_sub.error().message;
    ProjectionOptions projection_options;
    projection_options.path = dir_.File("read.sqlite");
    projection_options.batch_size = 16;
    auto projection = ProjectionRunner::Open(**store, projection_, projection_options);
    ASSERT_TRUE(projection.ok()) << projection.error().message;
    ASSERT_TRUE((*projection)->Start().ok());
    std::unique_ptr<ArchiveRunner> archiver;
    if (params.archive) {
      ArchiverOptions archiver_options;
      archiver_options.segment_max_events = 40;
      archiver_options.segment_max_age = 50ms;
      auto started = ArchiveRunner::Start(**store, **archive, archiver_options);
      ASSERT_TRUE(started.ok()) << started.error().message;
      archiver = std::move(started).value();
    }

    // Everything caught up with what survived: the checks of the subscribers, the projection
    // and the archive.
    const int64_t head = *(*store)->HeadPosition();
    EXPECT_TRUE((*owner_sub)->WaitUntil(head, 30s));
    EXPECT_TRUE((*reader_sub)->WaitUntil(head, 30s));
    EXPECT_TRUE((*projection)->WaitUntil(head, 30s));
    owner_seen_.Check(log_);
    reader_seen_.Check(log_);
    CheckProjection(**store);
    if (archiver) {
      EXPECT_TRUE(archiver->WaitUntilArchived(head - head % 40, 30s));
      auto report = Verify(store->get(), archive->get());
      ASSERT_TRUE(report.ok()) << report.error().message;
      for (const std::string& problem : report->problems) oracle_.Violation("verify: " + problem);
    }

    // Traffic, then the power loss after a seeded number of acknowledgements.
    const int64_t acks_before_loss = 10 + static_cast<int64_t>(random() % 120);
    {
      std::lock_guard guard(oracle_.mu);
      oracle_.acks_this_round = 0;
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&, w] { Writer(**store, seed * 31 + w, stop); });
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard guard(oracle_.mu);
        if (oracle_.acks_this_round >= acks_before_loss) break;
      }
      std::this_thread::sleep_for(1ms);
    }
    const bool tear = random() % 2 == 0;
    // One instant for every file: all off, then each simulator takes back what was not synced.
    owner_seen_.PowerLost();
    reader_seen_.PowerLost();
    vfs_.PowerOff();
    fs_->PowerOff();
    vfs_.PowerLoss(seed, tear);
    fs_->PowerLoss();
    stop = true;
    for (auto& t : writers) t.join();
    // The machine is off: nothing the teardown writes reaches the disk.
    archiver.reset();
    projection->reset();
    reader_sub->reset();
    owner_sub->reset();
    reader->reset();
    reader_checkpoints->reset();
    checkpoints->reset();
    store->reset();
    vfs_.PowerOn();
    fs_->PowerOn();
  }

  // The store under test, through the fault file system (the log engine's every file call, the
  // SQLite store's files outside SQLite; SQLite's own go through the FaultVfs).
  Result<std::unique_ptr<EventStore>> OpenStore(const Params& params) {
    if (params.log_engine) {
      LogStoreOptions options;
      options.folder = dir_.File("log");
      options.durable = params.durable;
      options.segment_bytes = 64 << 10;  // small: rounds roll over segments
      options.file_system = fs_;
      return OpenLogEventStore(options);
    }
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    options.durable = params.durable;
    options.file_system = fs_;
    return OpenSqliteEventStore(options);
  }

  void Writer(EventStore& store, uint64_t seed, std::atomic<bool>& stop) {
    std::mt19937_64 random(seed);
    for (int i = 0; i < 100000 && !stop; ++i) {
      Append append;
      append.stream = "s-" + std::to_string(random() % 12);
      std::vector<EventData> events(1 + random() % 3);
      for (auto& e : events) {
        e.id = Uuid::Random();
        e.type = "Counted";
        e.data = R"({"n":)" + std::to_string(i) + "}";
        append.ids.push_back(e.id);
      }
      ExpectedVersion expected = ExpectedVersion::Any();
      if (random() % 3 == 0) {
        auto version = store.StreamVersion(append.stream);
        if (version.ok()) expected = ExpectedVersion::Exact(*version);
      }
      auto result = store.Append(append.stream, expected, std::move(events));
      std::lock_guard guard(oracle_.mu);
      if (result.ok()) {
        append.result = *result;
        oracle_.acknowledged.push_back(std::move(append));
        ++oracle_.acks_this_round;
      } else if (result.error().code != ErrorCode::kWrongExpectedVersion) {
        // No answer that says what happened: whole or absent after the restart.
        oracle_.in_doubt.push_back(std::move(append));
        return;  // the machine is off (or going)
      }
    }
  }

  // The store after a restart against the oracle. False when it is too broken to go on.
  bool CheckStore(EventStore& store) {
    log_.clear();
    std::map<Uuid, std::pair<int64_t, const RecordedEvent*>, UuidLess> where;
    std::vector<RecordedEvent> events;
    int64_t after = 0;
    for (;;) {
      auto page = store.ReadLog(after, 4096);
      if (!page.ok()) {
        ADD_FAILURE() << page.error().message;
        return false;
      }
      if (page->events.empty()) break;
      for (RecordedEvent& e : page->events) events.push_back(std::move(e));
      after = page->next_position;
    }
    std::map<std::string, int64_t> versions;
    for (size_t i = 0; i < events.size(); ++i) {
      const RecordedEvent& e = events[i];
      if (e.position != static_cast<int64_t>(i) + 1) {
        oracle_.Violation("the log has position " + std::to_string(e.position) + " at index " +
                          std::to_string(i));
      }
      if (e.version != ++versions[e.stream_id]) {
        oracle_.Violation("stream " + e.stream_id + " has version " + std::to_string(e.version) +
                          " where " + std::to_string(versions[e.stream_id]) + " was due");
      }
      log_[e.position] = e.id;
      where[e.id] = {e.position, &e};
    }
    std::lock_guard guard(oracle_.mu);
    for (const Append& a : oracle_.acknowledged) {
      for (size_t i = 0; i < a.ids.size(); ++i) {
        auto it = where.find(a.ids[i]);
        const int64_t position = a.result.first_position + static_cast<int64_t>(i);
        if (it == where.end()) {
          oracle_.violations.push_back("acknowledged event " + a.ids[i].ToString() + " of " +
                                       a.stream + " (position " + std::to_string(position) +
                                       ") is lost");
        } else if (it->second.first != position ||
                   it->second.second->version != a.result.first_version + static_cast<int64_t>(i) ||
                   it->second.second->stream_id != a.stream) {
          oracle_.violations.push_back("acknowledged event " + a.ids[i].ToString() +
                                       " moved to position " + std::to_string(it->second.first));
        }
      }
    }
    // In doubt: whole or absent. Those that landed are as good as acknowledged from now on.
    for (Append& a : oracle_.in_doubt) {
      size_t found = 0;
      for (const Uuid& id : a.ids) found += where.count(id);
      if (found != 0 && found != a.ids.size()) {
        oracle_.violations.push_back("an append in doubt to " + a.stream +
                                     " is torn: " + std::to_string(found) + " of " +
                                     std::to_string(a.ids.size()) + " events are there");
      }
      if (found == a.ids.size()) {
        const RecordedEvent& first = *where[a.ids[0]].second;
        a.result =
            AppendResult{first.version, first.version + static_cast<int64_t>(a.ids.size()) - 1,
                         first.position, first.position + static_cast<int64_t>(a.ids.size()) - 1};
        ++landed_in_doubt_;
        oracle_.acknowledged.push_back(std::move(a));
      }
    }
    in_doubt_total_ += static_cast<int64_t>(oracle_.in_doubt.size());
    oracle_.in_doubt.clear();
    versions_ = std::move(versions);
    return true;
  }

  void CheckProjection(EventStore&) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(dir_.File("read.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT stream, applied, last_version FROM counts", -1, &stmt,
                                 nullptr),
              SQLITE_OK);
    std::map<std::string, int64_t> seen;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const std::string stream = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      const int64_t applied = sqlite3_column_int64(stmt, 1);
      const int64_t last = sqlite3_column_int64(stmt, 2);
      seen[stream] = applied;
      if (applied != last || last != versions_[stream]) {
        oracle_.Violation("projection: stream " + stream + " applied " + std::to_string(applied) +
                          " events up to version " + std::to_string(last) + "; the store has " +
                          std::to_string(versions_[stream]));
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    for (const auto& [stream, version] : versions_) {
      if (!seen.count(stream)) oracle_.Violation("projection: stream " + stream + " is missing");
    }
  }

  // Runs `rounds` rounds and a last check; returns the violations found.
  std::vector<std::string> Run(int64_t rounds, const Params& params) {
    const uint64_t first_seed = static_cast<uint64_t>(EnvInt("EVS_POWER_LOSS_SEED", 1));
    for (int64_t r = 0; r < rounds; ++r) {
      const uint64_t seed = first_seed + static_cast<uint64_t>(r);
      Round(seed, params);
      if (::testing::Test::HasFatalFailure()) break;
      std::lock_guard guard(oracle_.mu);
      if (!oracle_.violations.empty()) {
        oracle_.violations.insert(oracle_.violations.begin(),
                                  "round with seed " + std::to_string(seed) + ":");
        break;
      }
    }
    // The last power loss, checked.
    Params reopen = params;
    reopen.durable = true;
    auto store = OpenStore(reopen);
    if (store.ok()) {
      CheckStore(**store);
    } else {
      oracle_.Violation("the store does not open: " + store.error().message);
    }
    std::lock_guard guard(oracle_.mu);
    std::cout << "power loss (" << (params.log_engine ? "log engine" : "sqlite") << "): " << rounds
              << " rounds, " << oracle_.acknowledged.size() << " appends acknowledged or landed, "
              << in_doubt_total_ << " in doubt (" << landed_in_doubt_ << " landed whole), "
              << log_.size() << " events in the log, " << oracle_.violations.size()
              << " violations\n";
    return oracle_.violations;
  }

  struct UuidLess {
    bool operator()(const Uuid& a, const Uuid& b) const { return a.ToString() < b.ToString(); }
  };

  testing::TempDir dir_;
  testing::FaultVfs vfs_;
  std::shared_ptr<testing::FaultFileSystem> fs_;
  Oracle oracle_;
  RecordingHandler owner_seen_{"the owner's subscriber", oracle_};
  RecordingHandler reader_seen_{"the read-only view's subscriber", oracle_};
  CountingProjection projection_;
  std::map<int64_t, Uuid> log_;
  std::map<std::string, int64_t> versions_;
  int64_t in_doubt_total_ = 0, landed_in_doubt_ = 0;
};

TEST_F(PowerLossTest, AcknowledgedAppendsSurviveAndNoSubscriberSkips) {
  const auto violations = Run(EnvInt("EVS_POWER_LOSS_ROUNDS", 200), Params{});
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_GT(log_.size(), 0u);
}

TEST_F(PowerLossTest, OnTheLogEngineAcknowledgedAppendsSurviveAndNoSubscriberSkips) {
  Params params;
  params.log_engine = true;
  const auto violations = Run(EnvInt("EVS_POWER_LOSS_ROUNDS", 200), params);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  EXPECT_GT(log_.size(), 0u);
}

// The same checks on a store that acknowledges without fsync must find lost appends: the
// simulation would pass a store with its fsync removed otherwise.
void ExpectLostWithoutFsync(const std::vector<std::string>& violations) {
  ASSERT_FALSE(violations.empty());
  bool lost = false;
  for (const auto& v : violations) lost = lost || v.find("is lost") != std::string::npos;
  EXPECT_TRUE(lost) << ::testing::PrintToString(violations);
}

TEST_F(PowerLossTest, WithoutFsyncAcknowledgedAppendsAreLost) {
  Params params;
  params.durable = false;
  params.archive = false;  // the archive of a store that loses events refuses it, as it should
  ExpectLostWithoutFsync(Run(5, params));
}

TEST_F(PowerLossTest, OnTheLogEngineWithoutFsyncAcknowledgedAppendsAreLost) {
  Params params;
  params.durable = false;
  params.archive = false;
  params.log_engine = true;
  ExpectLostWithoutFsync(Run(5, params));
}

}  // namespace
}  // namespace evs
