// Projections: the cart-summary read model follows the feed, resumes exactly once, and
// rebuilds into a new generation while the old one serves.
#include "evs/projection.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <random>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "evs/repository.h"
#include "read_model_dump.h"
#include "store_factory.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

using testing::DumpCartReadModel;

class ProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Open({});
    ASSERT_NE(store_, nullptr);
  }

  // Random cart traffic: opens, adds, removes, checkouts.
  void Traffic(int commands, unsigned seed) {
    Repository<cart::Cart> repo(*store_);
    std::mt19937 random(seed);
    const char* items[] = {"apple", "pear", "plum", "fig"};
    for (int i = 0; i < commands; ++i) {
      if (ids_.empty() || random() % 5 == 0) {
        std::string id = Uuid::Random().ToString();
        ASSERT_TRUE(repo.Create(id, [](cart::Cart& c) { return c.Open(); }).ok());
        ids_.push_back(id);
        continue;
      }
      const std::string& id = ids_[random() % ids_.size()];
      const std::string item = items[random() % 4];
      (void)repo.Execute(id, [&](cart::Cart& c) {
        switch (random() % 6) {
          case 0:
            return c.RemoveItem(item, 1);
          case 1:
            return c.Checkout();
          default:
            return c.AddItem(item, 1 + random() % 3, 100 * (1 + item.size()));
        }
      });
    }
  }

  Result<std::unique_ptr<ProjectionRunner>> Runner(const std::string& file) {
    ProjectionOptions o;
    o.path = dir_.File(file);
    o.batch_size = 16;
    return ProjectionRunner::Open(*store_, projection_, o);
  }

  testing::SqliteFactory factory_;
  std::unique_ptr<EventStore> store_;
  testing::TempDir dir_;
  cart::CartSummaryProjection projection_;
  std::vector<std::string> ids_;
};

TEST_F(ProjectionTest, ReadModelMatchesTheAggregates) {
  Traffic(300, 1);
  auto runner = Runner("read.sqlite");
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  Repository<cart::Cart> repo(*store_);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("read.sqlite").c_str(), &db), SQLITE_OK);
  for (const auto& id : ids_) {
    auto cart = repo.Fetch(id);
    ASSERT_TRUE(cart.ok());
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT status, total_cents, version FROM cart_summaries "
                                 "WHERE cart_id = ?",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_STATIC);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))),
              cart::StatusName(cart->status()));
    EXPECT_EQ(sqlite3_column_int64(stmt, 1), cart->total_cents());
    EXPECT_EQ(sqlite3_column_int64(stmt, 2), cart->version());
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
}

TEST_F(ProjectionTest, StoppedAndRestartedEqualsAFreshBuild) {
  Traffic(200, 2);
  {
    auto runner = Runner("live.sqlite");
    ASSERT_TRUE(runner.ok());
    ASSERT_TRUE((*runner)->Start().ok());
    ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition() / 2, 20s));
    (*runner)->Stop();  // somewhere in the middle
  }
  Traffic(200, 3);
  auto restarted = Runner("live.sqlite");
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE((*restarted)->Start().ok());
  auto fresh = Runner("fresh.sqlite");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Start().ok());
  const int64_t head = *store_->HeadPosition();
  ASSERT_TRUE((*restarted)->WaitUntil(head, 20s));
  ASSERT_TRUE((*fresh)->WaitUntil(head, 20s));
  (*restarted)->Stop();
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(dir_.File("live.sqlite")),
            DumpCartReadModel(dir_.File("fresh.sqlite")));
}

TEST_F(ProjectionTest, RebuildSwapsInANewGenerationThatMatches) {
  Traffic(200, 4);
  auto runner = Runner("read.sqlite");
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  const std::string before = DumpCartReadModel(dir_.File("read.sqlite"));
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g1");
  int progress_calls = 0;
  ASSERT_TRUE((*runner)->Rebuild([&](int64_t, int64_t) { ++progress_calls; }).ok());
  EXPECT_GT(progress_calls, 0);
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
  EXPECT_EQ(DumpCartReadModel(dir_.File("read.sqlite")), before);
  Traffic(50, 5);  // the new generation follows the feed
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  (*runner)->Stop();
  auto fresh = Runner("fresh.sqlite");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Start().ok());
  ASSERT_TRUE((*fresh)->WaitUntil(*store_->HeadPosition(), 20s));
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(dir_.File("read.sqlite")),
            DumpCartReadModel(dir_.File("fresh.sqlite")));
}

}  // namespace
}  // namespace evs
