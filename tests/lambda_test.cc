// The Lambda runtime (`bootstrap`) as a child process, driven by a local Runtime API on
// 127.0.0.1 with events built from the documented formats and from what the store really wrote
// to dynalite: a cart opened and filled through `api` is relayed into kinesalite by `relay`,
// consumed into the projection and archived into s3rver by `consume`. Malformed events, handler
// errors and a deadline about to pass are each reported through the Runtime API, and the loop
// goes on. Init errors (missing or invalid settings) are reported as such.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "aws/dynamodb_event_store.h"
#include "aws/dynamodb_items.h"
#include "aws/kinesis_records.h"
#include "aws/kinesis_stream_setup.h"
#include "aws/s3_object_store.h"
#include "aws_test_env.h"
#include "cart/cart.h"
#include "evs/archive.h"
#include "evs/dynamodb.h"
#include "evs/repository.h"
#include "evs/s3.h"
#include "evs/verify.h"
#include "evs_child.h"
#include "lambda_runtime_fake.h"
#include "read_model_dump.h"
#include "temp_dir.h"

namespace evs {
namespace {

using nlohmann::json;
using testing::Child;
using testing::FakeRuntimeApi;
using testing::RuntimeAnswer;
using namespace std::chrono_literals;

constexpr auto kAnswerWait = 30s;

// Sets the environment a function starts with (inherited by the child), and clears it after.
class FunctionEnvironment {
 public:
  explicit FunctionEnvironment(std::map<std::string, std::string> values)
      : values_(std::move(values)) {
    for (const char* name :
         {"_HANDLER", "EVS_STORE", "EVS_KINESIS_STREAM", "EVS_ARCHIVE", "EVS_READ_MODEL"}) {
      unsetenv(name);
    }
    for (const auto& [name, value] : values_) setenv(name.c_str(), value.c_str(), 1);
  }
  ~FunctionEnvironment() {
    for (const auto& [name, value] : values_) unsetenv(name.c_str());
  }

 private:
  std::map<std::string, std::string> values_;
};

// The proxy answer of a successful api invocation.
json ProxyAnswer(const std::optional<RuntimeAnswer>& answer) {
  EXPECT_TRUE(answer.has_value()) << "no answer from the runtime";
  if (!answer) return json::object();
  EXPECT_TRUE(answer->ok) << answer->error_type << ": " << answer->body;
  return json::parse(answer->body, nullptr, false);
}

std::unique_ptr<Child> StartRuntime(FakeRuntimeApi& runtime) {
  setenv("AWS_LAMBDA_RUNTIME_API", runtime.endpoint().c_str(), 1);
  return std::make_unique<Child>(std::vector<std::string>{});
}

TEST(LambdaInit, MissingOrInvalidSettingsAreInitErrors) {
  for (const auto& [settings, expected] :
       std::vector<std::pair<std::map<std::string, std::string>, std::string>>{
           {{{"_HANDLER", "api"}}, "EVS_STORE"},
           {{{"_HANDLER", "api"}, {"EVS_STORE", "sqlite"}}, "EVS_STORE=dynamodb:TABLE"},
           {{{"_HANDLER", "relay"}}, "EVS_KINESIS_STREAM"},
           {{{"_HANDLER", "nonsense"}}, "expected api, relay, consume or replay"},
           {{}, "_HANDLER"}}) {
    FakeRuntimeApi runtime;
    FunctionEnvironment environment(settings);
    auto child = StartRuntime(runtime);
    auto error = runtime.WaitForInitError(kAnswerWait);
    ASSERT_TRUE(error.has_value()) << child->Stderr();
    EXPECT_EQ(error->error_type, "InitError");
    EXPECT_NE(error->body.find(expected), std::string::npos) << error->body;
    auto exit = child->WaitForExit();
    ASSERT_TRUE(exit.has_value());
    EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 1);
  }
}

class LambdaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::AwsTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    dynamodb_ = testing::DynamoDbTestClient();
    ASSERT_NE(dynamodb_, nullptr);
    table_ = testing::UniqueTableName("evs-lambda");
    ASSERT_TRUE(aws::CreateEventTable(*dynamodb_, table_, /*with_stream=*/true).ok());
  }
  void TearDown() override {
    if (dynamodb_) testing::DeleteTable(*dynamodb_, table_);
    for (const std::string& stream : kinesis_streams_) {
      (void)dynamodb_->CallJson(aws::Service::kKinesis, "DeleteStream", {{"StreamName", stream}});
    }
  }

  std::string NewKinesisStream() {
    std::string name = "evs-lambda-" + Uuid::Random().ToString().substr(0, 8);
    EXPECT_TRUE(aws::CreateKinesisStream(*dynamodb_, name, 1).ok());
    kinesis_streams_.push_back(name);
    return name;
  }

  std::unique_ptr<EventStore> OpenStore() {
    DynamoDbStoreOptions options;
    options.table = table_;
    auto store = aws::NewDynamoDbEventStore(dynamodb_, options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // The DynamoDB Streams event of every commit item of `stream_ids`, in version order per stream.
  json StreamsEventFor(const std::vector<std::string>& stream_ids) {
    json records = json::array();
    int64_t sequence = 4000000000000000000;
    for (const std::string& id : stream_ids) {
      auto got = dynamodb_->CallJson(aws::Service::kDynamoDb, "Query",
                                     {{"TableName", table_},
                                      {"KeyConditionExpression", "StreamId = :s"},
                                      {"ExpressionAttributeValues", {{":s", {{"S", id}}}}},
                                      {"ConsistentRead", true}});
      EXPECT_TRUE(got.ok()) << got.error().message;
      if (!got.ok()) continue;
      for (const json& item : (*got)["Items"]) {
        records.push_back(
            {{"eventID", Uuid::Random().ToString()},
             {"eventName", "INSERT"},
             {"eventVersion", "1.1"},
             {"eventSource", "aws:dynamodb"},
             {"awsRegion", "us-east-1"},
             {"dynamodb",
              {{"Keys", {{"StreamId", item["StreamId"]}, {"Version", item["Version"]}}},
               {"NewImage", item},
               {"SequenceNumber", std::to_string(++sequence)},
               {"SizeBytes", 400},
               {"StreamViewType", "NEW_IMAGE"}}},
             {"eventSourceARN", "arn:aws:dynamodb:us-east-1:000000000000:table/" + table_ +
                                    "/stream/2026-11-26T00:00:00.000"}});
      }
    }
    return {{"Records", records}};
  }

  // The Lambda event of everything the (one-shard) Kinesis stream holds.
  json KinesisEventFor(const std::string& stream) {
    json records = json::array();
    auto shards =
        dynamodb_->CallJson(aws::Service::kKinesis, "ListShards", {{"StreamName", stream}});
    EXPECT_TRUE(shards.ok());
    if (!shards.ok()) return {{"Records", records}};
    for (const json& shard : (*shards)["Shards"]) {
      const std::string shard_id = shard["ShardId"];
      auto iterator = dynamodb_->CallJson(
          aws::Service::kKinesis, "GetShardIterator",
          {{"StreamName", stream}, {"ShardId", shard_id}, {"ShardIteratorType", "TRIM_HORIZON"}});
      EXPECT_TRUE(iterator.ok());
      if (!iterator.ok()) continue;
      auto got =
          dynamodb_->CallJson(aws::Service::kKinesis, "GetRecords",
                              {{"ShardIterator", (*iterator)["ShardIterator"]}, {"Limit", 10000}});
      EXPECT_TRUE(got.ok());
      if (!got.ok()) continue;
      for (const json& record : (*got)["Records"]) {
        const std::string sequence = record["SequenceNumber"];
        records.push_back(
            {{"kinesis",
              {{"kinesisSchemaVersion", "1.0"},
               {"partitionKey", record["PartitionKey"]},
               {"sequenceNumber", sequence},
               {"data", record["Data"]},
               {"approximateArrivalTimestamp", 1764100000.5}}},
             {"eventSource", "aws:kinesis"},
             {"eventVersion", "1.0"},
             {"eventID", shard_id + ":" + sequence},
             {"eventName", "aws:kinesis:record"},
             {"awsRegion", "us-east-1"},
             {"eventSourceARN", "arn:aws:kinesis:us-east-1:000000000000:stream/" + stream}});
      }
    }
    return {{"Records", records}};
  }

  std::shared_ptr<aws::AwsClient> dynamodb_;
  std::string table_;
  std::vector<std::string> kinesis_streams_;
  testing::TempDir dir_;
};

// api: the cart endpoints through API Gateway events; bad events and a deadline too close are
// reported as errors, and the next invocation is served as usual.
TEST_F(LambdaTest, ApiServesCartsAndReportsBadEventsWithoutStopping) {
  FakeRuntimeApi runtime;
  FunctionEnvironment environment({{"_HANDLER", "api"}, {"EVS_STORE", "dynamodb:" + table_}});
  auto child = StartRuntime(runtime);

  json opened = ProxyAnswer(runtime.WaitForAnswer(
      runtime.Invoke(testing::ApiGatewayEvent("POST", "/carts").dump()), kAnswerWait));
  ASSERT_EQ(opened.value("statusCode", 0), 201) << opened.dump() << child->Stderr();
  const std::string cart = json::parse(opened["body"].get<std::string>())["cart_id"];
  EXPECT_EQ(opened["headers"]["location"], "/carts/" + cart);

  // Bad events, each an error; a deadline too close, an error before any work.
  for (const auto& [event, type] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "InvalidEvent"},
           {R"({"version":"1.0","httpMethod":"GET","path":"/carts"})", "InvalidEvent"},
           {R"({"version":"2.0","rawPath":"/carts"})", "InvalidEvent"},
           {R"({"version":"2.0","rawPath":"/x","requestContext":{"http":{"method":"GET"}},)"
            R"("body":"%%%","isBase64Encoded":true})",
            "InvalidEvent"}}) {
    auto answer = runtime.WaitForAnswer(runtime.Invoke(event), kAnswerWait);
    ASSERT_TRUE(answer.has_value()) << event;
    EXPECT_FALSE(answer->ok) << event;
    EXPECT_EQ(answer->error_type, type) << event << " -> " << answer->body;
    EXPECT_NE(json::parse(answer->body, nullptr, false).value("errorMessage", ""), "");
  }
  auto late = runtime.WaitForAnswer(
      runtime.Invoke(
          testing::ApiGatewayEvent("POST", "/carts/" + cart + "/items", R"({"name":"fig"})").dump(),
          100ms),
      kAnswerWait);
  ASSERT_TRUE(late.has_value());
  EXPECT_FALSE(late->ok);
  EXPECT_EQ(late->error_type, "DeadlineTooClose");

  json added = ProxyAnswer(runtime.WaitForAnswer(
      runtime.Invoke(
          testing::ApiGatewayEvent("POST", "/carts/" + cart + "/items",
                                   R"({"name":"pear","quantity":2,"unit_price_cents":120})")
              .dump()),
      kAnswerWait));
  EXPECT_EQ(added.value("statusCode", 0), 200) << added.dump();
  json got = ProxyAnswer(runtime.WaitForAnswer(
      runtime.Invoke(testing::ApiGatewayEvent("GET", "/carts/" + cart).dump()), kAnswerWait));
  ASSERT_EQ(got.value("statusCode", 0), 200) << got.dump();
  json body = json::parse(got["body"].get<std::string>());
  EXPECT_EQ(body["total_cents"], 240);
  EXPECT_EQ(body["version"], 2);
  EXPECT_EQ(got["headers"]["etag"], "\"2\"");
  // The same error mapping as evs serve: a domain error is a problem document, not an error.
  json refused = ProxyAnswer(runtime.WaitForAnswer(
      runtime.Invoke(
          testing::ApiGatewayEvent("POST", "/carts/" + cart + "/items", R"({"name":""})").dump()),
      kAnswerWait));
  EXPECT_EQ(refused.value("statusCode", 0), 400) << refused.dump();
  EXPECT_EQ(refused["headers"]["content-type"], "application/problem+json");
  json log = ProxyAnswer(runtime.WaitForAnswer(
      runtime.Invoke(testing::ApiGatewayEvent("GET", "/log").dump()), kAnswerWait));
  EXPECT_EQ(log.value("statusCode", 0), 501) << log.dump();
}

// The whole path of the original on Lambda: api writes carts to DynamoDB, relay publishes the
// table's stream records to Kinesis, consume projects and archives them; a retried Kinesis batch
// changes nothing; a record that cannot be handled is answered as the batch's failure.
TEST_F(LambdaTest, ApiRelayAndConsumeCarryCartsIntoTheReadModelAndTheArchive) {
  const std::string kinesis = NewKinesisStream();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> carts;
  {
    FakeRuntimeApi runtime;
    FunctionEnvironment environment({{"_HANDLER", "api"}, {"EVS_STORE", "dynamodb:" + table_}});
    auto child = StartRuntime(runtime);
    for (int c = 0; c < 3; ++c) {
      json opened = ProxyAnswer(runtime.WaitForAnswer(
          runtime.Invoke(testing::ApiGatewayEvent("POST", "/carts").dump()), kAnswerWait));
      ASSERT_EQ(opened.value("statusCode", 0), 201) << opened.dump() << child->Stderr();
      carts.push_back(json::parse(opened["body"].get<std::string>())["cart_id"]);
      for (int i = 0; i <= c; ++i) {
        json added = ProxyAnswer(runtime.WaitForAnswer(
            runtime.Invoke(testing::ApiGatewayEvent("POST", "/carts/" + carts.back() + "/items",
                                                    json{{"name", "item-" + std::to_string(i)},
                                                         {"quantity", 1 + i},
                                                         {"unit_price_cents", 100}}
                                                        .dump())
                               .dump()),
            kAnswerWait));
        ASSERT_EQ(added.value("statusCode", 0), 200) << added.dump();
      }
    }
  }
  std::vector<std::string> stream_ids;
  for (const auto& id : carts) stream_ids.push_back(cart::Cart::StreamIdFor(id));

  {
    FakeRuntimeApi runtime;
    FunctionEnvironment environment({{"_HANDLER", "relay"}, {"EVS_KINESIS_STREAM", kinesis}});
    auto child = StartRuntime(runtime);
    auto answer =
        runtime.WaitForAnswer(runtime.Invoke(StreamsEventFor(stream_ids).dump()), kAnswerWait);
    ASSERT_TRUE(answer.has_value()) << child->Stderr();
    ASSERT_TRUE(answer->ok) << answer->body;
    EXPECT_EQ(json::parse(answer->body), json::parse(R"({"batchItemFailures":[]})"));
    auto bad = runtime.WaitForAnswer(runtime.Invoke(R"({"Records": 7})"), kAnswerWait);
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->error_type, "InvalidEvent") << bad->body;
  }

  const json kinesis_event = KinesisEventFor(kinesis);
  ASSERT_EQ(kinesis_event["Records"].size(), 9u);  // 3 opens and 6 adds, a commit each
  const std::string location = "s3://evs-test/lambda-" + Uuid::Random().ToString().substr(0, 8);
  const std::string read_model = dir_.File("cart_summary.sqlite");
  {
    FakeRuntimeApi runtime;
    FunctionEnvironment environment(
        {{"_HANDLER", "consume"}, {"EVS_ARCHIVE", location}, {"EVS_READ_MODEL", read_model}});
    auto child = StartRuntime(runtime);
    for (int delivery = 0; delivery < 2; ++delivery) {  // the second: Lambda retrying the batch
      auto answer = runtime.WaitForAnswer(runtime.Invoke(kinesis_event.dump()), kAnswerWait);
      ASSERT_TRUE(answer.has_value()) << child->Stderr();
      ASSERT_TRUE(answer->ok) << answer->body;
      EXPECT_EQ(json::parse(answer->body), json::parse(R"({"batchItemFailures":[]})"))
          << child->Stderr();
    }
    // A record that cannot be decoded, after one that can: the answer names it, and the one
    // before it is handled (already applied, so skipped).
    json broken = kinesis_event;
    broken["Records"].erase(broken["Records"].begin() + 2, broken["Records"].end());
    broken["Records"][1]["kinesis"]["data"] = "bm90IGEgY29tbWl0";  // "not a commit"
    const std::string bad_sequence = broken["Records"][1]["kinesis"]["sequenceNumber"];
    auto answer = runtime.WaitForAnswer(runtime.Invoke(broken.dump()), kAnswerWait);
    ASSERT_TRUE(answer.has_value());
    ASSERT_TRUE(answer->ok) << answer->body;
    EXPECT_EQ(json::parse(answer->body),
              json({{"batchItemFailures", {{{"itemIdentifier", bad_sequence}}}}}));
    // The deadline close: nothing handled, the first record comes again.
    auto late = runtime.WaitForAnswer(runtime.Invoke(kinesis_event.dump(), 100ms), kAnswerWait);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(json::parse(late->body)["batchItemFailures"][0]["itemIdentifier"],
              kinesis_event["Records"][0]["kinesis"]["sequenceNumber"]);
    // Not a Kinesis event at all.
    auto invalid = runtime.WaitForAnswer(runtime.Invoke(R"({"Records":"x"})"), kAnswerWait);
    ASSERT_TRUE(invalid.has_value());
    EXPECT_EQ(invalid->error_type, "InvalidEvent");
    // The event log went to stdout, a JSON line per event.
    EXPECT_NE(child->Stdout().find("\"type\":\"CartOpened\""), std::string::npos);
  }

  // The read model agrees with the carts; the archive holds every event once, in order.
  Repository<cart::Cart> repo(*store);
  testing::ExpectReadModelMatchesCarts(read_model, repo, carts);
  auto objects = OpenObjectStore(location + "/shardId-000000000000");  // the shard's archive
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  auto report = Verify(nullptr, objects->get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_TRUE(report->feed_archive);
  EXPECT_EQ(report->archive_events, 3 + 6);
  EXPECT_EQ(report->archive_segments, 1) << "the retried batch added nothing";
}

// replay: an archive of carts on s3rver re-published to kinesalite in two invocations, the first
// stopped early (max_events; a deadline works the same way) and answering where to continue.
// Bad input is an InvalidEvent error; a deadline too close publishes nothing.
TEST_F(LambdaTest, ReplayRepublishesAnArchiveInBoundedInvocations) {
  const std::string kinesis = NewKinesisStream();
  SqliteStoreOptions store_options;
  store_options.path = dir_.File("events.sqlite");
  store_options.durable = false;
  auto store = OpenSqliteEventStore(store_options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  Repository<cart::Cart> repo(**store);
  std::vector<std::string> carts;
  for (int c = 0; c < 5; ++c) {
    carts.push_back(Uuid::Random().ToString());
    ASSERT_TRUE(repo.Create(carts.back(), [](cart::Cart& cart) { return cart.Open(); }).ok());
    for (int i = 0; i < 4 + c; ++i) {
      ASSERT_TRUE(repo.Execute(carts.back(),
                               [&](cart::Cart& cart) {
                                 return cart.AddItem("item-" + std::to_string(i % 3), 1, 100);
                               })
                      .ok());
    }
  }
  auto head = (*store)->HeadPosition();
  ASSERT_TRUE(head.ok());
  const int64_t total = *head;
  const std::string location = "s3://evs-test/replay-" + Uuid::Random().ToString().substr(0, 8);
  auto objects = OpenObjectStore(location);
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ArchiverOptions segments;
  segments.segment_max_events = 6;
  ASSERT_TRUE(ArchiveOnce(**store, **objects, segments).ok());

  FakeRuntimeApi runtime;
  FunctionEnvironment environment(std::map<std::string, std::string>{{"_HANDLER", "replay"}});
  auto child = StartRuntime(runtime);
  auto invoke = [&](const json& event, std::chrono::milliseconds deadline) {
    auto answer = runtime.WaitForAnswer(runtime.Invoke(event.dump(), deadline), kAnswerWait);
    EXPECT_TRUE(answer.has_value()) << child->Stderr();
    return answer.value_or(RuntimeAnswer{});
  };
  // The first invocation stops half way and says where to go on.
  const json first_event = {
      {"archive", location}, {"kinesis_stream", kinesis}, {"from", 1}, {"max_events", total / 2}};
  RuntimeAnswer first = invoke(first_event, 3s);
  ASSERT_TRUE(first.ok) << first.error_type << ": " << first.body << child->Stderr();
  json answer = json::parse(first.body);
  EXPECT_EQ(answer["done"], false) << answer;
  EXPECT_EQ(answer["next_from"], total / 2 + 1) << answer;
  EXPECT_EQ(answer["published"], total / 2) << answer;
  // The second goes on from there and finishes.
  RuntimeAnswer second = invoke(
      {{"archive", location}, {"kinesis_stream", kinesis}, {"from", answer["next_from"]}}, 10s);
  ASSERT_TRUE(second.ok) << second.error_type << ": " << second.body << child->Stderr();
  answer = json::parse(second.body);
  EXPECT_EQ(answer["done"], true) << answer;
  EXPECT_EQ(answer["next_from"], total + 1) << answer;
  EXPECT_EQ(answer["published"], total - total / 2) << answer;

  // Kinesis holds every event once, in each stream's order, marked as a replay.
  std::map<std::string, int64_t> versions;
  int64_t events = 0;
  const json on_stream = KinesisEventFor(kinesis);
  for (const json& record : on_stream["Records"]) {
    auto data = aws::Base64Decode(record["kinesis"]["data"].get<std::string>());
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(json::parse(*data).value("replay", false), true);
    auto decoded = aws::DecodeCommitRecord(*data);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    for (const RecordedEvent& e : *decoded) {
      EXPECT_EQ(e.stream_id, record["kinesis"]["partitionKey"]);
      EXPECT_EQ(e.version, ++versions[e.stream_id]) << e.stream_id;
      EXPECT_GE(e.position, 1);
      ++events;
    }
  }
  EXPECT_EQ(events, total);
  EXPECT_EQ(versions.size(), carts.size());

  // Bad input, each an InvalidEvent error saying what is wrong; the loop goes on.
  for (const auto& [event, expected] : std::vector<std::pair<json, std::string>>{
           {{{"kinesis_stream", kinesis}}, "no \"archive\""},
           {{{"archive", location}, {"kinesis_stream", ""}}, "no \"kinesis_stream\""},
           {{{"archive", location}, {"kinesis_stream", kinesis}, {"from", 0}}, "\"from\""},
           {{{"archive", location}, {"kinesis_stream", kinesis}, {"from", 5}, {"to", 4}},
            "is before \"from\""},
           {{{"archive", location}, {"kinesis_stream", kinesis}, {"from", "x"}}, "integers"},
           {{{"archive", location + "-missing"}, {"kinesis_stream", kinesis}}, "no segments"},
           {{{"archive", location}, {"kinesis_stream", kinesis + "-missing"}}, "-missing"},
           {json::array(), "not a JSON object"}}) {
    RuntimeAnswer bad = invoke(event, 10s);
    EXPECT_FALSE(bad.ok) << event;
    EXPECT_EQ(bad.error_type, "InvalidEvent") << event << ": " << bad.body;
    const json error = json::parse(bad.body, nullptr, false);
    EXPECT_NE(error.value("errorMessage", "").find(expected), std::string::npos) << bad.body;
  }
  // A deadline too close: nothing published.
  RuntimeAnswer late = invoke(first_event, 100ms);
  EXPECT_EQ(late.error_type, "DeadlineTooClose") << late.body;
}

}  // namespace
}  // namespace evs
