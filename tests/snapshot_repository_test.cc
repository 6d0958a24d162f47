// Snapshots are a cache, never the truth: random command sequences on carts, run with snapshots
// every 1, 7 and 50 events and without, give identical state and versions after every fetch,
// across restarts, a deleted snapshot file, damaged snapshots, snapshots of another state
// version and snapshots left from another history.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

#include "cart/cart.h"
#include "evs/event_store.h"
#include "evs/repository.h"
#include "evs/snapshot.h"
#include "temp_dir.h"

namespace evs {
namespace {

// One way of running the carts: its own store, snapshot store and policy.
struct CartRun {
  int64_t every = 0;  // 0: no snapshot store at all
  std::string dir;
  std::unique_ptr<EventStore> store;
  std::shared_ptr<SnapshotStore> snapshots;
  std::unique_ptr<Repository<cart::Cart>> repo;
  RepositorySnapshotStats before_restarts;  // what earlier repositories did

  int64_t UsedInAll() const {
    return before_restarts.used + (repo ? repo->snapshot_stats().used : 0);
  }
  int64_t FailedInAll() const {
    return before_restarts.failed + (repo ? repo->snapshot_stats().failed : 0);
  }

  std::string StorePath() const { return dir + "/events.sqlite"; }

  void Open() {
    if (repo) {
      before_restarts.used += repo->snapshot_stats().used;
      before_restarts.failed += repo->snapshot_stats().failed;
    }
    repo.reset();
    snapshots.reset();
    store.reset();
    SqliteStoreOptions options;
    options.path = StorePath();
    options.durable = false;  // restarts here are clean closes; power loss is tested elsewhere
    auto opened = OpenSqliteEventStore(options);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(opened).value();
    RepositoryOptions repository;
    repository.cache_capacity = 0;  // every fetch goes to the snapshot and the store
    repository.upcaster = cart::CartUpcaster();
    if (every > 0) {
      auto snapshot_store = OpenSqliteSnapshotStore(SnapshotPathFor(StorePath()));
      ASSERT_TRUE(snapshot_store.ok()) << snapshot_store.error().message;
      snapshots = std::move(snapshot_store).value();
      repository.snapshots = snapshots;
      repository.snapshot_every = every;
    }
    repo = std::make_unique<Repository<cart::Cart>>(*store, repository);
  }
};

const char* const kItems[] = {"apple", "pear", "fig", "plum", "kiwi"};

// One random command, the same on every setup: the draw decides it, the cart's state the
// outcome (equal states give equal outcomes).
Status Command(cart::Cart& c, uint32_t draw) {
  const std::string item = kItems[draw % 5];
  const int64_t quantity = 1 + (draw >> 3) % 4;
  const uint32_t kind = (draw >> 8) % 400;
  if (kind == 0) return c.Checkout();  // rare: a checked-out cart takes no more commands
  if (kind < 120) return c.RemoveItem(item, quantity);
  return c.AddItem(item, quantity, 10 * (1 + draw % 5));
}

class SnapshotRepositoryTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SnapshotRepositoryTest, SameStateWithAndWithoutSnapshots) {
  testing::TempDir dir;
  std::vector<CartRun> setups(4);
  const int64_t policies[] = {0, 1, 7, 50};
  for (size_t i = 0; i < setups.size(); ++i) {
    setups[i].every = policies[i];
    setups[i].dir = dir.File("setup-" + std::to_string(policies[i]));
    std::filesystem::create_directories(setups[i].dir);
    setups[i].Open();
  }
  std::mt19937 random(GetParam());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Uuid::Random().ToString());
  for (CartRun& s : setups) {
    for (const std::string& id : ids) {
      ASSERT_TRUE(s.repo->Create(id, [](cart::Cart& c) { return c.Open(); }).ok());
    }
  }
  auto expect_same = [&](const std::string& id, const char* when) {
    auto reference = setups[0].repo->Fetch(id);
    ASSERT_TRUE(reference.ok()) << reference.error().message;
    for (size_t i = 1; i < setups.size(); ++i) {
      auto cart = setups[i].repo->Fetch(id);
      ASSERT_TRUE(cart.ok()) << cart.error().message;
      ASSERT_EQ(cart->ToJson(), reference->ToJson())
          << when << ", snapshots every " << setups[i].every;
      ASSERT_EQ(cart->version(), reference->version());
    }
  };

  constexpr int kCommands = 1000;
  for (int n = 0; n < kCommands; ++n) {
    const std::string& id = ids[random() % ids.size()];
    const uint32_t draw = static_cast<uint32_t>(random());
    std::optional<ErrorCode> outcome;
    for (CartRun& s : setups) {
      auto done = s.repo->Execute(id, [&](cart::Cart& c) { return Command(c, draw); });
      std::optional<ErrorCode> code;
      if (!done.ok()) code = done.error().code;
      if (&s == &setups[0]) {
        outcome = code;
      } else {
        ASSERT_EQ(code, outcome) << "command " << n << ", snapshots every " << s.every;
      }
    }
    expect_same(id, "after a command");
    if (HasFatalFailure()) return;

    if (n % 250 == 249) {  // a restart of every setup
      for (CartRun& s : setups) s.Open();
      for (const std::string& cart : ids) expect_same(cart, "after a restart");
    }
    if (n == 500) {  // the snapshot file deleted while stopped
      for (CartRun& s : setups) {
        s.Open();  // counts what the repository did
        s.repo.reset();
        s.snapshots.reset();
        std::filesystem::remove(SnapshotPathFor(s.StorePath()));
        std::filesystem::remove(SnapshotPathFor(s.StorePath()) + "-wal");
        std::filesystem::remove(SnapshotPathFor(s.StorePath()) + "-shm");
        s.Open();
      }
      for (const std::string& cart : ids) expect_same(cart, "after the snapshots were deleted");
    }
    if (n == 750) {  // damaged snapshots and snapshots of another state version
      for (CartRun& s : setups) {
        if (!s.snapshots) continue;
        for (size_t c = 0; c < ids.size(); ++c) {
          auto kept = s.snapshots->Load(cart::Cart::StreamIdFor(ids[c]));
          ASSERT_TRUE(kept.ok());
          if (!*kept) continue;
          Snapshot bad = **kept;
          if (c % 2 == 0) {
            bad.state = R"({"status":"open","items":[{"name":1}]})";
          } else {
            bad.schema_version = cart::Cart::kSnapshotVersion + 1;
          }
          ASSERT_TRUE(s.snapshots->Save(bad).ok());
        }
      }
      for (const std::string& cart : ids) expect_same(cart, "with damaged snapshots");
    }
  }
  for (const std::string& cart : ids) expect_same(cart, "at the end");
  // The snapshots were used (this test would pass without them otherwise).
  for (size_t i = 1; i < setups.size(); ++i) {
    EXPECT_GT(setups[i].UsedInAll(), 0) << "every " << setups[i].every;
    EXPECT_EQ(setups[i].FailedInAll(), 0) << "every " << setups[i].every;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SnapshotRepositoryTest, ::testing::Values(1u, 2u, 3u));

// Snapshots left beside a store that was replaced (another history with the same stream ids):
// the event at the snapshot's version is not the one it was taken after, so it is ignored and
// replaced.
TEST(SnapshotRepository, SnapshotsOfAnotherHistoryAreIgnored) {
  testing::TempDir dir;
  const std::string path = dir.File("events.sqlite");
  auto snapshots = std::shared_ptr<SnapshotStore>(NewMemorySnapshotStore());
  const RepositoryOptions with_snapshots{
      .cache_capacity = 0, .snapshots = snapshots, .snapshot_every = 1};
  const std::string id = Uuid::Random().ToString();
  // Writes the cart's two events (the price makes the history) and returns the store.
  auto write = [&](int64_t price, const RepositoryOptions& options) {
    SqliteStoreOptions store_options;
    store_options.path = path;
    auto store = OpenSqliteEventStore(store_options);
    EXPECT_TRUE(store.ok());
    Repository<cart::Cart> repo(**store, options);
    EXPECT_TRUE(repo.Create(id, [](cart::Cart& c) { return c.Open(); }).ok());
    EXPECT_TRUE(repo.Execute(id, [&](cart::Cart& c) { return c.AddItem("tea", 1, price); }).ok());
    return std::move(store).value();
  };
  write(100, with_snapshots).reset();
  EXPECT_EQ((*snapshots->Load(cart::Cart::StreamIdFor(id)))->version, 2);
  for (const char* suffix : {"", "-wal", "-shm", "-head"}) std::filesystem::remove(path + suffix);
  // The same stream at the same versions, with other events, written without snapshots.
  auto store = write(250, RepositoryOptions{.cache_capacity = 0});

  Repository<cart::Cart> repo(*store, with_snapshots);
  auto fetched = repo.Fetch(id);
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->total_cents(), 250);
  EXPECT_EQ(repo.snapshot_stats().ignored, 1);
  EXPECT_EQ(repo.snapshot_stats().used, 0);
  // It was replaced by one of this history, which the next fetch uses.
  fetched = repo.Fetch(id);
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(fetched->total_cents(), 250);
  EXPECT_EQ(repo.snapshot_stats().used, 1);
}

TEST(SnapshotRepository, ExplicitSnapshotsAndTheirErrors) {
  auto store = NewMemoryEventStore();
  const std::string id = Uuid::Random().ToString();
  Repository<cart::Cart> bare(*store);
  auto opened = bare.Create(id, [](cart::Cart& c) { return c.Open(); });
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(bare.SaveSnapshot(*opened).error().code, ErrorCode::kUnsupported);

  auto snapshots = std::shared_ptr<SnapshotStore>(NewMemorySnapshotStore());
  Repository<cart::Cart> repo(*store,
                              RepositoryOptions{.cache_capacity = 0, .snapshots = snapshots});
  auto cart = repo.Fetch(id);
  ASSERT_TRUE(cart.ok());
  ASSERT_TRUE(cart->AddItem("tea", 2, 5).ok());
  EXPECT_EQ(repo.SaveSnapshot(*cart).error().code, ErrorCode::kInvalidArgument);  // pending
  auto stored = repo.Store(std::move(cart).value());
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE((*snapshots->Load(cart::Cart::StreamIdFor(id))).has_value());  // policy off
  ASSERT_TRUE(repo.SaveSnapshot(*stored).ok());
  auto kept = snapshots->Load(cart::Cart::StreamIdFor(id));
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->version, 2);
  EXPECT_EQ((*kept)->schema_version, cart::Cart::kSnapshotVersion);
  auto fetched = repo.Fetch(id);
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(fetched->ToJson(), stored->ToJson());
  EXPECT_EQ(repo.snapshot_stats().used, 1);
}

}  // namespace
}  // namespace evs
