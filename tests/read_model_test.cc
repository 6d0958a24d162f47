// The read model a projection writes through (evs/read_model.h) and its SQLite implementation:
// values of each type bound and read back, SQL errors as values that roll the batch back, and
// statements prepared once per SQL text, across batches and generations.
#include "evs/read_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "evs/projection.h"
#include "feed/sqlite_read_model.h"
#include "store/sqlite.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

Result<feed::SqliteReadModel> OpenModel(const std::string& path) {
  auto db = store::Database::Open(path, /*read_only=*/false);
  if (!db.ok()) return db.error();
  feed::SqliteReadModel model(std::move(db).value());
  model.SetSuffix("_g1");
  return model;
}

TEST(ReadModel, ValuesOfEachTypeAreBoundAndReadBack) {
  testing::TempDir dir;
  auto model = OpenModel(dir.File("model.sqlite"));
  ASSERT_TRUE(model.ok()) << model.error().message;
  ASSERT_TRUE(model->Execute("CREATE TABLE t_g1 (k INTEGER PRIMARY KEY, v)").ok());
  const std::vector<SqlValue> values = {
      nullptr,
      int64_t{0},
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      2.5,
      -1e300,
      ""s,
      "plain"s,
      "naïve ☕"s,
      "nul\0inside"s,  // as many bytes as given, not up to the first zero
      std::string(100'000, 'x'),
  };
  for (size_t i = 0; i < values.size(); ++i) {
    // The same statement for each row: its values are parameters.
    ASSERT_TRUE(
        model
            ->Execute("INSERT INTO t_g1 (k, v) VALUES (?, ?)", {static_cast<int64_t>(i), values[i]})
            .ok());
    EXPECT_EQ(model->Changes(), 1);
  }
  auto rows = model->Query("SELECT k, v FROM t_g1 ORDER BY k");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ((*rows)[i].size(), 2u);
    EXPECT_EQ((*rows)[i][0], SqlValue(static_cast<int64_t>(i)));
    EXPECT_EQ((*rows)[i][1], values[i]) << "row " << i;
  }
  // Parameters in a query; ?N reused; a computed REAL; a span built at run time.
  std::vector<SqlValue> params = {int64_t{4}, 0.5};
  auto computed = model->Query("SELECT v * ?2, v + ?2, typeof(v) FROM t_g1 WHERE k = ?1", params);
  ASSERT_TRUE(computed.ok()) << computed.error().message;
  ASSERT_EQ(computed->size(), 1u);
  EXPECT_EQ((*computed)[0], (SqlRow{1.25, 3.0, "real"s}));
  // Changes counts the rows of the last Execute.
  ASSERT_TRUE(model->Execute("UPDATE t_g1 SET v = NULL WHERE k < ?", {int64_t{3}}).ok());
  EXPECT_EQ(model->Changes(), 3);
  ASSERT_TRUE(model->Execute("DELETE FROM t_g1 WHERE k = -1").ok());
  EXPECT_EQ(model->Changes(), 0);
  auto empty = model->Query("SELECT * FROM t_g1 WHERE k = -1");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ReadModel, RefusedStatementsAreValuesWithSqlitesMessage) {
  testing::TempDir dir;
  auto model = OpenModel(dir.File("model.sqlite"));
  ASSERT_TRUE(model.ok()) << model.error().message;
  ASSERT_TRUE(model->Execute("CREATE TABLE t_g1 (k INTEGER PRIMARY KEY)").ok());
  ASSERT_TRUE(model->Execute("INSERT INTO t_g1 VALUES (?)", {int64_t{1}}).ok());
  struct Case {
    std::string sql;
    std::vector<SqlValue> params;
    std::string message;
  };
  const Case cases[] = {
      {"INSERT INTO t_g1 VALUES (?)", {int64_t{1}}, "UNIQUE constraint failed: t_g1.k"},
      {"INSERT INTO missing VALUES (?)", {int64_t{2}}, "no such table: missing"},
      {"INSERT INTO t_g1 VALUSE (?)", {int64_t{2}}, "near \"VALUSE\": syntax error"},
      {"INSERT INTO t_g1 VALUES (?)", {}, "takes 1 parameters and 0 were given"},
      {"INSERT INTO t_g1 VALUES (?)", {int64_t{2}, int64_t{3}}, "takes 1 parameters and 2"},
      {"INSERT INTO t_g1 VALUES (2); INSERT INTO t_g1 VALUES (3)", {}, "one statement per call"},
      {"  -- nothing but a comment", {}, "no statement"},
  };
  for (const Case& c : cases) {
    Status s = model->Execute(c.sql, c.params);
    ASSERT_FALSE(s.ok()) << c.sql;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << s.error().message;
    EXPECT_NE(s.error().message.find(c.message), std::string::npos) << s.error().message;
    EXPECT_FALSE(model->Query(c.sql, c.params).ok()) << c.sql;
  }
  // A statement that failed goes on working (it was reset), and so does the connection.
  ASSERT_TRUE(model->Execute("INSERT INTO t_g1 VALUES (?)", {int64_t{2}}).ok());
  // A trailing ';' and comments are not a second statement.
  ASSERT_TRUE(model->Execute("INSERT INTO t_g1 VALUES (?); -- the third", {int64_t{3}}).ok());
  auto count = model->Query("SELECT count(*) FROM t_g1");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->at(0).at(0), SqlValue(int64_t{3}));
}

// Writes one row per event, and fails (with a statement SQLite refuses) on events of type
// "Poison"; notes how many statements its read model had prepared.
class RowPerEvent : public Projection {
 public:
  std::string Name() const override { return "rows"; }
  std::vector<std::string> Tables() const override { return {"rows"}; }
  Status CreateTables(ReadModel& model) override {
    return model.Execute("CREATE TABLE IF NOT EXISTS rows" + model.Suffix() +
                         " (stream_id TEXT, version INTEGER, PRIMARY KEY (stream_id, version))");
  }
  Status Apply(ReadModel& model, const RecordedEvent& event) override {
    prepared = dynamic_cast<feed::SqliteReadModel&>(model).prepared();
    ++applied;
    if (event.type == "Poison") {
      return model.Execute("INSERT INTO no_such_table VALUES (?)", {event.stream_id});
    }
    return model.Execute("INSERT INTO rows" + model.Suffix() + " VALUES (?, ?)",
                         {event.stream_id, event.version});
  }

  std::atomic<int64_t> prepared{0};
  std::atomic<int64_t> applied{0};
};

int64_t CountRows(const std::string& path) {
  auto db = store::Database::Open(path, /*read_only=*/true);
  EXPECT_TRUE(db.ok());
  auto count = db->Prepare("SELECT count(*) FROM rows");
  EXPECT_TRUE(count.ok());
  EXPECT_EQ(count->Step(), SQLITE_ROW);
  return count->Int(0);
}

RecordedEvent Event(const std::string& stream, int64_t version, const std::string& type = "Ok") {
  RecordedEvent e;
  e.stream_id = stream;
  e.version = version;
  e.id = Uuid::Random();
  e.type = type;
  e.data = "{}";
  e.metadata = "{}";
  return e;
}

// A batch in which one statement fails is rolled back whole: the rows of the events before it
// and the streams' versions; the error says what SQLite said.
TEST(ReadModel, AFailedStatementRollsTheBatchBack) {
  testing::TempDir dir;
  RowPerEvent projection;
  ProjectionOptions options;
  options.path = dir.File("rows.sqlite");
  auto handler = StreamProjectionHandler::Open(projection, options);
  ASSERT_TRUE(handler.ok()) << handler.error().message;
  ASSERT_TRUE((*handler)->Handle(std::vector{Event("a", 1)}).ok());
  Status failed =
      (*handler)->Handle(std::vector{Event("a", 2), Event("b", 1), Event("b", 2, "Poison")});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(failed.error().message.find("no such table: no_such_table"), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(CountRows(options.path), 1);
  EXPECT_EQ(*(*handler)->AppliedVersion("a"), 1);
  EXPECT_EQ(*(*handler)->AppliedVersion("b"), 0);
  // The same events without the poison go through on the same connection.
  ASSERT_TRUE((*handler)->Handle(std::vector{Event("a", 2), Event("b", 1), Event("b", 2)}).ok());
  EXPECT_EQ(CountRows(options.path), 4);
}

// Each distinct statement is prepared once: not again in later batches, once more for a new
// generation's tables, and once more after the swap (the old generation's statements go).
TEST(ReadModel, StatementsArePreparedOncePerGenerationNotPerBatch) {
  testing::TempDir dir;
  auto store = NewMemoryEventStore();
  auto append = [&](int events) {
    for (int i = 0; i < events; ++i) {
      EventData e;
      e.type = "Ok";
      e.data = "{}";
      ASSERT_TRUE(store->Append("s-" + std::to_string(i % 7), ExpectedVersion::Any(), {e}).ok());
    }
  };
  append(200);
  RowPerEvent projection;
  ProjectionOptions options;
  options.path = dir.File("rows.sqlite");
  options.batch_size = 8;  // 25 batches and more
  auto runner = ProjectionRunner::Open(*store, projection, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store->HeadPosition(), 20s));
  // CREATE for _g1, then the INSERT of the first event; Apply sees the count before its own.
  EXPECT_EQ(projection.prepared.load(), 2);
  append(100);
  ASSERT_TRUE((*runner)->WaitUntil(*store->HeadPosition(), 20s));
  EXPECT_EQ(projection.prepared.load(), 2) << "a later batch prepared its statement again";

  ASSERT_TRUE((*runner)->Rebuild({}).ok());
  // CREATE and INSERT for _g2 while it was rebuilt.
  EXPECT_EQ(projection.prepared.load(), 4);
  append(100);
  ASSERT_TRUE((*runner)->WaitUntil(*store->HeadPosition(), 20s));
  // The INSERT for _g2 once more after the swap, then never again.
  EXPECT_EQ(projection.prepared.load(), 5);
  append(100);
  ASSERT_TRUE((*runner)->WaitUntil(*store->HeadPosition(), 20s));
  EXPECT_EQ(projection.prepared.load(), 5);
  (*runner)->Stop();
  EXPECT_EQ(CountRows(options.path), 500);
  EXPECT_EQ(projection.applied.load(), 500 + 300);  // the rebuild applied the first 300 again
}

// The example of the README and of projection.h, as written there.
class OpenCarts : public evs::Projection {  // the ids of carts opened
 public:
  std::string Name() const override { return "open_carts"; }
  std::vector<std::string> Tables() const override { return {"carts"}; }  // read as `carts`
  evs::Status CreateTables(evs::ReadModel& m) override {
    return m.Execute("CREATE TABLE IF NOT EXISTS carts" + m.Suffix() + " (id TEXT)");
  }
  evs::Status Apply(evs::ReadModel& m, const evs::RecordedEvent& e) override {
    if (e.type != "CartOpened") return evs::OkStatus();
    return m.Execute("INSERT INTO carts" + m.Suffix() + " VALUES (?)", {e.stream_id});
  }
};

TEST(ReadModel, TheReadmeExampleRuns) {
  testing::TempDir dir;
  auto store = NewMemoryEventStore();
  for (const char* type : {"CartOpened", "ItemAdded", "CartOpened"}) {
    EventData e;
    e.type = type;
    e.data = "{}";
    ASSERT_TRUE(
        store->Append("cart-" + std::to_string(*store->HeadPosition()), ExpectedVersion::Any(), {e})
            .ok());
  }
  OpenCarts projection;
  ProjectionOptions options;
  options.path = dir.File("carts.sqlite");
  auto runner = ProjectionRunner::Open(*store, projection, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(3, 20s));
  (*runner)->Stop();
  auto db = store::Database::Open(dir.File("carts.sqlite"), /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  auto ids = db->Prepare("SELECT group_concat(id, ' ') FROM (SELECT id FROM carts ORDER BY id)");
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  ASSERT_EQ(ids->Step(), SQLITE_ROW);
  EXPECT_EQ(ids->Text(0), "cart-0 cart-2");
}

}  // namespace
}  // namespace evs
