// Projections with their read model in PostgreSQL (evs/postgres_projection.h): what
// projection_test.cc asks of the SQLite runner, asked of the PostgreSQL one (the store and the
// read models in databases of their own), plus what only a shared database needs: runners in
// several processes applying every event once, a failed batch leaving nothing behind, and the
// portable SQL (placeholders, values) on PostgreSQL. Against the private cluster of
// scripts/postgres (EVS_TEST_POSTGRES_URL; skipped when unset), except the translation tests.
#include "evs/postgres_projection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "cart_traffic.h"
#include "evs/postgres.h"
#include "evs/repository.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_placeholders.h"
#include "postgres/pg_read_model.h"
#include "postgres_test_env.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

// A value as text, for dumps and messages.
std::string Text(const SqlValue& value) {
  if (std::holds_alternative<std::nullptr_t>(value)) return "NULL";
  if (const auto* n = std::get_if<int64_t>(&value)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&value)) return std::to_string(*d);
  return std::get<std::string>(value);
}

std::vector<SqlRow> QueryRows(const std::string& url, const std::string& sql,
                              std::initializer_list<SqlValue> params = {}) {
  auto model = OpenPostgresReadModel(url);
  EXPECT_TRUE(model.ok()) << model.error().message;
  if (!model.ok()) return {};
  auto rows = (*model)->Query(sql, params);
  EXPECT_TRUE(rows.ok()) << rows.error().message;
  return rows.ok() ? std::move(rows).value() : std::vector<SqlRow>();
}

// Every row of the cart read model's views, as text, in a stable order.
std::string DumpCartReadModel(const std::string& url) {
  std::string out;
  for (const char* sql :
       {"SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries ORDER BY 1",
        "SELECT cart_id, name, quantity, unit_price_cents FROM cart_lines ORDER BY 1, 2",
        "SELECT name, quantity_added, quantity_removed, times_added FROM item_totals ORDER BY 1"}) {
    for (const SqlRow& row : QueryRows(url, sql)) {
      for (const SqlValue& value : row) out += Text(value) + '|';
      out += '\n';
    }
    out += "--\n";
  }
  return out;
}

int64_t Single(const std::string& url, const std::string& sql,
               std::initializer_list<SqlValue> params = {}) {
  auto rows = QueryRows(url, sql, params);
  if (rows.size() != 1 || rows[0].size() != 1 || !std::holds_alternative<int64_t>(rows[0][0])) {
    ADD_FAILURE() << "not one integer: " << sql;
    return -1;
  }
  return std::get<int64_t>(rows[0][0]);
}

class PostgresProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    store_db_ = std::make_unique<testing::PostgresTestDatabase>();
    ASSERT_FALSE(store_db_->url().empty());
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<EventStore> OpenStore() {
    PostgresStoreOptions options;
    options.url = store_db_->url();
    auto store = OpenPostgresEventStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // A database of its own for a read model (not the store's): its url.
  std::string ReadModelDatabase() {
    databases_.push_back(std::make_unique<testing::PostgresTestDatabase>());
    EXPECT_FALSE(databases_.back()->url().empty());
    return databases_.back()->url();
  }

  // Random cart traffic: opens, adds, removes, checkouts.
  void Traffic(int commands, unsigned seed) { testing::CartTraffic(*store_, ids_, commands, seed); }

  Result<std::unique_ptr<ProjectionRunner>> Runner(const std::string& url,
                                                   Projection* projection = nullptr) {
    PostgresProjectionOptions o;
    o.url = url;
    o.batch_size = 16;
    return OpenPostgresProjectionRunner(*store_, projection ? *projection : projection_, o);
  }

  // Each cart's row has the status, total and version of the cart as the repository fetches it.
  void ExpectReadModelMatchesCarts(const std::string& url) {
    Repository<cart::Cart> repo(*store_);
    auto model = OpenPostgresReadModel(url);
    ASSERT_TRUE(model.ok()) << model.error().message;
    for (const std::string& id : ids_) {
      auto cart = repo.Fetch(id);
      ASSERT_TRUE(cart.ok()) << cart.error().message;
      auto rows = (*model)->Query(
          "SELECT status, total_cents, version FROM cart_summaries WHERE cart_id = ?", {id});
      ASSERT_TRUE(rows.ok()) << rows.error().message;
      ASSERT_EQ(rows->size(), 1u) << "no row for cart " << id;
      EXPECT_EQ((*rows)[0][0], SqlValue(std::string(cart::StatusName(cart->status())))) << id;
      EXPECT_EQ((*rows)[0][1], SqlValue(int64_t{cart->total_cents()})) << id;
      EXPECT_EQ((*rows)[0][2], SqlValue(int64_t{cart->version()})) << id;
    }
  }

  std::unique_ptr<testing::PostgresTestDatabase> store_db_;
  std::vector<std::unique_ptr<testing::PostgresTestDatabase>> databases_;
  std::unique_ptr<EventStore> store_;
  cart::CartSummaryProjection projection_;
  std::vector<std::string> ids_;
};

TEST_F(PostgresProjectionTest, ReadModelMatchesTheAggregates) {
  Traffic(300, 1);
  const std::string url = ReadModelDatabase();
  auto runner = Runner(url);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  ExpectReadModelMatchesCarts(url);
  EXPECT_EQ(Single(url, "SELECT position FROM evs_projection_checkpoints WHERE name = ?",
                   {(*runner)->CheckpointName()}),
            *store_->HeadPosition());
}

TEST_F(PostgresProjectionTest, StoppedAndRestartedEqualsAFreshBuild) {
  Traffic(200, 2);
  const std::string live = ReadModelDatabase();
  {
    auto runner = Runner(live);
    ASSERT_TRUE(runner.ok()) << runner.error().message;
    ASSERT_TRUE((*runner)->Start().ok());
    ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition() / 2, 60s));
    (*runner)->Stop();  // somewhere in the middle
  }
  Traffic(200, 3);
  auto restarted = Runner(live);
  ASSERT_TRUE(restarted.ok()) << restarted.error().message;
  ASSERT_TRUE((*restarted)->Start().ok());
  const std::string fresh_url = ReadModelDatabase();
  auto fresh = Runner(fresh_url);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  ASSERT_TRUE((*fresh)->Start().ok());
  const int64_t head = *store_->HeadPosition();
  ASSERT_TRUE((*restarted)->WaitUntil(head, 60s));
  ASSERT_TRUE((*fresh)->WaitUntil(head, 60s));
  (*restarted)->Stop();
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(live), DumpCartReadModel(fresh_url));
  ExpectReadModelMatchesCarts(live);
}

TEST_F(PostgresProjectionTest, RebuildSwapsInANewGenerationThatMatches) {
  Traffic(200, 4);
  const std::string url = ReadModelDatabase();
  auto runner = Runner(url);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  const std::string before = DumpCartReadModel(url);
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g1");
  int progress_calls = 0;
  ASSERT_TRUE((*runner)->Rebuild([&](int64_t, int64_t) { ++progress_calls; }).ok());
  EXPECT_GT(progress_calls, 0);
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
  EXPECT_EQ(DumpCartReadModel(url), before);
  EXPECT_EQ(Single(url, "SELECT generation FROM evs_projection_generations WHERE name = ?",
                   {std::string("cart_summary")}),
            2);
  EXPECT_EQ(Single(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'cart_summaries_g1'"), 0)
      << "the old generation is dropped";
  Traffic(50, 5);  // the new generation follows the feed
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  (*runner)->Stop();
  const std::string fresh_url = ReadModelDatabase();
  auto fresh = Runner(fresh_url);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  ASSERT_TRUE((*fresh)->Start().ok());
  ASSERT_TRUE((*fresh)->WaitUntil(*store_->HeadPosition(), 60s));
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(url), DumpCartReadModel(fresh_url));
  // Opened again, the runner goes on with the generation in use.
  auto reopened = Runner(url);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ((*reopened)->CheckpointName(), "projection:cart_summary_g2");
}

TEST_F(PostgresProjectionTest, RebuildFromAReplayOfTheLogMatches) {
  Traffic(150, 11);
  const std::string url = ReadModelDatabase();
  auto runner = Runner(url);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  const std::string before = DumpCartReadModel(url);
  // The replay hands the log over in pages of 7, as an archive's replay would.
  Status rebuilt = (*runner)->RebuildFrom([&](EventHandler& handler) -> Status {
    for (int64_t after = 0;;) {
      auto page = store_->ReadLog(after, 7);
      if (!page.ok()) return page.error();
      if (page->events.empty()) return OkStatus();
      if (auto s = handler.Handle(page->events); !s) return s;
      after = page->events.back().position;
    }
  });
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
  EXPECT_EQ(DumpCartReadModel(url), before);
  Traffic(30, 12);
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  ExpectReadModelMatchesCarts(url);
}

// A projection whose next generation's events wait on a gate (to hold a rebuild in progress).
class GatedProjection : public Projection {
 public:
  std::string Name() const override { return "gated"; }
  std::vector<std::string> Tables() const override { return {"seen"}; }
  Status CreateTables(ReadModel& model) override {
    return model.Execute("CREATE TABLE IF NOT EXISTS seen" + model.Suffix() + "(position BIGINT)");
  }
  Status Apply(ReadModel& model, const RecordedEvent&) override {
    if (model.Suffix() == "_g1") return OkStatus();
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return OkStatus();
  }
  void Open() {
    std::lock_guard guard(mu);
    open = true;
    cv.notify_all();
  }
  void WaitEntered() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
};

TEST_F(PostgresProjectionTest, StatusAnswersWhileARebuildRuns) {
  Traffic(20, 7);
  GatedProjection gated;
  auto runner = Runner(ReadModelDatabase(), &gated);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  auto rebuild = std::async(std::launch::async, [&] { return (*runner)->Rebuild({}); });
  gated.WaitEntered();  // the rebuild is applying its first event, and waits
  auto status = std::async(std::launch::async, [&] { return (*runner)->GetStatus(); });
  const bool answered = status.wait_for(10s) == std::future_status::ready;
  gated.Open();
  EXPECT_TRUE(answered) << "GetStatus waited for the rebuild";
  ASSERT_TRUE(rebuild.get().ok());
  EXPECT_EQ(status.get().checkpoint, *store_->HeadPosition());
  EXPECT_EQ((*runner)->CheckpointName(), "projection:gated_g2");
}

TEST_F(PostgresProjectionTest, StatusAnswersWhileAnotherThreadWaits) {
  Traffic(10, 9);
  auto runner = Runner(ReadModelDatabase());
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  const int64_t head = *store_->HeadPosition();
  ASSERT_TRUE((*runner)->WaitUntil(head, 60s));
  auto waiter = std::async(std::launch::async, [&] { return (*runner)->WaitUntil(head + 1, 60s); });
  for (int i = 0; i < 20; ++i) {
    auto status = std::async(std::launch::async, [&] { return (*runner)->GetStatus(); });
    ASSERT_EQ(status.wait_for(10s), std::future_status::ready) << "GetStatus waited for WaitUntil";
    EXPECT_EQ(status.get().checkpoint, head);
  }
  (*runner)->Stop();  // ends the wait
  EXPECT_FALSE(waiter.get());
}

// The generation, read by status calls while a rebuild swaps it (for the sanitizer builds).
TEST_F(PostgresProjectionTest, NameAndStatusAreReadWhileARebuildSwaps) {
  Traffic(40, 10);
  auto runner = Runner(ReadModelDatabase());
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  std::atomic<bool> done{false};
  std::set<std::string> names;
  std::thread reader([&] {
    while (!done) {
      names.insert((*runner)->CheckpointName());
      names.insert((*runner)->GetStatus().name);
    }
  });
  Status rebuilt = (*runner)->Rebuild({});
  done = true;
  reader.join();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  for (const std::string& name : names) {
    EXPECT_TRUE(name == "projection:cart_summary_g1" || name == "projection:cart_summary_g2")
        << name;
  }
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
}

// One row per event applied (no key: an event applied twice shows twice) and a counter; fails on
// events of type "Poison" after writing its row, while `poison` is set.
class CountingProjection : public Projection {
 public:
  std::string Name() const override { return "counting"; }
  std::vector<std::string> Tables() const override { return {"applied", "counter"}; }
  Status CreateTables(ReadModel& m) override {
    if (auto s = m.Execute("CREATE TABLE IF NOT EXISTS applied" + m.Suffix() +
                           " (position BIGINT NOT NULL, type TEXT NOT NULL)");
        !s) {
      return s;
    }
    if (auto s = m.Execute("CREATE TABLE IF NOT EXISTS counter" + m.Suffix() +
                           " (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)");
        !s) {
      return s;
    }
    return m.Execute("INSERT INTO counter" + m.Suffix() + " VALUES (1, 0) ON CONFLICT DO NOTHING");
  }
  Status Apply(ReadModel& m, const RecordedEvent& e) override {
    if (auto s =
            m.Execute("INSERT INTO applied" + m.Suffix() + " VALUES (?, ?)", {e.position, e.type});
        !s) {
      return s;
    }
    if (auto s = m.Execute("UPDATE counter" + m.Suffix() + " SET n = n + 1 WHERE id = 1"); !s) {
      return s;
    }
    if (e.type == "Poison" && poison) {
      return Error::Make(ErrorCode::kInvalidArgument, "poisoned (test)");
    }
    ++applies;
    return OkStatus();
  }

  std::atomic<bool> poison{true};
  std::atomic<int64_t> applies{0};
};

Status AppendEvents(EventStore& store, const std::string& stream, int count,
                    const std::string& type = "Ok") {
  for (int i = 0; i < count; ++i) {
    EventData e;
    e.type = type;
    if (auto r = store.Append(stream, ExpectedVersion::Any(), {e}); !r.ok()) return r.error();
  }
  return OkStatus();
}

// Two processes' runners (two store handles, each with its runner) on one read model while
// writers append: every event is applied once — the rows and the counter equal one applying of
// the log, whichever runner got each batch.
TEST_F(PostgresProjectionTest, TwoRunnersOnOneReadModelApplyEveryEventOnce) {
  const std::string url = store_db_->url();  // the store's database, as `evs serve` hosts share
  auto other_store = OpenStore();
  ASSERT_NE(other_store, nullptr);
  CountingProjection first, second;
  PostgresProjectionOptions o;
  o.url = url;
  o.batch_size = 8;
  auto a = OpenPostgresProjectionRunner(*store_, first, o);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = OpenPostgresProjectionRunner(*other_store, second, o);
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_TRUE(AppendEvents(*store_, "before", 50).ok());
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE((*b)->Start().ok());
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      EventStore& store = w % 2 == 0 ? *store_ : *other_store;
      if (!AppendEvents(store, "writer-" + std::to_string(w), 150).ok()) ++failures;
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures, 0);
  const int64_t head = *store_->HeadPosition();
  ASSERT_EQ(head, 50 + 3 * 150);
  ASSERT_TRUE((*a)->WaitUntil(head, 120s));
  ASSERT_TRUE((*b)->WaitUntil(head, 120s));
  (*a)->Stop();
  (*b)->Stop();
  EXPECT_EQ(Single(url, "SELECT count(*) FROM applied"), head);
  EXPECT_EQ(Single(url, "SELECT count(DISTINCT position) FROM applied"), head);
  EXPECT_EQ(Single(url, "SELECT n FROM counter WHERE id = 1"), head);
  EXPECT_EQ(first.applies + second.applies, head) << "no batch was applied and rolled back";
  EXPECT_EQ(Single(url, "SELECT position FROM evs_projection_checkpoints WHERE name = ?",
                   {std::string("projection:counting_g1")}),
            head);
  std::cout << "runner a applied " << first.applies << ", runner b " << second.applies << " of "
            << head << " events\n";
}

// A batch that fails leaves the read model and the checkpoint as they were: the event's own row
// (written before it failed) is gone with the rest of its transaction.
TEST_F(PostgresProjectionTest, AFailedBatchLeavesReadModelAndCheckpointUnchanged) {
  const std::string url = ReadModelDatabase();
  CountingProjection counting;
  PostgresProjectionOptions o;
  o.url = url;
  o.batch_size = 16;
  o.failure.max_attempts = 2;
  o.failure.initial_backoff = 1ms;
  o.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  auto runner = OpenPostgresProjectionRunner(*store_, counting, o);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE(AppendEvents(*store_, "s", 10).ok());
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(10, 60s));
  const auto dump = [&] {
    std::string out;
    for (const SqlRow& row : QueryRows(url, "SELECT position, type FROM applied ORDER BY 1")) {
      out += Text(row[0]) + ":" + Text(row[1]) + " ";
    }
    return out + "n=" + std::to_string(Single(url, "SELECT n FROM counter"));
  };
  const std::string before = dump();
  ASSERT_TRUE(AppendEvents(*store_, "s", 1, "Poison").ok());
  ASSERT_TRUE(AppendEvents(*store_, "s", 5).ok());
  // The runner stops at the poisoned event (the policy's kStop).
  EXPECT_FALSE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  const SubscriptionStatus status = (*runner)->GetStatus();
  EXPECT_EQ(status.state, SubscriptionStatus::State::kFailed);
  EXPECT_NE(status.error.find("poisoned (test)"), std::string::npos) << status.error;
  EXPECT_EQ(status.checkpoint, 10);
  EXPECT_EQ(dump(), before);
  EXPECT_EQ(Single(url, "SELECT position FROM evs_projection_checkpoints WHERE name = ?",
                   {(*runner)->CheckpointName()}),
            10);
  // Fixed and started again, it goes on from its checkpoint: each event once.
  counting.poison = false;
  (*runner)->Stop();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 60s));
  EXPECT_EQ(Single(url, "SELECT count(*) FROM applied"), 16);
  EXPECT_EQ(Single(url, "SELECT count(DISTINCT position) FROM applied"), 16);
  EXPECT_EQ(Single(url, "SELECT n FROM counter"), 16);
}

// Every connection to the read model's database cut (pg_terminate_backend) again and again while
// the runner applies a growing log: a batch whose connection is lost rolls back whole and runs
// again on a new connection, so each event still takes effect once.
TEST_F(PostgresProjectionTest, ConnectionsCutMidBatchLeaveEveryEventAppliedOnce) {
  const std::string url = ReadModelDatabase();
  CountingProjection counting;
  PostgresProjectionOptions o;
  o.url = url;
  o.batch_size = 4;
  o.failure.max_attempts = 20;
  o.failure.initial_backoff = 1ms;
  o.failure.max_backoff = 50ms;
  auto runner = OpenPostgresProjectionRunner(*store_, counting, o);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  constexpr int kEvents = 600;
  std::thread writer([&] { EXPECT_TRUE(AppendEvents(*store_, "s", kEvents).ok()); });
  auto admin = pg::Connection::Open(url);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  int cuts = 0;
  for (int64_t next = 40; next < kEvents; next += 60) {
    if (!(*runner)->WaitUntil(next, 120s)) break;
    auto cut = (*admin)->Exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    EXPECT_TRUE(cut.ok()) << cut.error().message;
    ++cuts;
  }
  writer.join();
  EXPECT_GE(cuts, 9);
  ASSERT_TRUE((*runner)->WaitUntil(kEvents, 120s)) << (*runner)->GetStatus().error;
  EXPECT_EQ(Single(url, "SELECT count(*) FROM applied"), kEvents);
  EXPECT_EQ(Single(url, "SELECT count(DISTINCT position) FROM applied"), kEvents);
  EXPECT_EQ(Single(url, "SELECT n FROM counter"), kEvents);
  EXPECT_EQ(Single(url, "SELECT count(*) FROM evs_parked"), 0) << "nothing was parked";
}

// An event that keeps failing is parked (in evs's tables of the read model's database) and the
// feed goes on; its retry, once asked for, is applied although it lies below the checkpoint.
TEST_F(PostgresProjectionTest, AParkedEventIsAppliedWhenItsRetryIsAskedFor) {
  const std::string url = ReadModelDatabase();
  CountingProjection counting;
  PostgresProjectionOptions o;
  o.url = url;
  o.failure.max_attempts = 2;
  o.failure.initial_backoff = 1ms;
  auto runner = OpenPostgresProjectionRunner(*store_, counting, o);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE(AppendEvents(*store_, "s", 3).ok());
  ASSERT_TRUE(AppendEvents(*store_, "s", 1, "Poison").ok());
  ASSERT_TRUE(AppendEvents(*store_, "s", 3).ok());
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(7, 60s));
  EXPECT_EQ(Single(url, "SELECT count(*) FROM applied"), 6);
  auto parked_store = OpenPostgresCheckpointStore(url);
  ASSERT_TRUE(parked_store.ok()) << parked_store.error().message;
  auto parked = (*parked_store)->ListParked((*runner)->CheckpointName(), 0, 10);
  ASSERT_TRUE(parked.ok()) << parked.error().message;
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].event.position, 4);
  counting.poison = false;
  ASSERT_TRUE((*parked_store)->RequestRetry((*parked)[0].id).ok());
  // The running subscription looks for requested retries every idle_wait (200 ms).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (*(*parked_store)->CountParked("") > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(*(*parked_store)->CountParked(""), 0);
  EXPECT_EQ(Single(url, "SELECT count(*) FROM applied"), 7);
  EXPECT_EQ(Single(url, "SELECT count(DISTINCT position) FROM applied"), 7);
  EXPECT_EQ(Single(url, "SELECT n FROM counter"), 7);
}

// The portable SQL on PostgreSQL: values of each type bound and read back, ? in literals left
// alone, statements kept by their text, refusals as values with PostgreSQL's message.
TEST_F(PostgresProjectionTest, TheReadModelBindsAndReadsValuesOfEachType) {
  auto model = pg::PgReadModel::Open(ReadModelDatabase());
  ASSERT_TRUE(model.ok()) << model.error().message;
  pg::PgReadModel& m = **model;
  ASSERT_TRUE(m.Execute("CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT, b BYTEA, "
                        "f BOOLEAN, small INTEGER)")
                  .ok());
  ASSERT_TRUE(m.Execute("INSERT INTO t VALUES (?, ?, ?, decode(?, 'hex'), ?3 = 'x?', ?)",
                        {int64_t{-9'000'000'000'000}, 0.1, std::string("it's ? 'é'"),
                         std::string("00ff"), int64_t{7}})
                  .ok());
  EXPECT_EQ(m.Changes(), 1);
  ASSERT_TRUE(m.Execute("INSERT INTO t VALUES (?, ?, ?, NULL, NULL, NULL)",
                        {nullptr, nullptr, std::string("'?'")})
                  .ok());
  auto rows = m.Query("SELECT i, d, s, b, f, small, '?' AS q FROM t ORDER BY i NULLS LAST");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  const SqlRow& first = (*rows)[0];
  EXPECT_EQ(first[0], SqlValue(int64_t{-9'000'000'000'000}));
  EXPECT_EQ(first[1], SqlValue(0.1));
  EXPECT_EQ(first[2], SqlValue(std::string("it's ? 'é'")));
  EXPECT_EQ(first[3], SqlValue(std::string("\x00\xff", 2)));
  EXPECT_EQ(first[4], SqlValue(int64_t{0}));
  EXPECT_EQ(first[5], SqlValue(int64_t{7}));
  EXPECT_EQ(first[6], SqlValue(std::string("?")));
  const SqlRow& second = (*rows)[1];
  EXPECT_EQ(second[0], SqlValue(nullptr));
  EXPECT_EQ(second[2], SqlValue(std::string("'?'")));
  // Sums of integers are numeric in PostgreSQL: whole ones read as integers.
  auto sum = m.Query("SELECT SUM(i), AVG(small)::numeric(10,2) FROM t");
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_EQ((*sum)[0][0], SqlValue(int64_t{-9'000'000'000'000}));
  EXPECT_EQ((*sum)[0][1], SqlValue(7.0));
  // Prepared once, run many times.
  const int64_t prepared = m.prepared();
  for (int64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(m.Execute("UPDATE t SET small = ?1 WHERE i = ?2 OR ?1 < 0",
                          {i, int64_t{-9'000'000'000'000}})
                    .ok());
  }
  EXPECT_EQ(m.prepared(), prepared + 1);
  struct Case {
    std::string sql;
    std::vector<SqlValue> params;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"SELEC 1", {}, "syntax error"},
      {"INSERT INTO missing VALUES (?)", {int64_t{1}}, "does not exist"},
      {"INSERT INTO t (i) VALUES (?)", {}, "takes 1 parameters and 0 were given"},
      {"INSERT INTO t (small) VALUES (?)", {std::string("not a number")}, "invalid input"},
      {"SELECT 1; SELECT 2", {}, "multiple commands"},
  };
  for (const Case& c : cases) {
    Status s = m.Execute(c.sql, c.params);
    ASSERT_FALSE(s.ok()) << c.sql;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << s.error().message;
    EXPECT_NE(s.error().message.find(c.message), std::string::npos) << s.error().message;
  }
  // The connection goes on working after the refusals.
  EXPECT_TRUE(m.Execute("DELETE FROM t WHERE i IS NULL").ok());
  EXPECT_EQ(m.Changes(), 1);
}

TEST(PostgresPlaceholders, QuestionMarksBecomeNumberedParameters) {
  struct Case {
    const char* sql;
    const char* want;
    int parameters;
  };
  const Case cases[] = {
      {"SELECT 1", "SELECT 1", 0},
      {"INSERT INTO t VALUES (?, ?, ?)", "INSERT INTO t VALUES ($1, $2, $3)", 3},
      {"UPDATE t SET a = ?2 WHERE b = ?1 OR c = ?1", "UPDATE t SET a = $2 WHERE b = $1 OR c = $1",
       2},
      {"SELECT ?2, ?", "SELECT $2, $3", 3},  // as SQLite numbers them
      {"SELECT '?', ? -- why?\n, \"a?\", ?", "SELECT '?', $1 -- why?\n, \"a?\", $2", 2},
      {"SELECT 'it''s ?', /* ? */ ?", "SELECT 'it''s ?', /* ? */ $1", 1},
      {"SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", 1},
      {"SELECT $$ ? $$, $tag$ ?$tag$, ?", "SELECT $$ ? $$, $tag$ ?$tag$, $1", 1},
      {"SELECT ?10", "SELECT $10", 10},
  };
  for (const Case& c : cases) {
    const pg::Translated t = pg::TranslatePlaceholders(c.sql);
    EXPECT_EQ(t.sql, c.want) << c.sql;
    EXPECT_EQ(t.parameters, c.parameters) << c.sql;
  }
}

}  // namespace
}  // namespace evs
