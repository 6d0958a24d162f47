// Schema evolution: the registration is checked as a whole at start-up; stored events are upcast
// on read (chains in order, renames, retired types) by the repository, subscriptions and
// projections, and the stored bytes never change; a version newer than the code is a clear error.
#include "evs/upcasting.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

#include "evs/aggregate.h"
#include "evs/event_types.h"
#include "evs/projection.h"
#include "evs/repository.h"
#include "evs/subscription.h"
#include "store/sqlite.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

// Version 1: {"price": N}; 2: {"cents": N, "currency": C}; 3: adds {"note": S}.
struct PriceSet {
  static constexpr std::string_view kType = "PriceSet";
  static constexpr int kSchemaVersion = 3;
  int64_t cents = 0;
  std::string currency;
  std::string note;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PriceSet, cents, currency, note)

struct Opened {
  static constexpr std::string_view kType = "Opened";
};
void to_json(nlohmann::json& j, const Opened&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, Opened&) {}

using ShopEvents = EventTypes<Opened, PriceSet>;

UpcasterBuilder ShopSchemas() {
  UpcasterBuilder schemas;
  schemas.Declare<ShopEvents>()
      .Step("PriceSet", 2,
            [](nlohmann::json& data) {
              data["note"] = "from v" + std::to_string(2);
              return OkStatus();
            })
      .Step("PriceSet", 1,
            [](nlohmann::json& data) {
              if (!data.contains("price")) {
                return Status(Error::Make(ErrorCode::kCorruption, "no price"));
              }
              data["cents"] = data["price"];
              data["currency"] = "USD";
              data.erase("price");
              return OkStatus();
            })
      .Rename("PriceFixed", "PriceSet")
      .Retire("Viewed");
  return schemas;
}

std::shared_ptr<const Upcaster> Shop() {
  auto built = ShopSchemas().Build();
  EXPECT_TRUE(built.ok()) << built.error().message;
  return *built;
}

RecordedEvent Stored(std::string type, std::string data, std::string metadata = "{}") {
  RecordedEvent e;
  e.stream_id = "shop-1";
  e.version = 7;
  e.type = std::move(type);
  e.data = std::move(data);
  e.metadata = std::move(metadata);
  return e;
}

std::string ProblemsOf(UpcasterBuilder& builder) {
  auto built = builder.Build();
  EXPECT_FALSE(built.ok());
  if (built.ok()) return "";
  EXPECT_EQ(built.error().code, ErrorCode::kInvalidArgument);
  return built.error().message;
}

TEST(Upcasting, RegistrationIsCheckedAtStartUp) {
  EXPECT_TRUE(ShopSchemas().Build().ok());
  {
    UpcasterBuilder gap;  // version 3 with only the step from 2
    gap.Declare<ShopEvents>().Step("PriceSet", 2, [](nlohmann::json&) { return OkStatus(); });
    EXPECT_NE(ProblemsOf(gap).find("'PriceSet' is at schema version 3 but has no step from "
                                   "version 1 to 2"),
              std::string::npos);
  }
  {
    UpcasterBuilder twice = ShopSchemas();
    twice.Step("PriceSet", 1, [](nlohmann::json&) { return OkStatus(); });
    EXPECT_NE(ProblemsOf(twice).find("two steps from version 1 of 'PriceSet'"), std::string::npos);
  }
  {
    UpcasterBuilder renamed_and_declared = ShopSchemas();
    renamed_and_declared.Rename("Opened", "PriceSet");
    EXPECT_NE(ProblemsOf(renamed_and_declared).find("'Opened' is both renamed"), std::string::npos);
  }
  {
    UpcasterBuilder bad;
    bad.Declare("A", 1)
        .Declare("A", 2)
        .Declare("B", 0)
        .Step("Nope", 1, [](nlohmann::json&) { return OkStatus(); })
        .Step("A", 1, [](nlohmann::json&) { return OkStatus(); })
        .Rename("C", "Undeclared")
        .Retire("A");
    const std::string problems = ProblemsOf(bad);
    for (const char* expected :
         {"'A' is declared twice", "'B' is declared at schema version 0",
          "a step from version 1 of 'Nope', which is not declared",
          "a step from version 1 of 'A', whose versions run from 1 to 1",
          "'C' is renamed to 'Undeclared', which is not declared", "'A' is both retired and"}) {
      EXPECT_NE(problems.find(expected), std::string::npos) << expected << " in " << problems;
    }
  }
}

TEST(Upcasting, ChainsRunInOrderAndRecordTheCurrentVersion) {
  auto shop = Shop();
  RecordedEvent e = Stored("PriceSet", R"({"price":250})");
  ASSERT_EQ(*shop->Upcast(e), Upcaster::Outcome::kUpcast);
  EXPECT_EQ(nlohmann::json::parse(e.data),
            nlohmann::json::parse(R"({"cents":250,"currency":"USD","note":"from v2"})"));
  EXPECT_EQ(e.metadata, R"({"schema_version":3})");
  // Upcasting again is a no-op: the event says it is current.
  const RecordedEvent once = e;
  EXPECT_EQ(*shop->Upcast(e), Upcaster::Outcome::kAsStored);
  EXPECT_EQ(e.data, once.data);

  // From version 2, with metadata of the application's own kept.
  e = Stored("PriceSet", R"({"cents":5,"currency":"EUR"})", R"({"user":"ann","schema_version":2})");
  ASSERT_EQ(*shop->Upcast(e), Upcaster::Outcome::kUpcast);
  auto metadata = nlohmann::json::parse(e.metadata);
  EXPECT_EQ(metadata["user"], "ann");
  EXPECT_EQ(metadata["schema_version"], 3);
  EXPECT_EQ(nlohmann::json::parse(e.data)["currency"], "EUR");

  // Decoded into the struct at the current version.
  auto decoded = ShopEvents::Decode(e);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(std::get<PriceSet>(*decoded).cents, 5);
}

TEST(Upcasting, RenamesRetirementsAndUnknownTypes) {
  auto shop = Shop();
  RecordedEvent renamed = Stored("PriceFixed", R"({"price":9})");
  ASSERT_EQ(*shop->Upcast(renamed), Upcaster::Outcome::kUpcast);
  EXPECT_EQ(renamed.type, "PriceSet");
  EXPECT_EQ(nlohmann::json::parse(renamed.data)["cents"], 9);

  RecordedEvent retired = Stored("Viewed", "{}");
  EXPECT_EQ(*shop->Upcast(retired), Upcaster::Outcome::kRetired);

  RecordedEvent unknown = Stored("Other", R"({"x":1})", R"({"schema_version":9})");
  EXPECT_EQ(*shop->Upcast(unknown), Upcaster::Outcome::kAsStored);
  EXPECT_EQ(unknown.data, R"({"x":1})");

  std::vector<RecordedEvent> all = {Stored("Opened", "{}"), Stored("Viewed", "{}"),
                                    Stored("PriceSet", R"({"price":1})")};
  ASSERT_TRUE(shop->UpcastAll(all).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].type, "Opened");
  EXPECT_EQ(all[1].metadata, R"({"schema_version":3})");

  // UpcastOrKeep copies only what needs work.
  RecordedEvent scratch;
  const RecordedEvent opened = Stored("Opened", "{}");
  EXPECT_EQ(*shop->UpcastOrKeep(opened, scratch), &opened);
  const RecordedEvent viewed = Stored("Viewed", "{}");
  EXPECT_EQ(*shop->UpcastOrKeep(viewed, scratch), nullptr);
  const RecordedEvent old = Stored("PriceSet", R"({"price":1})");
  EXPECT_EQ(*shop->UpcastOrKeep(old, scratch), &scratch);
  EXPECT_EQ(old.data, R"({"price":1})");  // the stored event is untouched
}

TEST(Upcasting, NewerVersionsAndBadDataAreClearErrors) {
  auto shop = Shop();
  RecordedEvent newer = Stored("PriceSet", "{}", R"({"schema_version":4})");
  auto outcome = shop->Upcast(newer);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kUnknownEventType);
  EXPECT_NE(outcome.error().message.find("stream 'shop-1' version 7 (PriceSet) is at schema "
                                         "version 4, newer than this application knows (3)"),
            std::string::npos)
      << outcome.error().message;
  // The typed decoder refuses it too, and an old version that no upcaster brought up.
  EXPECT_EQ(ShopEvents::Decode(newer).error().code, ErrorCode::kUnknownEventType);
  RecordedEvent old = Stored("PriceSet", R"({"price":1})");
  EXPECT_EQ(ShopEvents::Decode(old).error().code, ErrorCode::kUnsupported);

  RecordedEvent failing = Stored("PriceSet", R"({"cost":1})");
  outcome = shop->Upcast(failing);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kCorruption);
  EXPECT_NE(outcome.error().message.find("the upcast from schema version 1 to 2 failed: no price"),
            std::string::npos)
      << outcome.error().message;
  EXPECT_EQ(failing.data, R"({"cost":1})");

  for (const char* metadata : {R"({"schema_version":"2"})", R"({"schema_version":0})",
                               R"({"schema_version":1.5})", R"(["schema_version"])"}) {
    RecordedEvent bad = Stored("PriceSet", "{}", metadata);
    EXPECT_EQ(shop->Upcast(bad).error().code, ErrorCode::kCorruption) << metadata;
  }
  // The key nested deeper is the application's, not a version.
  RecordedEvent nested = Stored("Opened", "{}", R"({"app":{"schema_version":5}})");
  EXPECT_EQ(*StoredSchemaVersion(nested), 1);
  // A step that throws is an error, not a crash.
  UpcasterBuilder throwing;
  throwing.Declare("T", 2).Step("T", 1, [](nlohmann::json& data) {
    data.at("missing");
    return OkStatus();
  });
  RecordedEvent t = Stored("T", "{}");
  EXPECT_EQ((*throwing.Build())->Upcast(t).error().code, ErrorCode::kCorruption);
}

TEST(Upcasting, EncodeRecordsVersionsAboveOne) {
  auto price = ShopEvents::Encode(PriceSet{1, "USD", ""}, R"({"user":"ann"})");
  ASSERT_TRUE(price.ok());
  EXPECT_EQ(nlohmann::json::parse(price->metadata),
            nlohmann::json::parse(R"({"user":"ann","schema_version":3})"));
  auto opened = ShopEvents::Encode(Opened{});
  EXPECT_EQ(opened->metadata, "{}");  // version 1 writes the bytes it always did
  EXPECT_EQ(ShopEvents::Encode(PriceSet{}, "[1]").error().code, ErrorCode::kInvalidArgument);
}

class Shop1 : public Aggregate<Shop1, ShopEvents> {
 public:
  static constexpr std::string_view kCategory = "shop";
  explicit Shop1(std::string id) : Aggregate(std::move(id)) {}
  void Set(int64_t cents) { Raise(PriceSet{cents, "EUR", "set"}); }
  void Apply(const Event& e) {
    if (auto* p = std::get_if<PriceSet>(&e)) {
      total += p->cents;
      last = *p;
    }
  }
  int64_t total = 0;
  PriceSet last;
};

TEST(Upcasting, TheRepositoryReadsEveryVersionAndRetiredEventsStillCount) {
  auto store = NewMemoryEventStore();
  EventData v1{Uuid{}, "PriceSet", R"({"price":10})", "{}"};
  EventData renamed{Uuid{}, "PriceFixed", R"({"price":20})", "{}"};
  EventData viewed{Uuid{}, "Viewed", "{}", "{}"};
  EventData v2{Uuid{}, "PriceSet", R"({"cents":30,"currency":"GBP"})", R"({"schema_version":2})"};
  ASSERT_TRUE(store->Append("shop-a", ExpectedVersion::NoStream(), {v1, renamed, viewed, v2}).ok());
  Repository<Shop1> repo(*store, RepositoryOptions{.upcaster = Shop()});
  auto shop = repo.Fetch("a");
  ASSERT_TRUE(shop.ok()) << shop.error().message;
  EXPECT_EQ(shop->total, 60);
  EXPECT_EQ(shop->version(), 4);  // the retired event counts
  EXPECT_EQ(shop->last.note, "from v2");
  shop->Set(5);
  auto stored = repo.Store(std::move(shop).value());
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->version(), 5);
  // The stored bytes are as they were written.
  auto page = store->ReadStream("shop-a", {});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->events[0].data, R"({"price":10})");
  EXPECT_EQ(page->events[1].type, "PriceFixed");
  EXPECT_EQ(page->events[4].metadata, R"({"schema_version":3})");
  // Without an upcaster: a clear error naming the stream and version, never a misread.
  Repository<Shop1> bare(*store);
  auto refused = bare.Fetch("a");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("stream 'shop-a' version 1"), std::string::npos)
      << refused.error().message;
}

class Recorder : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    events_.insert(events_.end(), batch.begin(), batch.end());
    return OkStatus();
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard guard(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<RecordedEvent> events_;
};

// A version-1 price, a retired event and `third` on stream shop-a.
Status AppendThreeOldEvents(EventStore& store, EventData third) {
  auto appended = store.Append(
      "shop-a", ExpectedVersion::Any(),
      {{Uuid{}, "PriceSet", R"({"price":10})", "{}"}, {Uuid{}, "Viewed", "{}", "{}"}, third});
  if (!appended.ok()) return appended.error();
  return OkStatus();
}

TEST(Upcasting, SubscriptionHandlersSeeTheCurrentShape) {
  testing::TempDir dir;
  auto store = NewMemoryEventStore();
  ASSERT_TRUE(AppendThreeOldEvents(*store, {Uuid{}, "Opened", "{}", "{}"}).ok());
  auto checkpoints = OpenSqliteCheckpointStore(dir.File("feed.sqlite"));
  ASSERT_TRUE(checkpoints.ok());
  Recorder handler;
  SubscriptionOptions options;
  options.name = "shop";
  options.idle_wait = 20ms;
  options.upcaster = Shop();
  auto sub = Subscription::Start(*store, **checkpoints, handler, options);
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  ASSERT_TRUE((*sub)->WaitUntil(3, 10s));
  (*sub)->Stop();
  auto events = handler.events();
  ASSERT_EQ(events.size(), 2u);  // the retired one is not delivered...
  EXPECT_EQ(nlohmann::json::parse(events[0].data)["currency"], "USD");
  EXPECT_EQ(events[1].type, "Opened");
  EXPECT_EQ(**(*checkpoints)->Load("shop"), "3");  // ...and the checkpoint passes it

  // An event no step can read is parked with the reason, and the feed goes on.
  ASSERT_TRUE(
      store
          ->Append("shop-a", ExpectedVersion::Any(),
                   {{Uuid{}, "PriceSet", R"({"cost":1})", "{}"}, {Uuid{}, "Opened", "{}", "{}"}})
          .ok());
  options.failure.max_attempts = 1;
  Recorder second;
  sub = Subscription::Start(*store, **checkpoints, second, options);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->WaitUntil(5, 10s));
  (*sub)->Stop();
  auto parked = (*checkpoints)->ListParked("shop", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].event.data, R"({"cost":1})");  // kept as stored
  EXPECT_NE((*parked)[0].error.find("no price"), std::string::npos) << (*parked)[0].error;
  ASSERT_EQ(second.events().size(), 1u);
}

// Prices of the shop by stream, kept by a projection that reads only the current shape.
class PriceProjection : public Projection {
 public:
  std::string Name() const override { return "prices"; }
  std::vector<std::string> Tables() const override { return {"prices"}; }
  Status CreateTables(ReadModel& model) override {
    return model.Execute("CREATE TABLE IF NOT EXISTS prices" + model.Suffix() +
                         " (stream_id TEXT PRIMARY KEY, cents INTEGER, currency TEXT)");
  }
  Status Apply(ReadModel& model, const RecordedEvent& event) override {
    if (event.type != "PriceSet") return OkStatus();
    auto decoded = ShopEvents::Decode(event);
    if (!decoded.ok()) return decoded.error();
    const auto& price = std::get<PriceSet>(*decoded);
    return model.Execute("INSERT OR REPLACE INTO prices" + model.Suffix() + " VALUES (?, ?, ?)",
                         {event.stream_id, price.cents, price.currency});
  }
};

TEST(Upcasting, ProjectionsApplyTheCurrentShapeLiveAndInARebuild) {
  testing::TempDir dir;
  auto store = NewMemoryEventStore();
  ASSERT_TRUE(AppendThreeOldEvents(*store, {Uuid{}, "PriceFixed", R"({"price":12})", "{}"}).ok());
  PriceProjection projection;
  ProjectionOptions options;
  options.path = dir.File("prices.sqlite");
  options.upcaster = Shop();
  auto runner = ProjectionRunner::Open(*store, projection, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(3, 10s)) << (*runner)->GetStatus().error;
  ASSERT_TRUE((*runner)->Rebuild({}).ok());
  (*runner)->Stop();
  auto db = store::Database::Open(options.path, /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  auto row = db->Prepare("SELECT cents, currency FROM prices WHERE stream_id = 'shop-a'");
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->Step(), SQLITE_ROW);
  EXPECT_EQ(row->Int(0), 12);
  EXPECT_EQ(row->Text(1), "USD");
}

// The handler behind the Kinesis consumer and the Lambda consume function: per-stream versions
// count retired events, and the projection sees the current shape.
TEST(Upcasting, StreamProjectionsApplyTheCurrentShape) {
  testing::TempDir dir;
  PriceProjection projection;
  ProjectionOptions options;
  options.path = dir.File("prices.sqlite");
  options.upcaster = Shop();
  auto handler = StreamProjectionHandler::Open(projection, options);
  ASSERT_TRUE(handler.ok()) << handler.error().message;
  std::vector<RecordedEvent> batch = {Stored("PriceSet", R"({"price":10})"), Stored("Viewed", "{}"),
                                      Stored("PriceFixed", R"({"price":12})")};
  for (size_t i = 0; i < batch.size(); ++i) batch[i].version = static_cast<int64_t>(i) + 1;
  ASSERT_TRUE((*handler)->Handle(batch).ok());
  EXPECT_EQ((*handler)->Stats().applied, 3);
  ASSERT_TRUE((*handler)->Handle(batch).ok());  // delivered again: skipped
  EXPECT_EQ((*handler)->Stats().skipped, 3);
  auto db = store::Database::Open(options.path, /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  auto row = db->Prepare("SELECT cents, currency FROM prices WHERE stream_id = 'shop-1'");
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->Step(), SQLITE_ROW);
  EXPECT_EQ(row->Int(0), 12);
  EXPECT_EQ(row->Text(1), "USD");
}

}  // namespace
}  // namespace evs
