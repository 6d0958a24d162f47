// The repository and its cache on every backend, through the cart aggregate.
#include "evs/repository.h"

#include <gtest/gtest.h>

#include <atomic>
#include <concepts>
#include <memory>
#include <thread>

#include "cart/cart.h"
#include "store_factory.h"

namespace evs {
namespace {

using cart::Cart;

class RepositoryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    factory_ = testing::MakeFactory(GetParam());
    if (auto reason = factory_->SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }

  std::string OpenCart(Repository<Cart>& repo) {
    std::string id = Uuid::Random().ToString();
    auto created = repo.Create(id, [](Cart& c) { return c.Open(); });
    EXPECT_TRUE(created.ok()) << created.error().message;
    return id;
  }

  static auto Add(const std::string& name, int64_t quantity, int64_t price = 100) {
    return [=](Cart& c) { return c.AddItem(name, quantity, price); };
  }

  std::unique_ptr<testing::StoreFactory> factory_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(RepositoryTest, FetchOfAnUnknownIdIsNotFound) {
  Repository<Cart> repo(*store_);
  auto cart = repo.Fetch("no-such-cart");
  ASSERT_FALSE(cart.ok());
  EXPECT_EQ(cart.error().code, ErrorCode::kNotFound);
}

TEST_P(RepositoryTest, StoreThenFetchRebuildsTheSameState) {
  Repository<Cart> writer(*store_);
  std::string id = OpenCart(writer);
  ASSERT_TRUE(writer.Execute(id, Add("apple", 3, 50)).ok());
  auto stored = writer.Execute(id, Add("pear", 1, 120));
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->pending().empty());
  EXPECT_EQ(stored->version(), 3);

  Repository<Cart> reader(*store_, RepositoryOptions{.cache_capacity = 0});
  auto fetched = reader.Fetch(id);
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->version(), 3);
  EXPECT_EQ(fetched->ToJson(), stored->ToJson());
  EXPECT_EQ(fetched->total_cents(), 3 * 50 + 120);
  EXPECT_EQ(fetched->stream_id(), "cart-" + id);
}

TEST_P(RepositoryTest, StoreWithNothingPendingWritesNothing) {
  Repository<Cart> repo(*store_);
  std::string id = OpenCart(repo);
  auto cart = repo.Fetch(id);
  ASSERT_TRUE(cart.ok());
  auto same = repo.Store(*cart);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version(), 1);
  EXPECT_EQ(*store_->HeadPosition(), 1);
}

TEST_P(RepositoryTest, StaleAggregateConflictsAndTheCacheRefreshes) {
  Repository<Cart> repo(*store_);
  std::string id = OpenCart(repo);
  auto a = repo.Fetch(id);
  auto b = repo.Fetch(id);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->AddItem("apple", 1, 10).ok());
  ASSERT_TRUE(repo.Store(std::move(a).value()).ok());
  ASSERT_TRUE(b->AddItem("pear", 1, 10).ok());
  auto stale = repo.Store(std::move(b).value());
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kWrongExpectedVersion);
  auto fresh = repo.Fetch(id);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->version(), 2);
  EXPECT_EQ(fresh->items().count("apple"), 1u);
  EXPECT_EQ(fresh->items().count("pear"), 0u);
}

TEST_P(RepositoryTest, CachedAggregateCatchesUpWithWritesFromElsewhere) {
  Repository<Cart> cached(*store_);
  Repository<Cart> other(*store_, RepositoryOptions{.cache_capacity = 0});
  std::string id = OpenCart(cached);
  ASSERT_TRUE(cached.Fetch(id).ok());
  ASSERT_TRUE(other.Execute(id, Add("apple", 2)).ok());
  auto seen = cached.Fetch(id);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->version(), 2);
  EXPECT_EQ(seen->items().at("apple").quantity, 2);
}

TEST_P(RepositoryTest, ExecuteRetriesOnConflictWithFreshState) {
  Repository<Cart> repo(*store_);
  Repository<Cart> rival(*store_, RepositoryOptions{.cache_capacity = 0});
  std::string id = OpenCart(repo);
  int attempts = 0;
  auto result = repo.Execute(id, [&](Cart& c) {
    if (++attempts == 1) {
      EXPECT_TRUE(rival.Execute(id, Add("pear", 1)).ok());
    }
    return c.AddItem("apple", 1, 100);
  });
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(result->version(), 3);
  EXPECT_EQ(result->items().size(), 2u);
}

TEST_P(RepositoryTest, ExecuteGivesUpAfterTheRetryBound) {
  Repository<Cart> repo(*store_, RepositoryOptions{.max_conflict_retries = 2});
  Repository<Cart> rival(*store_, RepositoryOptions{.cache_capacity = 0});
  std::string id = OpenCart(repo);
  int attempts = 0;
  auto result = repo.Execute(id, [&](Cart& c) {
    ++attempts;
    EXPECT_TRUE(rival.Execute(id, Add("pear", 1)).ok());
    return c.AddItem("apple", 1, 100);
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kWrongExpectedVersion);
  EXPECT_EQ(attempts, 3);
}

TEST_P(RepositoryTest, DomainErrorStoresNothing) {
  Repository<Cart> repo(*store_);
  std::string id = OpenCart(repo);
  auto result = repo.Execute(id, [](Cart& c) { return c.Checkout(); });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kDomainRule);
  EXPECT_EQ(*store_->StreamVersion("cart-" + id), 1);
}

TEST_P(RepositoryTest, CreateOfAnExistingIdConflicts) {
  Repository<Cart> repo(*store_);
  std::string id = OpenCart(repo);
  auto again = repo.Create(id, [](Cart& c) { return c.Open(); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kWrongExpectedVersion);
}

TEST_P(RepositoryTest, LongStreamsAreReadInPages) {
  Repository<Cart> repo(*store_, RepositoryOptions{.cache_capacity = 0, .read_page_size = 4});
  std::string id = OpenCart(repo);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(repo.Execute(id, Add("apple", 1)).ok());
  auto cart = repo.Fetch(id);
  ASSERT_TRUE(cart.ok());
  EXPECT_EQ(cart->version(), 11);
  EXPECT_EQ(cart->items().at("apple").quantity, 10);
}

TEST_P(RepositoryTest, UnknownEventTypeIsAClearError) {
  Repository<Cart> repo(*store_);
  std::string id = OpenCart(repo);
  EventData odd;
  odd.type = "CartRenamed";
  ASSERT_TRUE(store_->Append("cart-" + id, ExpectedVersion::Any(), {odd}).ok());
  auto cart = repo.Fetch(id);
  ASSERT_FALSE(cart.ok());
  EXPECT_EQ(cart.error().code, ErrorCode::kUnknownEventType);
  EXPECT_NE(cart.error().message.find("CartRenamed"), std::string::npos);
  EXPECT_NE(cart.error().message.find("version 2"), std::string::npos);
}

TEST_P(RepositoryTest, EventDataThatDoesNotFitIsACorruptionError) {
  std::string id = Uuid::Random().ToString();
  EventData opened;
  opened.type = "CartOpened";
  EventData bad;
  bad.type = "ItemAdded";
  bad.data = R"({"name": 7})";
  ASSERT_TRUE(store_->Append("cart-" + id, ExpectedVersion::Any(), {opened, bad}).ok());
  Repository<Cart> repo(*store_, RepositoryOptions{.upcaster = cart::CartUpcaster()});
  auto cart = repo.Fetch(id);
  ASSERT_FALSE(cart.ok());
  EXPECT_EQ(cart.error().code, ErrorCode::kCorruption);
  EXPECT_NE(cart.error().message.find("ItemAdded"), std::string::npos);
}

TEST_P(RepositoryTest, ConcurrentCommandsOnOneCartAllLand) {
  Repository<Cart> repo(*store_, RepositoryOptions{.max_conflict_retries = 1000});
  std::string id = OpenCart(repo);
  constexpr int kThreads = 16;
  constexpr int kEach = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (repo.Execute(id, Add("apple", 1)).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  Repository<Cart> fresh(*store_, RepositoryOptions{.cache_capacity = 0});
  auto cart = fresh.Fetch(id);
  ASSERT_TRUE(cart.ok());
  EXPECT_EQ(cart->items().at("apple").quantity, kThreads * kEach);
  EXPECT_EQ(cart->version(), 1 + kThreads * kEach);
}

// What an aggregate needs (aggregate.h): the concept says yes to the cart and no, by name, to
// types that fall short; a move-only aggregate with a private Apply is stored and fetched.
struct Counted {
  static constexpr std::string_view kType = "Counted";
  int by = 1;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Counted, by)
struct NotJson {
  static constexpr std::string_view kType = "NotJson";
};
using CounterEvents = EventTypes<Counted>;

class Counter : public Aggregate<Counter, CounterEvents> {
 public:
  static constexpr std::string_view kCategory = "counter";
  explicit Counter(std::string id) : Aggregate(std::move(id)) {}
  Status Count(int by) {
    Raise(Counted{by});
    return OkStatus();
  }
  int total() const { return *total_; }

 private:
  friend Aggregate;
  void Apply(const Event& event) { *total_ += std::get<Counted>(event).by; }
  std::unique_ptr<int> total_ = std::make_unique<int>(0);  // makes it move-only
};

class NoCategory : public Aggregate<NoCategory, CounterEvents> {
 public:
  explicit NoCategory(std::string id) : Aggregate(std::move(id)) {}
  void Apply(const Event&) {}
};
class HiddenApply : public Aggregate<HiddenApply, CounterEvents> {
 public:
  static constexpr std::string_view kCategory = "hidden";
  explicit HiddenApply(std::string id) : Aggregate(std::move(id)) {}

 private:
  void Apply(const Event&) {}  // and no friend: the base cannot call it
};
class NoIdConstructor : public Aggregate<NoIdConstructor, CounterEvents> {
 public:
  static constexpr std::string_view kCategory = "no-id";
  NoIdConstructor() : Aggregate("fixed") {}
  void Apply(const Event&) {}
};
class UnstorableEvents : public Aggregate<UnstorableEvents, EventTypes<NotJson>> {
 public:
  static constexpr std::string_view kCategory = "unstorable";
  explicit UnstorableEvents(std::string id) : Aggregate(std::move(id)) {}
  void Apply(const Event&) {}
};

static_assert(AggregateRoot<Cart>);
static_assert(AggregateRoot<Counter> && !std::copyable<Counter>);
static_assert(!AggregateRoot<NoCategory> && !internal::HasCategory<NoCategory>);
static_assert(!AggregateRoot<HiddenApply> && !internal::HasApply<HiddenApply>);
static_assert(!AggregateRoot<NoIdConstructor> && !internal::ConstructibleFromId<NoIdConstructor>);
static_assert(!AggregateRoot<UnstorableEvents> && !StorableEvent<NotJson>);
static_assert(!AggregateRoot<std::string> && !internal::DerivesFromAggregate<std::string>);

TEST_P(RepositoryTest, AMoveOnlyAggregateWithAPrivateApplyIsStoredAndFetched) {
  Repository<Counter> repo(*store_);  // with a cache that it cannot use
  auto created = repo.Create("c1", [](Counter& c) { return c.Count(2); });
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto stored = repo.Execute("c1", [](Counter& c) { return c.Count(3); });
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->total(), 5);
  auto fetched = repo.Fetch("c1");
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->total(), 5);
  EXPECT_EQ(fetched->version(), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, RepositoryTest, testing::kBackends,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace evs
