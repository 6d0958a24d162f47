// The embedded store when the disk fails, through a sqlite3 VFS that injects faults (fault_vfs.h):
// a failed fsync refuses writes until the store is reopened and loses nothing acknowledged, a full
// disk or a short write fails one commit and the store goes on once there is space, and a
// checkpoint's failures never look like a failed commit.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "evs/event_store.h"
#include "fault_vfs.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::FaultVfs;
using testing::kAnyFile;
using testing::kMainDb;
using testing::kWal;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One append as the test made it, and what the store answered.
struct Attempt {
  Attempt(std::string s, std::vector<EventData> e) : stream(std::move(s)), events(std::move(e)) {}
  std::string stream;
  std::vector<EventData> events;
  bool acknowledged = false;
  AppendResult result;
};

std::vector<EventData> Events(int n, size_t data_bytes = 0) {
  std::vector<EventData> events(static_cast<size_t>(n));
  for (auto& e : events) {
    e.id = Uuid::Random();
    e.type = "Noted";
    e.data =
        "{\"pad\":\"" + std::string(data_bytes, 'x') + "\",\"id\":\"" + e.id.ToString() + "\"}";
  }
  return events;
}

std::vector<RecordedEvent> WholeLog(EventStore& store) {
  std::vector<RecordedEvent> all;
  for (int64_t after = 0;;) {
    auto page = store.ReadLog(after, 1000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->events.empty()) break;
    all.insert(all.end(), page->events.begin(), page->events.end());
    after = page->next_position;
  }
  return all;
}

// Checks the log against what was attempted: positions dense from 1; every acknowledged event
// at its position, exactly as appended; every other attempt wholly there (at consecutive
// positions) or absent; nothing else. Returns how many unacknowledged attempts are there.
int ExpectLogHolds(EventStore& store, const std::vector<Attempt>& attempts) {
  const std::vector<RecordedEvent> log = WholeLog(store);
  std::unordered_map<Uuid, const RecordedEvent*, UuidHash> by_id;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].position, static_cast<int64_t>(i) + 1) << "a gap in the log";
    by_id[log[i].id] = &log[i];
  }
  size_t known = 0;
  int unacknowledged_present = 0;
  for (const Attempt& a : attempts) {
    size_t present = 0;
    for (const EventData& e : a.events) present += by_id.count(e.id);
    known += present;
    if (a.acknowledged) {
      EXPECT_EQ(present, a.events.size()) << "an acknowledged append of " << a.stream << " is lost";
    } else {
      EXPECT_TRUE(present == 0 || present == a.events.size())
          << "half of an unacknowledged append of " << a.stream << " is there";
      if (present > 0) ++unacknowledged_present;
    }
    if (present != a.events.size()) continue;
    const RecordedEvent* first = by_id[a.events[0].id];
    for (size_t i = 0; i < a.events.size(); ++i) {
      const RecordedEvent* got = by_id[a.events[i].id];
      EXPECT_EQ(got->stream_id, a.stream);
      EXPECT_EQ(got->position, first->position + static_cast<int64_t>(i));
      EXPECT_EQ(got->version, first->version + static_cast<int64_t>(i));
      EXPECT_EQ(got->type, a.events[i].type);
      EXPECT_EQ(got->data, a.events[i].data);
      if (a.acknowledged) {
        EXPECT_EQ(got->position, a.result.first_position + static_cast<int64_t>(i));
        EXPECT_EQ(got->version, a.result.first_version + static_cast<int64_t>(i));
      }
    }
  }
  EXPECT_EQ(known, log.size()) << "the log holds events nobody appended";
  return unacknowledged_present;
}

class StoreFaultsTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<EventStore>> Open() {
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    options.vfs = vfs_.name();
    return OpenSqliteEventStore(options);
  }

  void Reopen() {
    store_.reset();
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }

  // Appends and records the attempt; returns the store's answer.
  Result<AppendResult> Append(const std::string& stream, std::vector<EventData> events) {
    Attempt attempt{stream, events};
    auto result = store_->Append(stream, ExpectedVersion::Any(), std::move(events));
    attempt.acknowledged = result.ok();
    if (result.ok()) attempt.result = *result;
    attempts_.push_back(std::move(attempt));
    return result;
  }

  void AppendOk(const std::string& stream, int n, size_t data_bytes = 0) {
    auto result = Append(stream, Events(n, data_bytes));
    ASSERT_TRUE(result.ok()) << result.error().message;
  }

  // Declared first: the VFS outlives every connection, the folder every file.
  FaultVfs vfs_;
  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::vector<Attempt> attempts_;

  void SetUp() override { Reopen(); }
};

TEST_F(StoreFaultsTest, EveryCommitIsMadeDurableThroughTheVfs) {
  const int64_t before = vfs_.Syncs(kWal);
  for (int i = 0; i < 3; ++i) AppendOk("s", 1);
  // The writer's own fsync of the WAL goes through the store's VFS: one per sequential commit.
  EXPECT_EQ(vfs_.Syncs(kWal) - before, 3);
}

TEST_F(StoreFaultsTest, AnUnknownVfsIsAClearError) {
  SqliteStoreOptions options;
  options.path = dir_.File("other.sqlite");
  options.vfs = "no-such-vfs";
  auto store = OpenSqliteEventStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.error().message, "no such vfs: no-such-vfs")) << store.error().message;
}

// The fsync fails and the kernel drops what it could not write (fsyncgate): the commit is not
// acknowledged, the store refuses writes even once the disk is fine again, and a reopen recovers
// exactly what was acknowledged.
TEST_F(StoreFaultsTest, AFailedFsyncRefusesWritesUntilReopenedAndLosesNothingAcknowledged) {
  AppendOk("a", 3);
  AppendOk("b", 2);
  AppendOk("a", 1);
  vfs_.FailSyncs(1, kWal, /*lose_writes=*/true);

  auto failed = Append("a", Events(3));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(failed.error().message, "fsync failure after position 6"))
      << failed.error().message;
  EXPECT_TRUE(Contains(failed.error().message, "reopen")) << failed.error().message;
  EXPECT_EQ(vfs_.Faults(), 1);

  vfs_.Clear();  // the disk is fine again, but what the OS kept of the file is not known
  for (const char* stream : {"a", "b", "new"}) {
    auto refused = Append(stream, Events(1));
    ASSERT_FALSE(refused.ok()) << stream;
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_TRUE(Contains(refused.error().message, "fsync failure")) << refused.error().message;
    EXPECT_TRUE(Contains(refused.error().message, "until it is reopened"))
        << refused.error().message;
  }
  EXPECT_EQ(*store_->HeadPosition(), 6);
  EXPECT_EQ(*store_->StreamVersion("a"), 4);

  Reopen();
  // The failed commit's writes were lost with the failed fsync, so it is not there.
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  EXPECT_EQ(*store_->StreamVersion("a"), 4);
  auto next = store_->Append("a", ExpectedVersion::Exact(4), Events(2));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 7);
  EXPECT_EQ(next->first_version, 5);
}

// The fsync fails but the data reached the disk after all: reads go on while writes are
// refused, and after the reopen the failed commit is wholly there or absent.
TEST_F(StoreFaultsTest, ReadsGoOnWhileAFailedFsyncRefusesWrites) {
  AppendOk("a", 2);
  AppendOk("b", 3);
  vfs_.FailSyncs(1, kWal);
  ASSERT_FALSE(Append("a", Events(4)).ok());
  ASSERT_EQ(Append("c", Events(1)).error().code, ErrorCode::kUnavailable);

  // Only what was acknowledged is visible, though the failed commit is in the WAL.
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  auto a = store_->ReadStream("a", {});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->events.size(), 2u);
  EXPECT_EQ(a->stream_version, 2);
  EXPECT_EQ(store_->ReadStream("c", {}).error().code, ErrorCode::kNotFound);
  auto streams = store_->ListStreams("", 10);
  ASSERT_TRUE(streams.ok());
  EXPECT_EQ(streams->streams.size(), 2u);

  vfs_.Clear();
  Reopen();
  const int present = ExpectLogHolds(*store_, attempts_);
  EXPECT_LE(present, 1);  // the failed commit, whole, if at all
  const int64_t version = *store_->StreamVersion("a");
  EXPECT_EQ(version, present ? 6 : 2);
  auto next = store_->Append("a", ExpectedVersion::Exact(version), Events(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
}

// Appends from many threads while an fsync fails: whatever was acknowledged is there after the
// reopen at the position it was given, and every other append is wholly there or absent.
TEST_F(StoreFaultsTest, ConcurrentAppendsAroundAFailedFsyncLoseNothingAcknowledged) {
  constexpr int kThreads = 6;
  std::mutex mu;
  std::atomic<int> acknowledged{0}, fsync_failures{0};
  std::atomic<bool> inject{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string stream = "s-" + std::to_string(t % 3);
      for (int i = 0; i < 2000; ++i) {
        auto events = Events(1 + (i % 3));
        Attempt attempt{stream, events};
        auto result = store_->Append(stream, ExpectedVersion::Any(), std::move(events));
        attempt.acknowledged = result.ok();
        if (result.ok()) attempt.result = *result;
        {
          std::lock_guard guard(mu);
          attempts_.push_back(std::move(attempt));
        }
        if (!result.ok()) {
          if (Contains(result.error().message, "fsync failure")) ++fsync_failures;
          return;
        }
        if (acknowledged.fetch_add(1) == 100) inject = true;
      }
    });
  }
  while (!inject) std::this_thread::yield();
  vfs_.FailSyncs(1, kWal, /*lose_writes=*/true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(vfs_.Faults(), 1);
  EXPECT_GT(acknowledged.load(), 100);
  EXPECT_GE(fsync_failures.load(), 1);

  vfs_.Clear();
  Reopen();
  ExpectLogHolds(*store_, attempts_);
  auto next = store_->Append("s-0", ExpectedVersion::Any(), Events(1));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, static_cast<int64_t>(WholeLog(*store_).size()));
}

// Asynchronous appends in flight when an fsync fails: each one fails (none is acknowledged, as
// for blocking appends), each is called back once, and the log holds each wholly or not at all.
TEST_F(StoreFaultsTest, AFailedFsyncFailsEveryAsyncAppendInFlight) {
  AppendOk("a", 2);
  constexpr int kAppends = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<AppendResult>>> outcomes(kAppends);
  int called = 0;
  auto submit = [&](int i) {
    auto events = Events(1 + i % 3);
    attempts_.push_back(Attempt{"s-" + std::to_string(i % 4), events});
    store_->AppendAsync(attempts_.back().stream, ExpectedVersion::Any(), std::move(events),
                        [&, i](Result<AppendResult> result) {
                          std::lock_guard guard(mu);
                          if (!outcomes[static_cast<size_t>(i)]) ++called;
                          outcomes[static_cast<size_t>(i)].emplace(std::move(result));
                          cv.notify_all();
                        });
  };
  // The first append's fsync waits while the rest queue up behind it, then fails.
  vfs_.HoldSyncs(kWal);
  submit(0);
  vfs_.WaitForHeldSync();
  for (int i = 1; i < kAppends; ++i) submit(i);
  vfs_.FailSyncs(1, kWal, /*lose_writes=*/true);
  vfs_.ReleaseSyncs();
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::minutes(1), [&] { return called == kAppends; });
    ASSERT_EQ(called, kAppends);
  }
  EXPECT_EQ(vfs_.Faults(), 1);
  for (int i = 0; i < kAppends; ++i) {
    const Result<AppendResult>& r = *outcomes[static_cast<size_t>(i)];
    ASSERT_FALSE(r.ok()) << i << " was acknowledged";
    EXPECT_TRUE(Contains(r.error().message, "fsync failure")) << i << ": " << r.error().message;
  }
  EXPECT_EQ(outcomes[0]->error().code, ErrorCode::kIOError);

  vfs_.Clear();
  Reopen();
  ExpectLogHolds(*store_, attempts_);
}

// A full disk: the commit fails with a clear error and nothing of it is written; the store is
// not refused, and takes appends again as soon as there is space, without a reopen.
TEST_F(StoreFaultsTest, ADiskFullFailsTheCommitAndTheStoreGoesOnOnceThereIsSpace) {
  AppendOk("a", 2);
  AppendOk("b", 1);
  // Room for a few pages of the WAL, not for this commit: SQLite writes part of it, then fails.
  vfs_.DiskFullAfter(20000, kWal);
  for (int i = 0; i < 2; ++i) {
    auto full = Append("a", Events(20, 1000));
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.error().code, ErrorCode::kIOError);
    EXPECT_TRUE(full.error().message.starts_with("disk full: ")) << full.error().message;
    EXPECT_TRUE(Contains(full.error().message, "nothing of this commit was written"))
        << full.error().message;
  }
  EXPECT_GE(vfs_.Faults(), 2);
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);

  vfs_.Clear();  // space again
  auto next = Append("a", Events(20, 1000));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->first_position, 4);  // the failed commits took no positions
  EXPECT_EQ(next->first_version, 3);
  AppendOk("b", 2);
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);

  Reopen();
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  EXPECT_EQ(*store_->HeadPosition(), 25);
}

// A short write of the WAL is how the unix VFS sees a disk that fills up mid-write (SQLITE_FULL):
// the same clear error, and the next append goes through.
TEST_F(StoreFaultsTest, AShortWriteIsADiskFullErrorAndTheNextAppendGoesThrough) {
  AppendOk("a", 2);
  vfs_.ShortWrites(1, SQLITE_FULL, kWal);
  auto failed = Append("a", Events(3, 500));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(failed.error().message.starts_with("disk full: ")) << failed.error().message;
  EXPECT_EQ(vfs_.Faults(), 1);
  AppendOk("a", 2);
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  Reopen();
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  EXPECT_EQ(*store_->StreamVersion("a"), 4);
}

// A short write that is a device error (EIO) cannot be judged from inside: the store refuses
// writes until it is reopened, and recovery drops the half-written commit.
TEST_F(StoreFaultsTest, AShortWriteThatIsADeviceErrorRefusesWritesUntilReopened) {
  AppendOk("a", 2);
  vfs_.ShortWrites(1, SQLITE_IOERR_WRITE, kWal);
  auto failed = Append("a", Events(3, 500));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(failed.error().message, "failed to commit")) << failed.error().message;
  auto refused = Append("a", Events(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(Contains(refused.error().message, "until it is reopened")) << refused.error().message;
  Reopen();
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  AppendOk("a", 1);
  EXPECT_EQ(*store_->StreamVersion("a"), 3);
}

// Appends until the WAL is long enough for the writer to checkpoint it into the database file.
// Returns the first failed append's error, if any.
std::optional<Error> AppendUntilCheckpointed(EventStore& store, FaultVfs& vfs,
                                             std::vector<Attempt>& attempts) {
  const int64_t syncs = vfs.Syncs(kMainDb);  // opening syncs it too
  const int64_t faults = vfs.Faults();
  for (int i = 0; i < 400 && vfs.Syncs(kMainDb) == syncs && vfs.Faults() == faults; ++i) {
    Attempt attempt{"big-" + std::to_string(i % 7), Events(5, 4000)};
    auto result = store.Append(attempt.stream, ExpectedVersion::Any(), attempt.events);
    attempt.acknowledged = result.ok();
    if (result.ok()) attempt.result = *result;
    attempts.push_back(std::move(attempt));
    if (!result.ok()) return result.error();
  }
  return std::nullopt;
}

// A checkpoint that runs out of space is not a failed commit: the commit is in the WAL, and is
// acknowledged; the checkpoint is tried again later.
TEST_F(StoreFaultsTest, ACheckpointThatRunsOutOfSpaceFailsNoAppend) {
  AppendOk("a", 1);
  vfs_.DiskFullAfter(0, kMainDb);
  auto error = AppendUntilCheckpointed(*store_, vfs_, attempts_);
  EXPECT_FALSE(error) << error->message;
  ASSERT_GE(vfs_.Faults(), 1) << "no checkpoint was tried";
  // More commits, each trying the checkpoint again, still fine.
  for (int i = 0; i < 5; ++i) AppendOk("a", 3, 2000);
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  vfs_.Clear();
  AppendOk("a", 1);
  Reopen();
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
  AppendOk("a", 1);
}

// An fsync that fails in a checkpoint refuses writes like one of the WAL: what the files hold is
// no longer known.
TEST_F(StoreFaultsTest, AFailedFsyncInACheckpointRefusesWritesUntilReopened) {
  AppendOk("a", 1);
  vfs_.FailSyncs(1, kMainDb);
  auto error = AppendUntilCheckpointed(*store_, vfs_, attempts_);
  ASSERT_TRUE(error) << "no checkpoint was tried";
  EXPECT_EQ(error->code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(error->message, "fsync failure")) << error->message;
  EXPECT_TRUE(Contains(error->message, "checkpoint")) << error->message;
  auto refused = Append("a", Events(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  vfs_.Clear();
  Reopen();
  EXPECT_LE(ExpectLogHolds(*store_, attempts_), 1);
  AppendOk("a", 1);
}

// Faults on any file while the store is opened give an error, never a store that half works.
TEST_F(StoreFaultsTest, OpeningOnAFullDiskIsAClearError) {
  store_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(dir_.File(std::string("events.sqlite") + suffix));
  }
  vfs_.DiskFullAfter(0, kAnyFile);
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(store.error().message, "full")) << store.error().message;
  vfs_.Clear();
  Reopen();
  AppendOk("a", 1);
  EXPECT_EQ(ExpectLogHolds(*store_, attempts_), 0);
}

}  // namespace
}  // namespace evs
