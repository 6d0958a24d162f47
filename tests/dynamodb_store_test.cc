// The DynamoDB event store beyond the contract suite (which also runs on it): the item format,
// commit boundaries, streams longer than the original single-item design allows, concurrency,
// table creation, and retries through a fault-injecting transport (throttling, 5xx, answers lost
// after the write), which no stand-in produces. Runs on dynalite with EVS_TEST_AWS=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "aws/dynamodb_event_store.h"
#include "aws/dynamodb_items.h"
#include "aws/dynamodb_snapshot_store.h"
#include "aws_test_env.h"
#include "common/clock.h"

namespace evs::aws {
namespace {

using std::chrono::milliseconds;

// Forwards to a real transport, except for the faults it is told to inject, per operation
// (the X-Amz-Target's last part: "PutItem", "Query", ...).
class FaultyTransport final : public HttpTransport {
 public:
  explicit FaultyTransport(std::unique_ptr<HttpTransport> inner) : inner_(std::move(inner)) {}

  // The next request of `operation` gets this answer without reaching the service.
  void FailNext(const std::string& operation, int status, const std::string& type) {
    std::lock_guard lock(mu_);
    faults_[operation].push_back(Fault{status, type});
  }
  // The next request of `operation` reaches the service, but its answer is lost on the way back.
  void LoseNextAnswer(const std::string& operation) {
    std::lock_guard lock(mu_);
    faults_[operation].push_back(Fault{0, ""});
  }
  // Requests of `operation` seen so far, faulty ones included.
  int Seen(const std::string& operation) {
    std::lock_guard lock(mu_);
    return seen_[operation];
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::optional<Fault> fault;
    {
      std::lock_guard lock(mu_);
      std::string operation = OperationOf(request);
      ++seen_[operation];
      auto& queue = faults_[operation];
      if (!queue.empty()) {
        fault = queue.front();
        queue.pop_front();
      }
    }
    if (!fault) return inner_->Send(request);
    if (fault->status == 0) {
      auto answer = inner_->Send(request);
      (void)answer;
      return Error::Make(ErrorCode::kUnavailable, "connection reset by peer (injected)");
    }
    HttpResponse response;
    response.status = fault->status;
    response.headers = {{"content-type", "application/x-amz-json-1.0"}};
    response.body = nlohmann::json{{"__type", "com.amazonaws.dynamodb.v20120810#" + fault->type},
                                   {"message", "injected " + fault->type}}
                        .dump();
    return response;
  }

 private:
  struct Fault {
    int status;  // 0: forward, then lose the answer
    std::string type;
  };
  static std::string OperationOf(const HttpRequest& request) {
    for (const auto& [name, value] : request.headers) {
      if (name == "X-Amz-Target") return value.substr(value.find('.') + 1);
    }
    return "";
  }

  std::unique_ptr<HttpTransport> inner_;
  std::mutex mu_;
  std::map<std::string, std::deque<Fault>> faults_;
  std::map<std::string, int> seen_;
};

EventData Event(std::string type, std::string data = "{}") {
  EventData e;
  e.id = Uuid::Random();
  e.type = std::move(type);
  e.data = std::move(data);
  return e;
}

std::vector<EventData> Events(int n) {
  std::vector<EventData> events;
  for (int i = 0; i < n; ++i) events.push_back(Event("Tick", "{\"i\":" + std::to_string(i) + "}"));
  return events;
}

class DynamoDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = testing::AwsTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    auto transport = std::make_unique<FaultyTransport>(NewCurlTransport());
    faults_ = transport.get();
    RetryPolicy retry;  // quick retries: the faults are injected, not real throttling
    retry.max_attempts = 5;
    retry.base_delay = milliseconds(1);
    retry.max_delay = milliseconds(10);
    client_ = testing::DynamoDbTestClient(std::move(transport), retry);
    ASSERT_NE(client_, nullptr);
    table_ = testing::UniqueTableName("evs-ddb");
    auto created = CreateEventTable(*client_, table_, /*with_stream=*/false);
    ASSERT_TRUE(created.ok()) << created.error().message;
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (client_ != nullptr) {
      for (const std::string& table : tables_) testing::DeleteTable(*client_, table);
      testing::DeleteTable(*client_, table_);
    }
  }

  std::unique_ptr<EventStore> Open(const Limits& limits = {}) {
    DynamoDbStoreOptions options;
    options.table = table_;
    options.limits = limits;
    auto store = NewDynamoDbEventStore(client_, options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  AppendResult MustAppend(const std::string& stream, ExpectedVersion expected,
                          std::vector<EventData> events) {
    auto r = store_->Append(stream, expected, std::move(events));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : AppendResult{};
  }

  void ExpectConflict(const std::string& stream, ExpectedVersion expected, int64_t actual) {
    auto r = store_->Append(stream, expected, Events(1));
    ASSERT_FALSE(r.ok()) << "expected " << expected.ToString() << " should have failed";
    EXPECT_EQ(r.error().code, ErrorCode::kWrongExpectedVersion) << r.error().message;
    ASSERT_TRUE(r.error().conflict.has_value());
    EXPECT_EQ(r.error().conflict->actual, actual);
  }

  std::vector<RecordedEvent> ReadAll(const std::string& stream, Direction direction,
                                     size_t page_size) {
    std::vector<RecordedEvent> all;
    ReadStreamOptions read;
    read.direction = direction;
    read.limit = page_size;
    read.from = direction == Direction::kForward ? 1 : 0;
    for (int pages = 0; pages < 100000; ++pages) {
      auto page = store_->ReadStream(stream, read);
      EXPECT_TRUE(page.ok()) << page.error().message;
      if (!page.ok()) break;
      for (auto& e : page->events) all.push_back(std::move(e));
      if (page->end_of_stream) break;
      read.from = all.back().version + (direction == Direction::kForward ? 1 : -1);
    }
    return all;
  }

  // The raw item of a commit, as GetItem returns it (and DynamoDB Streams carries as NewImage).
  nlohmann::json RawItem(const std::string& stream, int64_t version) {
    auto response = client_->CallJson(
        Service::kDynamoDb, "GetItem",
        {{"TableName", table_},
         {"Key", {{"StreamId", {{"S", stream}}}, {"Version", {{"N", std::to_string(version)}}}}},
         {"ConsistentRead", true}});
    EXPECT_TRUE(response.ok()) << response.error().message;
    if (!response.ok() || !response->contains("Item")) return nullptr;
    return (*response)["Item"];
  }

  FaultyTransport* faults_ = nullptr;
  std::shared_ptr<AwsClient> client_;
  std::string table_;
  std::vector<std::string> tables_;  // others the test made, deleted at the end
  std::unique_ptr<EventStore> store_;
};

// The original design kept a stream in one item and failed at about 2,400 small events; here
// each commit is its own item, and the cost of an append does not depend on what came before.
TEST_F(DynamoDbStoreTest, StreamLongerThanOneItemCouldHold) {
  constexpr int kEvents = 3000;
  constexpr int kSlice = 500;
  std::vector<double> slice_ms;
  auto slice_start = std::chrono::steady_clock::now();
  const auto start = slice_start;
  for (int v = 0; v < kEvents; ++v) {
    auto r = store_->Append("long", ExpectedVersion::Exact(v),
                            {Event("ItemAdded", R"({"sku":"apple","quantity":1})")});
    ASSERT_TRUE(r.ok()) << "at version " << v << ": " << r.error().message;
    ASSERT_EQ(r->first_version, v + 1);
    if ((v + 1) % kSlice == 0) {
      auto now = std::chrono::steady_clock::now();
      slice_ms.push_back(std::chrono::duration<double, std::milli>(now - slice_start).count());
      slice_start = now;
    }
  }
  const double append_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string slices;
  for (double ms : slice_ms) slices += " " + std::to_string(static_cast<int>(ms / kSlice * 1000));
  std::printf("[ info ] %d appends of one event in %.1f s; us per append by slice of %d:%s\n",
              kEvents, append_s, kSlice, slices.c_str());
  EXPECT_EQ(*store_->StreamVersion("long"), kEvents);

  const auto read_start = std::chrono::steady_clock::now();
  auto forward = ReadAll("long", Direction::kForward, 1000);
  auto backward = ReadAll("long", Direction::kBackward, 700);
  std::printf("[ info ] read %d events forward and backward in %.2f s\n", kEvents,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - read_start).count());
  ASSERT_EQ(forward.size(), static_cast<size_t>(kEvents));
  ASSERT_EQ(backward.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(forward[i].version, i + 1);
    ASSERT_EQ(backward[i].version, kEvents - i);
  }
  EXPECT_EQ(forward.back().data, R"({"sku":"apple","quantity":1})");
}

TEST_F(DynamoDbStoreTest, PagesAcrossCommitsOfManySizes) {
  int64_t version = 0;
  for (int i = 0; i < 30; ++i)
    version = MustAppend("s", ExpectedVersion::Any(), Events(1 + i % 5)).last_version;
  ASSERT_EQ(version, 6 * (1 + 2 + 3 + 4 + 5));
  for (size_t page : {1, 3, 7, 100}) {
    auto forward = ReadAll("s", Direction::kForward, page);
    auto backward = ReadAll("s", Direction::kBackward, page);
    ASSERT_EQ(forward.size(), static_cast<size_t>(version)) << page;
    ASSERT_EQ(backward.size(), static_cast<size_t>(version)) << page;
    for (int64_t i = 0; i < version; ++i) {
      EXPECT_EQ(forward[i].version, i + 1);
      EXPECT_EQ(backward[i].version, version - i);
    }
  }
  // From the middle of a commit (versions 4 to 6 are one commit), both ways.
  ReadStreamOptions read;
  read.from = 5;
  read.limit = 4;
  auto page = store_->ReadStream("s", read);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 4u);
  EXPECT_EQ(page->events[0].version, 5);
  EXPECT_EQ(page->events[0].data, R"({"i":1})");
  EXPECT_EQ(page->events[3].version, 8);
  EXPECT_EQ(page->stream_version, version);
  EXPECT_FALSE(page->end_of_stream);
  read.direction = Direction::kBackward;
  page = store_->ReadStream("s", read);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 4u);
  EXPECT_EQ(page->events[0].version, 5);
  EXPECT_EQ(page->events[3].version, 2);
  read.from = version + 10;  // past the end: from the end
  page = store_->ReadStream("s", read);
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->events[0].version, version);
}

// ListStreams scans for each stream's first commit and pages by id.
TEST_F(DynamoDbStoreTest, ListStreamsPagesThroughEveryStream) {
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < 25; ++i) {
    const std::string stream = "s-" + std::to_string((i * 7) % 25);  // not in id order
    expected[stream] = MustAppend(stream, ExpectedVersion::Any(), Events(1 + i % 3)).last_version;
  }
  MustAppend("s-3", ExpectedVersion::Any(), Events(2));
  expected["s-3"] += 2;
  std::map<std::string, int64_t> listed;
  std::string after;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = store_->ListStreams(after, 4);
    ASSERT_TRUE(page.ok()) << page.error().message;
    EXPECT_LE(page->streams.size(), 4u);
    for (const StreamInfo& info : page->streams) {
      EXPECT_GT(info.stream_id, after);
      EXPECT_TRUE(listed.emplace(info.stream_id, info.version).second) << info.stream_id;
    }
    if (page->next_after.empty()) break;
    after = page->next_after;
  }
  EXPECT_EQ(listed, expected);
  auto none = store_->ListStreams("s-99", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->streams.empty());
  EXPECT_TRUE(none->next_after.empty());
}

TEST_F(DynamoDbStoreTest, ExpectedVersionInsideACommitIsRefused) {
  MustAppend("s", ExpectedVersion::NoStream(), Events(3));  // versions 1-3: one commit
  MustAppend("s", ExpectedVersion::Exact(3), Events(2));    // 4-5
  for (int64_t inside : {1, 2, 4}) ExpectConflict("s", ExpectedVersion::Exact(inside), 5);
  ExpectConflict("s", ExpectedVersion::Exact(6), 5);  // past the end
  auto r = store_->Append("s", ExpectedVersion::Exact(2), Events(1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("inside the commit of versions 1 to 3"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(MustAppend("s", ExpectedVersion::Exact(5), Events(1)).first_version, 6);
  EXPECT_EQ(ReadAll("s", Direction::kForward, 100).size(), 6u);
}

TEST_F(DynamoDbStoreTest, OneItemPerCommitInTheDocumentedFormat) {
  EventData added = Event("ItemAdded", R"({"sku": "apple", "quantity": 2, "note": "caf\u00e9"})");
  added.metadata = R"({"correlation_id":"c-1"})";
  const int64_t before = NowMicros();
  MustAppend("cart-1", ExpectedVersion::NoStream(), {Event("CartOpened"), added});
  MustAppend("cart-1", ExpectedVersion::Exact(2), {Event("CheckedOut")});

  nlohmann::json item = RawItem("cart-1", 1);
  ASSERT_TRUE(item.is_object()) << item.dump();
  EXPECT_EQ(item["StreamId"], nlohmann::json({{"S", "cart-1"}}));
  EXPECT_EQ(item["Version"], nlohmann::json({{"N", "1"}}));
  EXPECT_EQ(item["LastVersion"], nlohmann::json({{"N", "2"}}));
  EXPECT_EQ(item["Count"], nlohmann::json({{"N", "2"}}));
  const int64_t recorded = std::stoll(item["RecordedAt"]["N"].get<std::string>());
  EXPECT_GE(recorded, before);
  EXPECT_LT(recorded, before + 60'000'000);
  EXPECT_EQ(item.size(), 6u) << item.dump();
  const nlohmann::json& events = item["Events"]["L"];
  ASSERT_EQ(events.size(), 2u);
  const nlohmann::json& second = events[1]["M"];
  EXPECT_EQ(second["Id"]["S"], added.id.ToString());
  EXPECT_EQ(second["Type"]["S"], "ItemAdded");
  EXPECT_EQ(second["Data"]["S"], added.data);  // the JSON text exactly, spaces and escapes kept
  EXPECT_EQ(second["Metadata"]["S"], added.metadata);
  EXPECT_EQ(events[0]["M"]["Metadata"]["S"], "{}");
  EXPECT_EQ(second.size(), 4u);

  EXPECT_TRUE(RawItem("cart-1", 2).is_null()) << "version 2 is inside the first commit";
  nlohmann::json next = RawItem("cart-1", 3);
  ASSERT_TRUE(next.is_object());
  EXPECT_EQ(next["Count"], nlohmann::json({{"N", "1"}}));
  EXPECT_GE(std::stoll(next["RecordedAt"]["N"].get<std::string>()), recorded);

  // The relay decodes the same format from a stream record's NewImage.
  auto decoded = EventsFromCommitItem(item);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  auto read = store_->ReadStream("cart-1", {});
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(decoded->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const RecordedEvent& a = (*decoded)[i];
    const RecordedEvent& b = read->events[i];
    EXPECT_EQ(a.stream_id, b.stream_id);
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.position, 0);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.data, b.data);
    EXPECT_EQ(a.metadata, b.metadata);
    EXPECT_EQ(a.recorded_at_us, recorded);
    EXPECT_EQ(b.recorded_at_us, recorded);
  }
}

// Writers that all loaded version v race for key v + 1: DynamoDB lets exactly one write it.
TEST_F(DynamoDbStoreTest, ConcurrentExactAppendsHaveOneWinnerPerVersion) {
  constexpr int kThreads = 8;
  constexpr int64_t kTarget = 120;
  std::mutex mu;
  std::map<int64_t, Uuid> winners;
  int conflicts = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        auto version = store_->StreamVersion("hot");
        ASSERT_TRUE(version.ok()) << version.error().message;
        if (*version >= kTarget) return;
        EventData e = Event("Tick");
        auto r = store_->Append("hot", ExpectedVersion::Exact(*version), {e});
        std::lock_guard lock(mu);
        if (r.ok()) {
          EXPECT_EQ(r->first_version, *version + 1);
          EXPECT_TRUE(winners.emplace(r->first_version, e.id).second)
              << "version " << r->first_version << " won twice";
        } else {
          ASSERT_EQ(r.error().code, ErrorCode::kWrongExpectedVersion) << r.error().message;
          EXPECT_GT(r.error().conflict->actual, *version);
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto all = ReadAll("hot", Direction::kForward, 1000);
  ASSERT_EQ(all.size(), winners.size());
  ASSERT_GE(all.size(), static_cast<size_t>(kTarget));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int64_t>(i + 1));
    EXPECT_EQ(all[i].id, winners[all[i].version]) << "at version " << all[i].version;
  }
  std::printf("[ info ] %zu versions won, %d conflicts\n", winners.size(), conflicts);
  EXPECT_GT(conflicts, 0) << "the writers never raced";
}

// Any-appends from many writers to one stream: each lands once, at a version of its own.
TEST_F(DynamoDbStoreTest, ConcurrentAnyAppendsAllLand) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 15;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::map<int64_t, Uuid> landed;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        EventData e = Event("Tick");
        auto r = store_->Append("busy", ExpectedVersion::Any(), {e});
        ASSERT_TRUE(r.ok()) << r.error().message;
        std::lock_guard lock(mu);
        EXPECT_TRUE(landed.emplace(r->first_version, e.id).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto all = ReadAll("busy", Direction::kForward, 1000);
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& e : all) EXPECT_EQ(e.id, landed[e.version]);
}

TEST_F(DynamoDbStoreTest, CommitOverTheItemLimitIsRefusedUpFront) {
  const std::string big = "\"" + std::string(100'000, 'x') + "\"";
  std::vector<EventData> four{Event("T", big), Event("T", big), Event("T", big), Event("T", big)};
  const int puts = faults_->Seen("PutItem");
  auto r = store_->Append("s", ExpectedVersion::Any(), four);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kLimitExceeded);
  EXPECT_NE(r.error().message.find("400 KB"), std::string::npos) << r.error().message;
  EXPECT_EQ(faults_->Seen("PutItem"), puts) << "nothing was sent";
  EXPECT_EQ(*store_->StreamVersion("s"), 0);
  // Just under the limit: written, and read back whole.
  four.pop_back();
  MustAppend("s", ExpectedVersion::Any(), four);
  auto page = store_->ReadStream("s", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 3u);
  EXPECT_EQ(page->events[2].data, big);
}

TEST_F(DynamoDbStoreTest, IdsOfTheCommitBeforeAreRefused) {
  auto first = Events(2);
  MustAppend("s", ExpectedVersion::Any(), first);
  auto r = store_->Append("s", ExpectedVersion::Exact(2), {first[1]});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId) << r.error().message;
  r = store_->Append("s", ExpectedVersion::Any(), {Event("T"), first[0]});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kDuplicateEventId) << r.error().message;
  EXPECT_EQ(*store_->StreamVersion("s"), 2);
}

TEST_F(DynamoDbStoreTest, TableCreationIsIdempotentAndChecksTheKeySchema) {
  auto again = CreateEventTable(*client_, table_, /*with_stream=*/true);
  EXPECT_TRUE(again.ok()) << again.error().message;
  MustAppend("s", ExpectedVersion::Any(), Events(1));
  again = CreateEventTable(*client_, table_, /*with_stream=*/false);
  EXPECT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*store_->StreamVersion("s"), 1) << "the existing table was kept";

  // A table of the same name with another key schema.
  const std::string other = testing::UniqueTableName("evs-other");
  tables_.push_back(other);
  auto made = client_->CallJson(
      Service::kDynamoDb, "CreateTable",
      {{"TableName", other},
       {"AttributeDefinitions", {{{"AttributeName", "Uuid"}, {"AttributeType", "S"}}}},
       {"KeySchema", {{{"AttributeName", "Uuid"}, {"KeyType", "HASH"}}}},
       {"BillingMode", "PAY_PER_REQUEST"}});
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto clash = CreateEventTable(*client_, other, /*with_stream=*/false);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(clash.error().message.find("another key schema"), std::string::npos)
      << clash.error().message;
  DynamoDbStoreOptions options;
  options.table = other;
  auto wrong = NewDynamoDbEventStore(client_, options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);

  // A missing table: kNotFound, unless asked to create it.
  options.table = testing::UniqueTableName("evs-missing");
  tables_.push_back(options.table);
  auto missing = NewDynamoDbEventStore(client_, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  EXPECT_NE(missing.error().message.find("evs aws init"), std::string::npos);
  options.create_table_if_missing = true;
  auto created = NewDynamoDbEventStore(client_, options);
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto r = (*created)->Append("s", ExpectedVersion::NoStream(), Events(1));
  EXPECT_TRUE(r.ok()) << r.error().message;
}

// The public API, with everything from the environment that scripts/standins wrote.
TEST_F(DynamoDbStoreTest, PublicApiOpensFromTheEnvironment) {
  const std::string table = testing::UniqueTableName("evs-public");
  tables_.push_back(table);
  auto created = CreateDynamoDbTable(table, /*with_stream=*/true);
  ASSERT_TRUE(created.ok()) << created.error().message;
  DynamoDbStoreOptions options;
  options.table = table;
  auto store = OpenDynamoDbEventStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto r = (*store)->Append("s", ExpectedVersion::NoStream(), Events(2));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->last_version, 2);
  EXPECT_EQ(r->last_position, 0);
  EXPECT_EQ((*store)->Stats().appends, 1u);
}

TEST_F(DynamoDbStoreTest, ThrottlingAndServerErrorsAreRetried) {
  faults_->FailNext("PutItem", 400, "ThrottlingException");
  faults_->FailNext("PutItem", 500, "InternalServerError");
  faults_->FailNext("PutItem", 400, "ProvisionedThroughputExceededException");
  faults_->FailNext("Query", 503, "ServiceUnavailable");
  const int puts = faults_->Seen("PutItem");
  auto r = MustAppend("s", ExpectedVersion::Any(), Events(2));
  EXPECT_EQ(r.first_version, 1);
  EXPECT_EQ(faults_->Seen("PutItem") - puts, 4);
  EXPECT_EQ(*store_->StreamVersion("s"), 2);

  // Throttled on every attempt: kUnavailable with the service's words, nothing written.
  for (int i = 0; i < 5; ++i) faults_->FailNext("PutItem", 400, "ThrottlingException");
  auto throttled = store_->Append("s", ExpectedVersion::Exact(2), Events(1));
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(throttled.error().message.find("ThrottlingException"), std::string::npos)
      << throttled.error().message;
  EXPECT_EQ(*store_->StreamVersion("s"), 2);
}

// The PutItem landed but its answer was lost: the client sends it again, DynamoDB refuses the
// taken key, and the store recognises its own commit there instead of reporting a conflict.
TEST_F(DynamoDbStoreTest, LostAnswerAfterAWriteIsRecognisedAsTheSameAppend) {
  faults_->LoseNextAnswer("PutItem");
  auto r = MustAppend("s", ExpectedVersion::NoStream(), Events(2));
  EXPECT_EQ(r.first_version, 1);
  EXPECT_EQ(r.last_version, 2);

  faults_->LoseNextAnswer("PutItem");
  r = MustAppend("s", ExpectedVersion::Exact(2), Events(3));
  EXPECT_EQ(r.first_version, 3);
  EXPECT_EQ(r.last_version, 5);

  faults_->LoseNextAnswer("PutItem");
  r = MustAppend("s", ExpectedVersion::Any(), Events(1));
  EXPECT_EQ(r.first_version, 6);

  faults_->LoseNextAnswer("PutItem");
  r = MustAppend("s", ExpectedVersion::StreamExists(), Events(1));
  EXPECT_EQ(r.first_version, 7);
  EXPECT_EQ(ReadAll("s", Direction::kForward, 100).size(), 7u);

  // Every answer lost: the append fails as unavailable, and the caller's own retry of it (same
  // ids, same expectation) then finds it committed.
  auto events = Events(2);
  for (int i = 0; i < 5; ++i) faults_->LoseNextAnswer("PutItem");
  auto lost = store_->Append("s", ExpectedVersion::Exact(7), events);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::kUnavailable) << lost.error().message;
  r = MustAppend("s", ExpectedVersion::Exact(7), events);
  EXPECT_EQ(r.first_version, 8);
  EXPECT_EQ(r.last_version, 9);
  EXPECT_EQ(*store_->StreamVersion("s"), 9);
}

TEST_F(DynamoDbStoreTest, MissingTableIsUnavailableNotAMissingStream) {
  testing::DeleteTable(*client_, table_);
  for (int i = 0; i < 100; ++i) {  // dynalite deletes after a moment
    if (!client_->CallJson(Service::kDynamoDb, "DescribeTable", {{"TableName", table_}}).ok()) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  auto page = store_->ReadStream("s", {});
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code, ErrorCode::kUnavailable) << page.error().message;
  EXPECT_NE(page.error().message.find("ResourceNotFoundException"), std::string::npos);
}

// Snapshots (the contract suite in snapshot_store_test.cc also runs on DynamoDB): a table of
// their own, "<table>-snapshots", that no reader of the events table and no relay ever sees.
TEST_F(DynamoDbStoreTest, SnapshotsLiveInATableOfTheirOwn) {
  const std::string snapshots_table = SnapshotTableFor(table_);
  EXPECT_EQ(snapshots_table, table_ + "-snapshots");
  tables_.push_back(snapshots_table);
  DynamoDbStoreOptions options;
  options.table = table_;
  auto missing = NewDynamoDbSnapshotStore(client_, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  EXPECT_NE(missing.error().message.find("evs aws init --table " + table_ + " --snapshots"),
            std::string::npos)
      << missing.error().message;
  options.create_table_if_missing = true;
  auto snapshots = NewDynamoDbSnapshotStore(client_, options);
  ASSERT_TRUE(snapshots.ok()) << snapshots.error().message;
  options.create_table_if_missing = false;
  ASSERT_TRUE(NewDynamoDbSnapshotStore(client_, options).ok()) << "opens once it is there";
  options.create_table_if_missing = true;
  ASSERT_TRUE(NewDynamoDbSnapshotStore(client_, options).ok()) << "creating again is fine";

  // Its key is the stream id alone, and it has no DynamoDB stream: nothing relays a snapshot.
  auto described =
      client_->CallJson(Service::kDynamoDb, "DescribeTable", {{"TableName", snapshots_table}});
  ASSERT_TRUE(described.ok()) << described.error().message;
  const nlohmann::json& description = (*described)["Table"];
  EXPECT_EQ(description["KeySchema"],
            nlohmann::json::parse(R"([{"AttributeName":"StreamId","KeyType":"HASH"}])"));
  EXPECT_FALSE(description.value("StreamSpecification", nlohmann::json::object())
                   .value("StreamEnabled", false));

  const AppendResult appended = MustAppend("cart-1", ExpectedVersion::NoStream(), Events(2));
  auto page = store_->ReadStream("cart-1", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  Snapshot snapshot;
  snapshot.stream_id = "cart-1";
  snapshot.version = appended.last_version;
  snapshot.last_event_id = page->events.back().id;
  snapshot.schema_version = 3;
  snapshot.state = R"({"items":2})";
  ASSERT_TRUE((*snapshots)->Save(snapshot).ok());

  // The item, in the documented format (evs/dynamodb.h).
  auto got = client_->CallJson(
      Service::kDynamoDb, "GetItem",
      {{"TableName", snapshots_table}, {"Key", {{"StreamId", {{"S", "cart-1"}}}}}});
  ASSERT_TRUE(got.ok()) << got.error().message;
  const nlohmann::json& item = (*got)["Item"];
  EXPECT_EQ(item["Version"], nlohmann::json({{"N", "2"}}));
  EXPECT_EQ(item["LastEventId"], nlohmann::json({{"S", snapshot.last_event_id.ToString()}}));
  EXPECT_EQ(item["SchemaVersion"], nlohmann::json({{"N", "3"}}));
  EXPECT_EQ(item["State"], nlohmann::json({{"S", R"({"items":2})"}}));
  ASSERT_TRUE(item.contains("TakenAt"));
  EXPECT_EQ(item.size(), 6u);

  // The events table holds the commit and nothing else; its readers see what they saw before.
  auto scanned = client_->CallJson(Service::kDynamoDb, "Scan", {{"TableName", table_}});
  ASSERT_TRUE(scanned.ok()) << scanned.error().message;
  EXPECT_EQ((*scanned)["Items"].size(), 1u);
  auto streams = store_->ListStreams("", 10);
  ASSERT_TRUE(streams.ok()) << streams.error().message;
  ASSERT_EQ(streams->streams.size(), 1u);
  EXPECT_EQ(streams->streams[0].version, 2);
  EXPECT_EQ(*store_->StreamVersion("cart-1"), 2);
}

TEST_F(DynamoDbStoreTest, DamagedSnapshotItemsAreCorruptionNamingTheStream) {
  DynamoDbStoreOptions options;
  options.table = table_;
  options.create_table_if_missing = true;
  tables_.push_back(SnapshotTableFor(table_));
  auto snapshots = NewDynamoDbSnapshotStore(client_, options);
  ASSERT_TRUE(snapshots.ok()) << snapshots.error().message;
  const nlohmann::json good = {{"Version", {{"N", "3"}}},
                               {"LastEventId", {{"S", Uuid::Random().ToString()}}},
                               {"SchemaVersion", {{"N", "1"}}},
                               {"State", {{"S", "{}"}}},
                               {"TakenAt", {{"N", "1"}}}};
  const std::map<std::string, std::pair<std::string, nlohmann::json>> damages = {
      {"bad-uuid", {"LastEventId", {{"S", "not-a-uuid"}}}},
      {"bad-version", {"Version", {{"S", "3"}}}},
      {"zero-version", {"Version", {{"N", "0"}}}},
      {"number-state", {"State", {{"N", "12"}}}},
      {"huge-schema", {"SchemaVersion", {{"N", "99999999999"}}}},
  };
  for (const auto& [stream, damage] : damages) {
    nlohmann::json item = good;
    item["StreamId"] = {{"S", stream}};
    item[damage.first] = damage.second;
    auto put = client_->CallJson(Service::kDynamoDb, "PutItem",
                                 {{"TableName", SnapshotTableFor(table_)}, {"Item", item}});
    ASSERT_TRUE(put.ok()) << put.error().message;
  }
  for (const auto& [stream, damage] : damages) {
    auto loaded = (*snapshots)->Load(stream);
    ASSERT_FALSE(loaded.ok()) << stream;
    EXPECT_EQ(loaded.error().code, ErrorCode::kCorruption) << loaded.error().message;
    EXPECT_NE(loaded.error().message.find("'" + stream + "'"), std::string::npos)
        << loaded.error().message;
  }
  auto listed = (*snapshots)->List("", "", 10);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, ErrorCode::kCorruption) << listed.error().message;
  auto dropped = (*snapshots)->Drop("");
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(*dropped, static_cast<int64_t>(damages.size()));
}

TEST_F(DynamoDbStoreTest, SnapshotTableNeedsItsKeySchemaAndANameDynamoDbTakes) {
  // "<other>-snapshots" made as an events table: not a snapshot table.
  const std::string other = testing::UniqueTableName("evs-clash");
  tables_.push_back(SnapshotTableFor(other));
  ASSERT_TRUE(CreateEventTable(*client_, SnapshotTableFor(other), /*with_stream=*/false).ok());
  DynamoDbStoreOptions options;
  options.table = other;
  options.create_table_if_missing = true;
  auto clash = NewDynamoDbSnapshotStore(client_, options);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(clash.error().message.find("another key schema"), std::string::npos)
      << clash.error().message;

  options.table = std::string(250, 't');
  auto too_long = NewDynamoDbSnapshotStore(client_, options);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(too_long.error().message.find("over 255"), std::string::npos)
      << too_long.error().message;
}

// The public API, with everything from the environment that scripts/standins wrote.
TEST_F(DynamoDbStoreTest, PublicApiOpensTheSnapshotStoreFromTheEnvironment) {
  DynamoDbStoreOptions options;
  options.table = table_;
  options.create_table_if_missing = true;
  tables_.push_back(SnapshotTableFor(table_));
  auto snapshots = OpenDynamoDbSnapshotStore(options);
  ASSERT_TRUE(snapshots.ok()) << snapshots.error().message;
  Snapshot snapshot;
  snapshot.stream_id = "s";
  snapshot.version = 1;
  snapshot.state = "[]";
  ASSERT_TRUE((*snapshots)->Save(snapshot).ok());
  auto loaded = (*snapshots)->Load("s");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->state, "[]");
  EXPECT_GT((*loaded)->taken_at_us, 1'700'000'000'000'000) << "by the system clock";
}

// Item decoding alone: no stand-in needed.
TEST(DynamoDbItems, RoundTripAndCorruption) {
  std::vector<EventData> events = Events(3);
  nlohmann::json item = CommitItem("s-1", 4, 1234, events);
  auto commit = DecodeCommitItem(item);
  ASSERT_TRUE(commit.ok()) << commit.error().message;
  EXPECT_EQ(commit->stream_id, "s-1");
  EXPECT_EQ(commit->first_version, 4);
  EXPECT_EQ(commit->last_version, 6);
  EXPECT_EQ(commit->recorded_at_us, 1234);
  ASSERT_EQ(commit->events.size(), 3u);
  EXPECT_EQ(commit->events[2].version, 6);
  EXPECT_EQ(commit->events[2].id, events[2].id);
  EXPECT_EQ(commit->events[2].data, events[2].data);
  EXPECT_GE(EstimateCommitItemBytes("s-1", events), item.dump().size() / 2);

  auto corrupt = [&](auto change) {
    nlohmann::json bad = item;
    change(bad);
    auto decoded = EventsFromCommitItem(bad);
    EXPECT_FALSE(decoded.ok()) << bad.dump();
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
    }
  };
  corrupt([](nlohmann::json& i) { i["Count"]["N"] = "2"; });
  corrupt([](nlohmann::json& i) { i["LastVersion"]["N"] = "7"; });
  corrupt([](nlohmann::json& i) { i["Version"] = {{"S", "4"}}; });
  corrupt([](nlohmann::json& i) { i["Events"]["L"][1]["M"]["Id"]["S"] = "not-a-uuid"; });
  corrupt([](nlohmann::json& i) { i["Events"]["L"][0]["M"].erase("Data"); });
  corrupt([](nlohmann::json& i) { i.erase("RecordedAt"); });
  corrupt([](nlohmann::json& i) { i = nlohmann::json::array(); });
}

// Found by fuzz/fuzz_stored_event: a Version near INT64_MAX overflowed the check of LastVersion
// and the version count (undefined behaviour) instead of being refused.
TEST(DynamoDbItems, VersionsPastTheLargestAreCorruption) {
  nlohmann::json item = CommitItem("s", 1, 0, Events(1));
  item["Version"]["N"] = "9223372036854775807";
  item["LastVersion"]["N"] = "9223372036854775807";
  auto decoded = DecodeCommitItem(item);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  item = CommitItem("s", 1, 0, Events(2));
  item["Version"]["N"] = "9223372036854775806";
  item["LastVersion"]["N"] = "9223372036854775807";
  decoded = DecodeCommitItem(item);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorruption);
  item = CommitItem("s", 1, 0, Events(1));
  item["Version"]["N"] = "9223372036854775806";
  item["LastVersion"]["N"] = "9223372036854775806";
  decoded = DecodeCommitItem(item);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->events[0].version, 9223372036854775806);
}

}  // namespace
}  // namespace evs::aws
