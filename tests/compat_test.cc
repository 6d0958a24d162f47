// Data of the previous release opens and goes on: tests/data/wave1 is a data folder written by
// the release before the durable head file and the checkpoint store's subscription_states table
// (tests/data/make-wave1-fixture says how it was made). A copy of it is opened with this code:
// the store (by its owner and by the read-only view, which finds no head file), the carts, the
// checkpoint store with its parked event, the cart-summary read model and the archive. It was
// also written before schema versions: its ItemAdded events are at version 1 and are read
// through the cart's upcaster (their stored bytes never change).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/projection.h"
#include "evs/repository.h"
#include "evs/subscription.h"
#include "evs/verify.h"
#include "read_model_dump.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

class PreviousReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::copy(std::string(EVS_TEST_DATA) + "/wave1", dir_.path(),
                          std::filesystem::copy_options::recursive);
    std::ifstream in(dir_.File("expected.json"));
    expected_ = nlohmann::json::parse(in);
    for (const auto& cart : expected_["carts"]) ids_.push_back(cart["cart_id"]);
    ASSERT_EQ(ids_.size(), 4u);
  }
  int64_t Head() const { return expected_["head"].get<int64_t>(); }

  Result<std::unique_ptr<EventStore>> OpenOwner() {
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    return OpenSqliteEventStore(options);
  }

  // The cart as the previous release showed it: every field it had is the same, and the
  // currency added since is the one version-1 prices were in.
  static void ExpectSameCart(const nlohmann::json& actual, const nlohmann::json& expected) {
    for (const auto& [key, value] : expected.items()) EXPECT_EQ(actual[key], value) << key;
    EXPECT_EQ(actual["currency"], "USD");
  }

  static RepositoryOptions CartOptions() {
    RepositoryOptions options;
    options.upcaster = cart::CartUpcaster();
    return options;
  }

  testing::TempDir dir_;
  nlohmann::json expected_;
  std::vector<std::string> ids_;
};

TEST_F(PreviousReleaseTest, AStoreOfThePreviousReleaseTakesALifecycleAndCompacts) {
  {
    // The read-only view reads it before any owner added the lifecycle table.
    auto view = OpenSqliteEventStoreReader(dir_.File("events.sqlite"));
    ASSERT_TRUE(view.ok()) << view.error().message;
    EXPECT_EQ(*(*view)->StreamVersion("cart-" + ids_[0]),
              expected_["carts"][0]["version"].get<int64_t>());
  }
  auto store = OpenOwner();
  ASSERT_TRUE(store.ok()) << store.error().message;
  const std::string gone = "cart-" + ids_[0];
  ASSERT_TRUE((*store)->DeleteStream(gone, DeleteMode::kHard).ok());
  // Created before incremental vacuum: scavenged, but the file keeps its pages...
  auto report = (*store)->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report->events_scavenged, 0);
  EXPECT_FALSE(report->file_shrinks);
  // ...until compacted once, which converts it; the log is the same after.
  auto before = (*store)->ReadLog(0, 10000);
  ASSERT_TRUE(before.ok());
  ScavengeOptions compact;
  compact.compact = true;
  report = (*store)->Scavenge(compact);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->file_shrinks);
  store->reset();
  store = OpenOwner();
  ASSERT_TRUE(store.ok());
  auto after = (*store)->ReadLog(0, 10000);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->events.size(), before->events.size());
  for (size_t i = 0; i < after->events.size(); ++i) {
    EXPECT_EQ(after->events[i].id, before->events[i].id);
    EXPECT_EQ(after->events[i].data, before->events[i].data);
  }
  EXPECT_EQ((*store)->ReadStream(gone, {}).error().code, ErrorCode::kStreamDeleted);
  report = (*store)->Scavenge();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->file_shrinks);  // incremental from now on
  EXPECT_EQ(report->events_scavenged, 0);
}

TEST_F(PreviousReleaseTest, TheReadOnlyViewReadsAStoreWithoutAHeadFile) {
  ASSERT_FALSE(std::filesystem::exists(dir_.File("events.sqlite-head")));
  auto reader = OpenSqliteEventStoreReader(dir_.File("events.sqlite"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(*(*reader)->HeadPosition(), Head());
  auto log = (*reader)->ReadLog(0, 100);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(static_cast<int64_t>(log->events.size()), Head());
  for (size_t i = 0; i < log->events.size(); ++i) {
    EXPECT_EQ(log->events[i].position, static_cast<int64_t>(i) + 1);
  }
}

TEST_F(PreviousReleaseTest, CartsReadTheSameAndTakeNewEvents) {
  auto store = OpenOwner();
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->HeadPosition(), Head());
  EXPECT_TRUE(std::filesystem::exists(dir_.File("events.sqlite-head")));
  Repository<cart::Cart> repo(**store, CartOptions());
  for (const auto& expected : expected_["carts"]) {
    auto cart = repo.Fetch(expected["cart_id"]);
    ASSERT_TRUE(cart.ok()) << cart.error().message;
    ExpectSameCart(nlohmann::json(cart->ToJson()), expected);
  }
  // Without the upcaster the old events are a clear error, not a misread.
  Repository<cart::Cart> without(**store);
  auto refused = without.Fetch(ids_[0]);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(refused.error().message.find("schema version 1"), std::string::npos)
      << refused.error().message;

  // New events (version 2) go on the old streams, beside the old ones.
  auto added = repo.Execute(ids_[0], [](cart::Cart& c) { return c.AddItem("plum", 2, 75); });
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(added->version(), expected_["carts"][0]["version"].get<int64_t>() + 1);
  auto stored = (*store)->ReadStream("cart-" + ids_[0], {.from = added->version(), .limit = 1});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->events[0].metadata, R"({"schema_version":2})");
  Repository<cart::Cart> fresh(**store, CartOptions());
  auto reread = fresh.Fetch(ids_[0]);
  ASSERT_TRUE(reread.ok()) << reread.error().message;
  EXPECT_EQ(reread->ToJson(), added->ToJson());
  EXPECT_EQ(reread->items().at("plum").quantity, 2);
  EXPECT_EQ(*(*store)->HeadPosition(), Head() + 1);
  // The read-only view now goes by the head file the owner wrote.
  auto reader = OpenSqliteEventStoreReader(dir_.File("events.sqlite"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(*(*reader)->HeadPosition(), Head() + 1);
}

TEST_F(PreviousReleaseTest, CheckpointsAndParkedEventsCarryOn) {
  auto store = OpenOwner();
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto checkpoints = OpenSqliteCheckpointStore(dir_.File("feed.sqlite"));
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
  auto saved = (*checkpoints)->Load("event-log");
  ASSERT_TRUE(saved.ok() && saved->has_value());
  EXPECT_EQ(**saved, std::to_string(expected_["event_log_checkpoint"].get<int64_t>()));
  EXPECT_EQ(*(*checkpoints)->CountParked("event-log"), 1);
  auto parked = (*checkpoints)->ListParked("event-log", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].event.position, 2);

  // The subscription resumes after its old checkpoint, and a retry asked for the old parked
  // event is delivered and settled.
  struct Recorder : EventHandler {
    std::vector<int64_t> positions;
    std::mutex mu;
    Status Handle(std::span<const RecordedEvent> batch) override {
      std::lock_guard guard(mu);
      for (const auto& e : batch) positions.push_back(e.position);
      return OkStatus();
    }
  } handler;
  ASSERT_TRUE((*checkpoints)->RequestRetry((*parked)[0].id).ok());
  SubscriptionOptions options;
  options.name = "event-log";
  options.idle_wait = 20ms;
  auto sub = Subscription::Start(**store, **checkpoints, handler, options);
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  ASSERT_TRUE((*sub)->WaitUntil(Head(), 10s));
  for (int i = 0; i < 500 && *(*checkpoints)->CountParked("event-log") > 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(*(*checkpoints)->CountParked("event-log"), 0);
  std::lock_guard guard(handler.mu);
  std::vector<int64_t> wanted{2};  // the parked one, then what came after the checkpoint
  for (int64_t p = expected_["event_log_checkpoint"].get<int64_t>() + 1; p <= Head(); ++p) {
    wanted.push_back(p);
  }
  std::sort(handler.positions.begin(), handler.positions.end());
  std::sort(wanted.begin(), wanted.end());
  EXPECT_EQ(handler.positions, wanted);
}

TEST_F(PreviousReleaseTest, TheReadModelCatchesUpAndTheArchiveGoesOn) {
  auto store = OpenOwner();
  ASSERT_TRUE(store.ok()) << store.error().message;
  cart::CartSummaryProjection projection;
  ProjectionOptions options;
  options.path = dir_.File("cart_summary.sqlite");
  options.upcaster = cart::CartUpcaster();
  auto runner = ProjectionRunner::Open(**store, projection, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(Head(), 10s));
  Repository<cart::Cart> repo(**store, CartOptions());
  testing::ExpectReadModelMatchesCarts(options.path, repo, ids_);

  DirectoryObjectStoreOptions archive_options;
  archive_options.path = dir_.File("archive");
  archive_options.create_if_missing = false;
  auto archive = OpenDirectoryObjectStore(archive_options);
  ASSERT_TRUE(archive.ok()) << archive.error().message;
  auto report = Verify(store->get(), archive->get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << ::testing::PrintToString(report->problems);
  auto stats = ArchiveOnce(**store, **archive, ArchiverOptions{});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->archived_up_to, Head());
  report = Verify(store->get(), archive->get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << ::testing::PrintToString(report->problems);
  EXPECT_EQ(report->archive_events, Head());
}

// The previous release's archive (positions 1-9), with the rest of its store archived by this
// code, replays through the cart's upcaster to the same carts.
TEST_F(PreviousReleaseTest, TheArchiveReplaysToTheSameCarts) {
  DirectoryObjectStoreOptions archive_options;
  archive_options.path = dir_.File("archive");
  archive_options.create_if_missing = false;
  auto objects = OpenDirectoryObjectStore(archive_options);
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  {
    auto store = OpenOwner();
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE(ArchiveOnce(**store, **objects, ArchiverOptions{}).ok());
  }
  auto archive = ArchiveReader::Open(**objects);
  ASSERT_TRUE(archive.ok()) << archive.error().message;
  struct Carts : EventHandler {
    std::map<std::string, cart::Cart> carts;
    Status Handle(std::span<const RecordedEvent> batch) override {
      for (const RecordedEvent& e : batch) {
        auto event = cart::CartEvents::Decode(e);
        if (!event.ok()) return event.error();
        const std::string id = e.stream_id.substr(std::string("cart-").size());
        carts.try_emplace(id, id).first->second.Apply(*event);
      }
      return OkStatus();
    }
  } replayed;
  ReplayOptions replay;
  replay.upcaster = cart::CartUpcaster();
  auto result = (*archive)->Replay(replay, replayed);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(replayed.carts.size(), ids_.size());
  for (const auto& expected : expected_["carts"]) {
    nlohmann::json actual = replayed.carts.at(expected["cart_id"]).ToJson();
    actual["version"] = expected["version"];  // Apply() alone does not count versions
    ExpectSameCart(actual, expected);
  }
  // A restore copies the stored bytes and refuses to upcast them.
  EXPECT_EQ(RestoreSqliteEventStore(**archive, replay, dir_.File("restored.sqlite")).error().code,
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace evs
