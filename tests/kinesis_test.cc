// Change capture and Kinesis: the commit record format, the relay (DynamoDB Streams records ->
// PutRecords) and the consumer (shards -> EventHandler), against the kinesalite stand-in
// (scripts/standins starts it; EVS_TEST_AWS=1 says it runs), with a fault-injecting transport
// for what kinesalite never does: partially failed PutRecords and throttled GetRecords.
//
// The stream records are built as DynamoDB Streams delivers them: an INSERT whose NewImage is
// the commit item in DynamoDB's attribute-value JSON. dynalite has no Streams API, so the end to
// end test takes the items the DynamoDB store really wrote to dynalite (Query) as the images.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aws/aws_client.h"
#include "aws/dynamodb_event_store.h"
#include "aws/dynamodb_items.h"
#include "aws/kinesis_consumer.h"
#include "aws/kinesis_records.h"
#include "aws/kinesis_relay.h"
#include "aws/kinesis_replay.h"
#include "aws/s3_object_store.h"
#include "aws_test_env.h"
#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "evs/archive.h"
#include "evs/dynamodb.h"
#include "evs/projection.h"
#include "evs/repository.h"
#include "evs/subscription.h"
#include "evs/uuid.h"
#include "evs/verify.h"
#include "read_model_dump.h"
#include "temp_dir.h"

namespace evs {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Commits and stream records as DynamoDB would hold and deliver them.

// `count` events of `stream` from `first_version`, with JSON text that must survive byte for byte
// (odd spacing, escapes, non-ASCII).
std::vector<RecordedEvent> MakeCommit(const std::string& stream, int64_t first_version, int count) {
  std::vector<RecordedEvent> events;
  int64_t at = 1'714'557'600'000'000 + first_version * 1000;
  for (int i = 0; i < count; ++i) {
    RecordedEvent e;
    e.stream_id = stream;
    e.version = first_version + i;
    e.id = Uuid::Random();
    e.type = i % 2 == 0 ? "ItemAdded" : "ItemRemoved";
    e.data = "{\"sku\": \"s-" + std::to_string(e.version) +
             "\",  \"qty\":2, \"note\":\"\xc3\xbc \\\"q\\\"\\n\"}";
    e.metadata = "{\"correlation_id\":\"" + stream + "\"}";
    e.recorded_at_us = at;
    events.push_back(std::move(e));
  }
  return events;
}

// The commit item's NewImage: StreamId (S), Version (N, first version), LastVersion, Count,
// RecordedAt (N micros), Events (L of M {Id, Type, Data, Metadata}, all S).
nlohmann::json CommitImage(const std::vector<RecordedEvent>& events) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : events) {
    list.push_back({{"M",
                     {{"Id", {{"S", e.id.ToString()}}},
                      {"Type", {{"S", e.type}}},
                      {"Data", {{"S", e.data}}},
                      {"Metadata", {{"S", e.metadata}}}}}});
  }
  return {{"StreamId", {{"S", events.front().stream_id}}},
          {"Version", {{"N", std::to_string(events.front().version)}}},
          {"LastVersion", {{"N", std::to_string(events.back().version)}}},
          {"Count", {{"N", std::to_string(events.size())}}},
          {"RecordedAt", {{"N", std::to_string(events.front().recorded_at_us)}}},
          {"Events", {{"L", list}}}};
}

std::atomic<int64_t> g_sequence{100000000000000000};

// One DynamoDB Streams record, as the documented JSON has it.
nlohmann::json StreamRecord(const nlohmann::json& image, const std::string& event_name = "INSERT") {
  nlohmann::json keys = {{"StreamId", image.value("StreamId", nlohmann::json())},
                         {"Version", image.value("Version", nlohmann::json())}};
  nlohmann::json dynamodb = {{"ApproximateCreationDateTime", 1714557600},
                             {"Keys", keys},
                             {"SequenceNumber", std::to_string(g_sequence++)},
                             {"SizeBytes", 300},
                             {"StreamViewType", "NEW_IMAGE"}};
  if (event_name != "REMOVE") dynamodb["NewImage"] = image;
  return {{"eventID", Uuid::Random().ToString()},
          {"eventName", event_name},
          {"eventVersion", "1.1"},
          {"eventSource", "aws:dynamodb"},
          {"awsRegion", "us-east-1"},
          {"dynamodb", dynamodb},
          {"eventSourceARN",
           "arn:aws:dynamodb:us-east-1:000000000000:table/evs/stream/2024-05-01T00:00:00.000"}};
}

nlohmann::json StreamEvent(std::vector<nlohmann::json> records) {
  return {{"Records", std::move(records)}};
}

// Commits of `streams` streams ("<prefix>-<i>"), 1-3 events each, `per_stream` commits per
// stream, interleaved across streams in a seeded random order (per-stream order kept), as the
// table's stream would deliver them.
struct Workload {
  std::vector<std::vector<RecordedEvent>> commits;  // in delivery order
  std::map<std::string, std::vector<RecordedEvent>> by_stream;

  void Add(const std::string& prefix, int streams, int per_stream, uint32_t seed) {
    std::mt19937 random(seed);
    std::vector<std::string> turns;
    for (int s = 0; s < streams; ++s) {
      for (int c = 0; c < per_stream; ++c) turns.push_back(prefix + "-" + std::to_string(s));
    }
    std::shuffle(turns.begin(), turns.end(), random);
    for (const std::string& stream : turns) {
      auto& have = by_stream[stream];
      auto commit = MakeCommit(stream, static_cast<int64_t>(have.size()) + 1,
                               1 + static_cast<int>(random() % 3));
      have.insert(have.end(), commit.begin(), commit.end());
      commits.push_back(std::move(commit));
    }
  }

  size_t EventCount() const {
    size_t n = 0;
    for (const auto& [stream, events] : by_stream) n += events.size();
    return n;
  }

  // Stream records of commits [from, to), in Lambda-sized batches.
  std::vector<nlohmann::json> Batches(size_t from, size_t to, size_t batch_size = 100) const {
    std::vector<nlohmann::json> batches;
    std::vector<nlohmann::json> records;
    for (size_t i = from; i < to; ++i) {
      records.push_back(StreamRecord(CommitImage(commits[i])));
      if (records.size() == batch_size) batches.push_back(StreamEvent(std::move(records)));
      if (records.size() == batch_size) records.clear();
    }
    if (!records.empty()) batches.push_back(StreamEvent(std::move(records)));
    return batches;
  }
};

bool SameEvent(const RecordedEvent& a, const RecordedEvent& b) {
  return a.stream_id == b.stream_id && a.version == b.version && a.id == b.id && a.type == b.type &&
         a.data == b.data && a.metadata == b.metadata && a.recorded_at_us == b.recorded_at_us;
}

// Every event of `want`, each exactly once, in its stream's order.
void ExpectExactlyOnceInStreamOrder(const std::vector<RecordedEvent>& got,
                                    const std::map<std::string, std::vector<RecordedEvent>>& want) {
  std::map<std::string, std::vector<const RecordedEvent*>> seen;
  for (const auto& e : got) {
    EXPECT_EQ(e.position, 0) << "Kinesis has no global log";
    seen[e.stream_id].push_back(&e);
  }
  EXPECT_EQ(seen.size(), want.size());
  for (const auto& [stream, events] : want) {
    const auto& delivered = seen[stream];
    ASSERT_EQ(delivered.size(), events.size()) << stream;
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_TRUE(SameEvent(*delivered[i], events[i]))
          << stream << ": delivery " << i << " is version " << delivered[i]->version
          << ", expected version " << events[i].version;
    }
  }
}

// At-least-once in stream order: every event of `want`; an event never comes before its
// predecessor in its stream was delivered; a repeat is a contiguous run that was already seen.
// Returns how many deliveries were repeats.
size_t ExpectAtLeastOnceInStreamOrder(
    const std::vector<RecordedEvent>& got,
    const std::map<std::string, std::vector<RecordedEvent>>& want) {
  std::map<std::string, int64_t> highest;
  size_t repeats = 0;
  for (const auto& e : got) {
    auto it = want.find(e.stream_id);
    if (it == want.end()) {
      ADD_FAILURE() << "unexpected stream " << e.stream_id;
      continue;
    }
    int64_t& top = highest[e.stream_id];
    EXPECT_LE(e.version, top + 1) << e.stream_id << "@" << e.version << " came before @" << top + 1;
    if (e.version <= top) ++repeats;
    top = std::max(top, e.version);
    EXPECT_TRUE(e.version >= 1 && e.version <= static_cast<int64_t>(it->second.size()) &&
                SameEvent(e, it->second[e.version - 1]))
        << e.stream_id << "@" << e.version << " differs from what was committed";
  }
  for (const auto& [stream, events] : want) {
    EXPECT_EQ(highest[stream], static_cast<int64_t>(events.size())) << stream;
  }
  return repeats;
}

// ---------------------------------------------------------------------------------------------
// The record format, without a stand-in.

TEST(KinesisRecordsTest, Base64RoundTripsAndRejectsBadText) {
  EXPECT_EQ(aws::Base64Encode(""), "");
  EXPECT_EQ(aws::Base64Encode("f"), "Zg==");
  EXPECT_EQ(aws::Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(aws::Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(aws::Base64Encode("foobar"), "Zm9vYmFy");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < all.size(); n += 37) {
    auto back = aws::Base64Decode(aws::Base64Encode(all.substr(0, n)));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, all.substr(0, n));
  }
  for (const char* bad : {"Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9", "Zm=v"}) {
    auto got = aws::Base64Decode(bad);
    EXPECT_FALSE(got.ok()) << bad;
    if (!got.ok()) {
      EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(KinesisRecordsTest, CommitRecordKeepsTheStoredTextExactly) {
  auto commit = MakeCommit("cart-\xc3\xa9t\xc3\xa9", 4, 3);
  auto data = aws::EncodeCommitRecord(commit);
  ASSERT_TRUE(data.ok()) << data.error().message;
  auto json = nlohmann::json::parse(*data);
  EXPECT_EQ(json["stream_id"], commit[0].stream_id);
  EXPECT_EQ(json["first_version"], 4);
  ASSERT_EQ(json["events"].size(), 3u);
  EXPECT_EQ(json["events"][1]["data"], commit[1].data);  // a JSON string holding the text
  EXPECT_EQ(json["events"][2]["recorded_at_us"], commit[2].recorded_at_us);
  auto back = aws::DecodeCommitRecord(*data);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), commit.size());
  for (size_t i = 0; i < commit.size(); ++i) {
    EXPECT_TRUE(SameEvent((*back)[i], commit[i])) << i;
    EXPECT_EQ((*back)[i].position, 0);
  }
  // Not one commit: a gap in the versions, two streams, nothing.
  auto gap = commit;
  gap[2].version = 9;
  EXPECT_EQ(aws::EncodeCommitRecord(gap).error().code, ErrorCode::kInvalidArgument);
  auto mixed = commit;
  mixed[1].stream_id = "other";
  EXPECT_EQ(aws::EncodeCommitRecord(mixed).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(aws::EncodeCommitRecord({}).error().code, ErrorCode::kInvalidArgument);
  auto bad_utf8 = commit;
  bad_utf8[0].data = "{\"x\":\"\xff\"}";
  EXPECT_EQ(aws::EncodeCommitRecord(bad_utf8).error().code, ErrorCode::kInvalidArgument);
}

// Records as the previous release put them on Kinesis (tests/data/kinesis: a live commit record
// and, since 0.10, a replayed one) decode to the same events, and this release encodes those
// events to the same bytes: consumers of either release read both.
TEST(KinesisRecordsTest, RecordsOfThePreviousReleaseReadTheSame) {
  auto read = [](const std::string& name) {
    std::ifstream in(std::string(EVS_TEST_DATA) + "/kinesis/" + name, std::ios::binary);
    EXPECT_TRUE(in.good()) << name;
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string live = read("commit-record.json");
  auto events = aws::DecodeCommitRecord(live);
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->size(), 2u);
  const RecordedEvent& opened = (*events)[0];
  const RecordedEvent& added = (*events)[1];
  EXPECT_EQ(opened.stream_id, "cart-3f8e2a4c-5b1d-4e7a-9c0f-2d6b8e1a7c55");
  EXPECT_EQ(opened.version, 1);
  EXPECT_EQ(opened.position, 0);  // live records carry no positions
  EXPECT_EQ(opened.id.ToString(), "6c1e4a1f-2b3d-4c5e-8f70-1a2b3c4d5e6f");
  EXPECT_EQ(opened.type, "CartOpened");
  EXPECT_EQ(opened.data, R"({"customer_id":"c-17"})");
  EXPECT_EQ(opened.recorded_at_us, 1764979200000000);
  EXPECT_EQ(added.version, 2);
  EXPECT_EQ(added.type, "ItemAdded");
  EXPECT_EQ(added.data,
            "{\"name\":\"Caf\xc3\xa9 cr\xc3\xa8me\",\"quantity\":2,\"unit_price_cents\":1899}");
  EXPECT_EQ(added.metadata, R"({"causation_id":"req-2","correlation_id":"req-1"})");
  auto again = aws::EncodeCommitRecord(*events);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, live);

  const std::string replayed = read("replay-record.json");
  auto replay_events = aws::DecodeCommitRecord(replayed);
  ASSERT_TRUE(replay_events.ok()) << replay_events.error().message;
  ASSERT_EQ(replay_events->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(SameEvent((*replay_events)[i], (*events)[i])) << i;
    EXPECT_EQ((*replay_events)[i].position, 41 + static_cast<int64_t>(i));
  }
  auto replay_again = aws::EncodeReplayRecord(*replay_events);
  ASSERT_TRUE(replay_again.ok()) << replay_again.error().message;
  EXPECT_EQ(*replay_again, replayed);
}

TEST(KinesisRecordsTest, DecodeRejectsWhatIsNotACommitRecord) {
  auto good = nlohmann::json::parse(*aws::EncodeCommitRecord(MakeCommit("s", 1, 2)));
  std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "{"},
      {"an array", "[]"},
      {"no stream",
       [&] {
         auto j = good;
         j.erase("stream_id");
         return j.dump();
       }()},
      {"version 0",
       [&] {
         auto j = good;
         j["first_version"] = 0;
         return j.dump();
       }()},
      {"no events",
       [&] {
         auto j = good;
         j["events"] = nlohmann::json::array();
         return j.dump();
       }()},
      {"a gap",
       [&] {
         auto j = good;
         j["events"][1]["version"] = 3;
         return j.dump();
       }()},
      {"a bad id",
       [&] {
         auto j = good;
         j["events"][0]["id"] = "nope";
         return j.dump();
       }()},
      {"data not text",
       [&] {
         auto j = good;
         j["events"][0]["data"] = nlohmann::json::object();
         return j.dump();
       }()},
      // Found by fuzz/fuzz_stored_event: versions counted past INT64_MAX overflowed.
      {"versions past the largest",
       [&] {
         auto j = good;
         j["first_version"] = INT64_MAX;
         j["events"][0]["version"] = INT64_MAX;
         return j.dump();
       }()},
  };
  for (const auto& [name, text] : cases) {
    auto got = aws::DecodeCommitRecord(text);
    ASSERT_FALSE(got.ok()) << name;
    EXPECT_EQ(got.error().code, ErrorCode::kCorruption) << name;
    EXPECT_NE(got.error().message.find("not an evs commit record"), std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting transport: PutRecords answers in which chosen records failed (those are
// taken out of the request before it reaches kinesalite, so that they are really not written,
// as on AWS), and GetRecords answered with throttling. kinesalite does not check signatures, so
// the rewritten request still passes.

class FaultTransport final : public aws::HttpTransport {
 public:
  // Whether the `attempt`-th sending (1-based) of the record with this partition key and data
  // fails with ProvisionedThroughputExceededException.
  using PutFault = std::function<bool(const std::string& key, int attempt)>;

  explicit FaultTransport(std::unique_ptr<aws::HttpTransport> inner) : inner_(std::move(inner)) {}

  void SetPutFault(PutFault fault) {
    std::lock_guard lock(mu_);
    put_fault_ = std::move(fault);
  }
  // Of every `period` GetRecords calls, the first `run` are throttled (none when period is 0).
  void ThrottleGetRecords(int run, int period) {
    throttle_run_ = run;
    throttle_period_ = period;
  }

  int put_calls() const { return put_calls_; }
  int put_records_failed() const { return put_records_failed_; }
  int get_records_throttled() const { return get_records_throttled_; }
  int same_key_twice() const { return same_key_twice_; }

  Result<aws::HttpResponse> Send(const aws::HttpRequest& request) override {
    std::string target;
    for (const auto& [name, value] : request.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower == "x-amz-target") target = value;
    }
    if (target == "Kinesis_20131202.GetRecords" && throttle_period_ > 0 &&
        get_records_calls_++ % throttle_period_ < throttle_run_) {
      ++get_records_throttled_;
      aws::HttpResponse response;
      response.status = 400;
      response.headers = {{"content-type", "application/x-amz-json-1.1"}};
      response.body =
          R"({"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard"})";
      return response;
    }
    if (target == "Kinesis_20131202.PutRecords") return PutRecords(request);
    return inner_->Send(request);
  }

 private:
  Result<aws::HttpResponse> PutRecords(const aws::HttpRequest& request) {
    ++put_calls_;
    auto body = nlohmann::json::parse(request.body);
    nlohmann::json kept = nlohmann::json::array();
    std::vector<bool> failed;
    std::set<std::string> keys;
    {
      std::lock_guard lock(mu_);
      for (const auto& record : body["Records"]) {
        std::string key = record["PartitionKey"];
        if (!keys.insert(key).second) ++same_key_twice_;
        int attempt = ++attempts_[key + "\n" + record["Data"].get<std::string>()];
        bool fail = put_fault_ && put_fault_(key, attempt);
        failed.push_back(fail);
        if (!fail) kept.push_back(record);
      }
    }
    nlohmann::json results = nlohmann::json::array();
    if (!kept.empty()) {
      aws::HttpRequest forwarded = request;
      body["Records"] = kept;
      forwarded.body = body.dump();
      auto answer = inner_->Send(forwarded);
      if (!answer.ok() || answer->status != 200) return answer;
      results = nlohmann::json::parse(answer->body)["Records"];
    }
    nlohmann::json merged = nlohmann::json::array();
    size_t next = 0;
    int failures = 0;
    for (bool fail : failed) {
      if (fail) {
        ++failures;
        merged.push_back({{"ErrorCode", "ProvisionedThroughputExceededException"},
                          {"ErrorMessage",
                           "Rate exceeded for shard shardId-000000000000 in "
                           "stream s under account 000000000000."}});
      } else {
        merged.push_back(results.at(next++));
      }
    }
    put_records_failed_ += failures;
    aws::HttpResponse response;
    response.status = 200;
    response.headers = {{"content-type", "application/x-amz-json-1.1"}};
    response.body = nlohmann::json{{"FailedRecordCount", failures}, {"Records", merged}}.dump();
    return response;
  }

  std::unique_ptr<aws::HttpTransport> inner_;
  std::mutex mu_;
  PutFault put_fault_;
  std::map<std::string, int> attempts_;
  std::atomic<int> throttle_run_{0};
  std::atomic<int> throttle_period_{0};
  std::atomic<int> get_records_calls_{0};
  std::atomic<int> put_calls_{0};
  std::atomic<int> put_records_failed_{0};
  std::atomic<int> get_records_throttled_{0};
  std::atomic<int> same_key_twice_{0};
};

// ---------------------------------------------------------------------------------------------
// A handler that records what it was handed, and fails when told to.

class RecordingHandler final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard lock(mu_);
    ++calls_;
    if (fail_next_ > 0 || fail_always_) {
      if (fail_next_ > 0) --fail_next_;
      return Error::Make(ErrorCode::kIOError, "the read model is unavailable (injected)");
    }
    events_.insert(events_.end(), batch.begin(), batch.end());
    batches_.push_back(batch.size());
    return OkStatus();
  }

  void FailNext(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }
  void FailAlways(bool fail) {
    std::lock_guard lock(mu_);
    fail_always_ = fail;
  }
  std::vector<RecordedEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<size_t> batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedEvent> events_;
  std::vector<size_t> batches_;
  int calls_ = 0;
  int fail_next_ = 0;
  bool fail_always_ = false;
};

// ---------------------------------------------------------------------------------------------
// Against kinesalite.

constexpr milliseconds kWait{20000};  // for anything the stand-in should finish in well under 1 s

class KinesisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* wanted = std::getenv("EVS_TEST_AWS");
    if (wanted == nullptr || std::string(wanted) != "1") {
      GTEST_SKIP() << "no Kinesis stand-in (EVS_TEST_AWS is not 1; scripts/test starts one, or "
                      "scripts/standins start DIR && source DIR/env)";
    }
    auto config = aws::AwsConfigFromEnvironment();
    ASSERT_TRUE(config.ok()) << config.error().message;
    ASSERT_FALSE(config->kinesis_endpoint.empty())
        << "EVS_TEST_AWS=1 but AWS_ENDPOINT_URL_KINESIS is not set: source DIR/env of "
           "scripts/standins start DIR";
    config_ = *config;
    client_ = NewClient();
    auto checkpoints = OpenSqliteCheckpointStore(dir_.File("checkpoints.sqlite"));
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
    checkpoints_ = std::move(checkpoints).value();
  }

  void TearDown() override {
    // kinesalite allows 10 open shards in all: give them back for the tests running beside.
    for (const std::string& stream : streams_) {
      (void)client_->CallJson(aws::Service::kKinesis, "DeleteStream", {{"StreamName", stream}});
    }
  }

  // A client with quick retries, over curl or over `transport`.
  std::shared_ptr<aws::AwsClient> NewClient(std::unique_ptr<aws::HttpTransport> transport = {},
                                            int max_attempts = 4) {
    aws::RetryPolicy fast;
    fast.max_attempts = max_attempts;
    fast.base_delay = milliseconds(2);
    fast.max_delay = milliseconds(20);
    if (!transport) transport = aws::NewCurlTransport();
    return std::make_shared<aws::AwsClient>(config_, std::move(transport), fast);
  }

  // Calls until the answer is not "over the shard limit": tests in parallel share kinesalite's
  // 10 open shards and give them back at their end.
  Result<nlohmann::json> CallWithinShardLimit(const char* operation, const nlohmann::json& body) {
    const auto until = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      auto got = client_->CallJson(aws::Service::kKinesis, operation, body);
      if (got.ok() || aws::AwsErrorType(got.error()) != "LimitExceededException" ||
          Clock::now() > until) {
        return got;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  void WaitActive(const std::string& stream) {
    const auto until = Clock::now() + std::chrono::seconds(10);
    std::string status;
    while (Clock::now() < until) {
      auto got = client_->CallJson(aws::Service::kKinesis, "DescribeStreamSummary",
                                   {{"StreamName", stream}});
      ASSERT_TRUE(got.ok()) << got.error().message;
      status = (*got)["StreamDescriptionSummary"]["StreamStatus"];
      if (status == "ACTIVE") return;
      std::this_thread::sleep_for(milliseconds(20));
    }
    FAIL() << "stream " << stream << " still " << status << " after 10 s";
  }

  // A new stream of `shards` shards, ACTIVE, deleted when the test ends.
  std::string CreateStream(int shards) {
    std::string name = "evs-kin-" + Uuid::Random().ToString().substr(0, 13);
    auto made =
        CallWithinShardLimit("CreateStream", {{"StreamName", name}, {"ShardCount", shards}});
    EXPECT_TRUE(made.ok()) << made.error().message;
    streams_.push_back(name);
    WaitActive(name);
    return name;
  }

  aws::RelayOptions RelayOptionsFor(const std::string& stream) {
    aws::RelayOptions options;
    options.stream_name = stream;
    options.initial_backoff = milliseconds(2);
    options.max_backoff = milliseconds(20);
    return options;
  }

  aws::KinesisConsumerOptions ConsumerOptions(const std::string& name, const std::string& stream) {
    aws::KinesisConsumerOptions options;
    options.name = name;
    options.stream_name = stream;
    options.min_read_interval = milliseconds(2);
    options.idle_wait = milliseconds(20);
    options.list_interval = milliseconds(200);
    options.read_backoff = milliseconds(5);
    options.max_read_backoff = milliseconds(50);
    options.handler_backoff = milliseconds(5);
    options.max_handler_backoff = milliseconds(50);
    return options;
  }

  // Relays every batch; each must publish all its commits.
  void RelayAll(aws::KinesisRelay& relay, const std::vector<nlohmann::json>& batches) {
    for (const auto& batch : batches) {
      auto result = relay.Relay(batch);
      ASSERT_TRUE(result.ok()) << result.error().message;
      ASSERT_TRUE(result->failed.empty()) << result->failed.front().reason;
      ASSERT_EQ(result->published, static_cast<int64_t>(batch["Records"].size()));
    }
  }

  // Every record of the stream, shard by shard, as (partition key, commit events).
  std::vector<std::pair<std::string, std::vector<RecordedEvent>>> ReadStream(
      const std::string& stream) {
    std::vector<std::pair<std::string, std::vector<RecordedEvent>>> out;
    auto shards = client_->CallJson(aws::Service::kKinesis, "ListShards", {{"StreamName", stream}});
    EXPECT_TRUE(shards.ok()) << shards.error().message;
    if (!shards.ok()) return out;
    for (const auto& shard : (*shards)["Shards"]) {
      auto it = client_->CallJson(aws::Service::kKinesis, "GetShardIterator",
                                  {{"StreamName", stream},
                                   {"ShardId", shard["ShardId"]},
                                   {"ShardIteratorType", "TRIM_HORIZON"}});
      EXPECT_TRUE(it.ok()) << it.error().message;
      if (!it.ok()) return out;
      std::string iterator = (*it)["ShardIterator"];
      for (int reads = 0; reads < 100 && !iterator.empty(); ++reads) {
        auto got = client_->CallJson(aws::Service::kKinesis, "GetRecords",
                                     {{"ShardIterator", iterator}, {"Limit", 10000}});
        EXPECT_TRUE(got.ok()) << got.error().message;
        if (!got.ok() || (*got)["Records"].empty()) break;
        for (const auto& record : (*got)["Records"]) {
          auto data = aws::Base64Decode(record["Data"].get<std::string>());
          EXPECT_TRUE(data.ok());
          auto events = aws::DecodeCommitRecord(*data);
          EXPECT_TRUE(events.ok()) << events.error().message;
          if (events.ok()) out.emplace_back(record["PartitionKey"], std::move(events).value());
        }
        iterator = got->value("NextShardIterator", "");
      }
    }
    return out;
  }

  // The commit items the DynamoDB store wrote for `stream_id`, in version order.
  std::vector<nlohmann::json> StoredItems(aws::AwsClient& dynamodb, const std::string& table,
                                          const std::string& stream_id) {
    std::vector<nlohmann::json> items;
    nlohmann::json request = {{"TableName", table},
                              {"KeyConditionExpression", "StreamId = :s"},
                              {"ExpressionAttributeValues", {{":s", {{"S", stream_id}}}}},
                              {"ConsistentRead", true}};
    for (int page = 0; page < 100; ++page) {
      auto got = dynamodb.CallJson(aws::Service::kDynamoDb, "Query", request);
      EXPECT_TRUE(got.ok()) << got.error().message;
      if (!got.ok()) break;
      for (const auto& item : (*got)["Items"]) items.push_back(item);
      if (!got->contains("LastEvaluatedKey")) break;
      request["ExclusiveStartKey"] = (*got)["LastEvaluatedKey"];
    }
    return items;
  }

  // A DynamoDB event store on a table of its own in dynalite, deleted when the test ends.
  struct DynamoDbTable {
    std::shared_ptr<aws::AwsClient> client;
    std::string table;
    std::unique_ptr<EventStore> store;
    DynamoDbTable() = default;
    DynamoDbTable(DynamoDbTable&&) = default;
    ~DynamoDbTable() {
      if (client) testing::DeleteTable(*client, table);
    }
  };
  DynamoDbTable OpenDynamoDbStore(const std::string& prefix) {
    DynamoDbTable made;
    made.client = testing::DynamoDbTestClient();
    if (!made.client) return made;
    made.table = testing::UniqueTableName(prefix);
    DynamoDbStoreOptions options;
    options.table = made.table;
    options.create_table_if_missing = true;
    auto opened = aws::NewDynamoDbEventStore(made.client, options);
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    if (opened.ok()) made.store = std::move(opened).value();
    return made;
  }

  testing::TempDir dir_;
  aws::AwsConfig config_;
  std::shared_ptr<aws::AwsClient> client_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::vector<std::string> streams_;
};

// The whole path: the DynamoDB store appends on dynalite; each commit item it wrote becomes the
// stream record DynamoDB Streams would deliver; the relay publishes them; the consumer hands
// the handler exactly what the store reads back, in each stream's order.
TEST_F(KinesisTest, CommitsWrittenByTheDynamoDbStoreArriveThroughRelayAndConsumer) {
  DynamoDbTable dynamo = OpenDynamoDbStore("evs-kin");
  ASSERT_NE(dynamo.store, nullptr);
  EventStore* store = dynamo.store.get();
  aws::AwsClient* dynamodb = dynamo.client.get();
  const std::string& table = dynamo.table;

  // Appends of 1-3 events, round-robin over the streams: the order the table's stream has them.
  std::mt19937 random(8);
  std::vector<std::pair<std::string, int64_t>> commit_order;  // (stream, first version)
  for (int round = 0; round < 6; ++round) {
    for (int s = 0; s < 5; ++s) {
      std::string stream_id = "cart-" + std::to_string(s);
      std::vector<EventData> events;
      for (int i = 0; i < 1 + static_cast<int>(random() % 3); ++i) {
        events.push_back({Uuid::Random(), "ItemAdded",
                          "{\"sku\": \"s-" + std::to_string(round) + "\",  \"note\":\"\xc3\xbc\"}",
                          "{\"correlation_id\":\"c-" + std::to_string(round) + "\"}"});
      }
      auto appended = store->Append(stream_id, ExpectedVersion::Any(), std::move(events));
      ASSERT_TRUE(appended.ok()) << appended.error().message;
      commit_order.emplace_back(stream_id, appended->first_version);
    }
  }

  // The items as stored, by (stream, first version).
  std::map<std::pair<std::string, int64_t>, nlohmann::json> items;
  std::map<std::string, std::vector<RecordedEvent>> want;
  for (int s = 0; s < 5; ++s) {
    std::string stream_id = "cart-" + std::to_string(s);
    for (const auto& item : StoredItems(*dynamodb, table, stream_id)) {
      auto first = aws::NumberAttribute(item, aws::kVersionAttribute);
      ASSERT_TRUE(first.ok()) << first.error().message;
      items[{stream_id, *first}] = item;
    }
    ReadStreamOptions read;
    read.from = 1;
    auto page = store->ReadStream(stream_id, read);
    ASSERT_TRUE(page.ok()) << page.error().message;
    want[stream_id] = page->events;
  }
  ASSERT_EQ(items.size(), commit_order.size());
  std::vector<nlohmann::json> records;
  for (const auto& key : commit_order) records.push_back(StreamRecord(items.at(key)));

  std::string stream = CreateStream(2);
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  RelayAll(relay, {StreamEvent({records.begin(), records.begin() + 13}),
                   StreamEvent({records.begin() + 13, records.end()})});
  RecordingHandler handler;
  auto consumer = aws::KinesisConsumer::Start(client_, *checkpoints_, handler,
                                              ConsumerOptions("cart-projection", stream));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  size_t total = 0;
  for (const auto& [id, events] : want) total += events.size();
  ASSERT_TRUE((*consumer)->WaitForEvents(static_cast<int64_t>(total), kWait))
      << (*consumer)->GetStatus().last_error;
  (*consumer)->Stop();
  ExpectExactlyOnceInStreamOrder(handler.events(), want);
}

// The original's whole AWS path, and beyond it: carts written through the public Repository on
// the DynamoDB store (dynalite); each commit item becomes the record DynamoDB Streams would
// deliver; the relay publishes them to Kinesis (kinesalite, two shards); two consumers, each with
// checkpoints of its own, keep the cart-summary projection and an archive on S3 (s3rver). Both
// stop half way and start again, as after a deployment. Then the read model is compared with the
// aggregates, and the archive, replayed from S3, with what the store holds: every event exactly
// once, in its stream's order.
TEST_F(KinesisTest, CartsOnDynamoDbAreProjectedAndArchivedToS3ThroughKinesis) {
  DynamoDbTable dynamo = OpenDynamoDbStore("evs-cart");
  ASSERT_NE(dynamo.store, nullptr);
  Repository<cart::Cart> repo(*dynamo.store);
  std::mt19937 random(11);
  std::vector<std::string> carts;
  const char* names[] = {"apple", "pear", "plum"};
  for (int i = 0; i < 60; ++i) {
    if (carts.size() < 6 && (carts.empty() || random() % 4 == 0)) {
      carts.push_back(Uuid::Random().ToString());
      ASSERT_TRUE(repo.Create(carts.back(), [](cart::Cart& c) { return c.Open(); }).ok());
      continue;
    }
    const std::string& id = carts[random() % carts.size()];
    const std::string item = names[random() % 3];
    (void)repo.Execute(id, [&](cart::Cart& c) {
      if (random() % 7 == 0) return c.RemoveItem(item, 1);
      if (random() % 15 == 0) return c.Checkout();
      return c.AddItem(item, 1 + static_cast<int64_t>(random() % 3), 100 * (1 + item.size()));
    });
  }
  // What the store holds, and its commit items in an order DynamoDB Streams could deliver them
  // (each stream's in version order).
  std::map<std::string, std::vector<RecordedEvent>> want;
  std::vector<std::pair<int64_t, nlohmann::json>> timed_items;
  for (const std::string& id : carts) {
    const std::string stream_id = cart::Cart::StreamIdFor(id);
    auto page = dynamo.store->ReadStream(stream_id, ReadStreamOptions{});
    ASSERT_TRUE(page.ok()) << page.error().message;
    want[stream_id] = page->events;
    for (auto& item : StoredItems(*dynamo.client, dynamo.table, stream_id)) {
      auto recorded = aws::NumberAttribute(item, "RecordedAt");
      ASSERT_TRUE(recorded.ok()) << recorded.error().message;
      timed_items.emplace_back(*recorded, std::move(item));
    }
  }
  std::stable_sort(timed_items.begin(), timed_items.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<nlohmann::json> records;
  for (const auto& [time, item] : timed_items) records.push_back(StreamRecord(item));
  size_t total = 0;
  for (const auto& [stream_id, events] : want) total += events.size();

  const std::string stream = CreateStream(2);
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  auto objects = aws::NewS3ObjectStore(
      client_, "s3://evs-test/kinesis-" + Uuid::Random().ToString().substr(0, 8));
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  cart::CartSummaryProjection projection;
  ProjectionOptions read_model;
  read_model.path = dir_.File("cart_summary.sqlite");
  ArchiverOptions segments;
  segments.segment_max_events = 7;

  // Two runs: the first half of the records, then the rest after a restart.
  const size_t half = records.size() / 2;
  int64_t applied = 0, skipped = 0, handed = 0;
  for (auto [from, to] : {std::pair<size_t, size_t>{0, half}, {half, records.size()}}) {
    RelayAll(relay, {StreamEvent({records.begin() + static_cast<std::ptrdiff_t>(from),
                                  records.begin() + static_cast<std::ptrdiff_t>(to)})});
    int64_t events = 0;
    for (size_t i = from; i < to; ++i) {
      events += static_cast<int64_t>(records[i]["dynamodb"]["NewImage"]["Events"]["L"].size());
    }
    auto projector = StreamProjectionHandler::Open(projection, read_model);
    ASSERT_TRUE(projector.ok()) << projector.error().message;
    auto projection_checkpoints = OpenSqliteCheckpointStore(read_model.path);
    ASSERT_TRUE(projection_checkpoints.ok());
    auto archiver = CheckpointedArchiver::Open(**objects, segments);
    ASSERT_TRUE(archiver.ok()) << archiver.error().message;
    {
      auto projecting =
          aws::KinesisConsumer::Start(client_, **projection_checkpoints, **projector,
                                      ConsumerOptions("projection:cart_summary", stream));
      ASSERT_TRUE(projecting.ok()) << projecting.error().message;
      auto archiving = aws::KinesisConsumer::Start(client_, **archiver, **archiver,
                                                   ConsumerOptions("archive", stream));
      ASSERT_TRUE(archiving.ok()) << archiving.error().message;
      ASSERT_TRUE((*projecting)->WaitForEvents(events, kWait))
          << (*projecting)->GetStatus().last_error;
      ASSERT_TRUE((*archiving)->WaitForEvents(events, kWait))
          << (*archiving)->GetStatus().last_error;
      (*projecting)->Stop();
      (*archiving)->Stop();
      handed += (*archiving)->GetStatus().events_handled;
    }
    ASSERT_TRUE((*archiver)->Flush().ok());
    applied += (*projector)->Stats().applied;
    skipped += (*projector)->Stats().skipped;
  }
  EXPECT_EQ(applied, static_cast<int64_t>(total));
  EXPECT_EQ(skipped, 0) << "each consumer resumed right after its checkpoints";
  EXPECT_EQ(handed, static_cast<int64_t>(total));

  // The read model agrees with every aggregate.
  testing::ExpectReadModelMatchesCarts(read_model.path, repo, carts);

  // The archive, replayed from S3: numbered 1..N in arrival order, each event once, as stored.
  auto reader = ArchiveReader::Open(**objects);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_GE((*reader)->Segments().size(), 2u);
  RecordingHandler replayed;
  auto replay = (*reader)->Replay(ReplayOptions{}, replayed);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  std::vector<RecordedEvent> got = replayed.events();
  ASSERT_EQ(got.size(), total);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].position, static_cast<int64_t>(i) + 1);
    got[i].position = 0;  // the source has none
  }
  ExpectExactlyOnceInStreamOrder(got, want);
  auto report = Verify(nullptr, objects->get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
}

TEST_F(KinesisTest, RelayPublishesOneRecordPerCommitKeyedByStreamAndIgnoresModifyAndRemove) {
  std::string stream = CreateStream(2);
  Workload work;
  work.Add("cart", 5, 4, 1);
  std::vector<nlohmann::json> records;
  for (const auto& commit : work.commits) {
    records.push_back(StreamRecord(CommitImage(commit)));
    // What else a table's stream may carry: never a commit.
    if (commit.front().version == 1) records.push_back(StreamRecord(CommitImage(commit), "MODIFY"));
  }
  records.push_back(StreamRecord(CommitImage(work.commits[0]), "REMOVE"));
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  auto result = relay.Relay(StreamEvent(records));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result->failed.empty()) << result->failed.front().reason;
  EXPECT_EQ(result->published, 20);
  EXPECT_EQ(result->events_published, static_cast<int64_t>(work.EventCount()));
  EXPECT_EQ(result->ignored, 6);
  EXPECT_EQ(result->retried, 0);
  // One pending commit per stream per call: five streams of four commits take four calls.
  EXPECT_EQ(result->put_calls, 4);

  std::map<std::string, std::vector<RecordedEvent>> got;
  for (auto& [key, events] : ReadStream(stream)) {
    EXPECT_EQ(key, events.front().stream_id);
    auto& list = got[key];
    list.insert(list.end(), events.begin(), events.end());
  }
  std::vector<RecordedEvent> flat;
  for (auto& [key, events] : got) flat.insert(flat.end(), events.begin(), events.end());
  ExpectExactlyOnceInStreamOrder(flat, work.by_stream);
}

TEST_F(KinesisTest, RelayReportsRecordsItCannotPublishAndHoldsBackTheirStreams) {
  std::string stream = CreateStream(1);
  auto a1 = MakeCommit("a", 1, 1), a2 = MakeCommit("a", 2, 2), a3 = MakeCommit("a", 4, 1);
  auto b1 = MakeCommit("b", 1, 1);
  nlohmann::json broken = CommitImage(a2);
  broken.erase("Events");  // not a commit item any more
  nlohmann::json keys_only = StreamRecord(CommitImage(b1));
  keys_only["dynamodb"].erase("NewImage");
  keys_only["dynamodb"]["StreamViewType"] = "KEYS_ONLY";
  std::vector<nlohmann::json> records = {
      StreamRecord(CommitImage(a1)),
      StreamRecord(broken),
      StreamRecord(CommitImage(b1)),
      StreamRecord(CommitImage(a3)),
      keys_only,
      nlohmann::json("junk"),
  };
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  auto result = relay.Relay(StreamEvent(records));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->published, 2);  // a@1 and b@1
  ASSERT_EQ(result->failed.size(), 4u);
  // In input order, named by eventID and sequence number (a Lambda's batchItemFailures).
  EXPECT_EQ(result->failed[0].event_id, records[1]["eventID"]);
  EXPECT_EQ(result->failed[0].sequence_number, records[1]["dynamodb"]["SequenceNumber"]);
  EXPECT_EQ(result->failed[0].stream_id, "a");
  EXPECT_NE(result->failed[0].reason.find("cannot decode the commit item"), std::string::npos)
      << result->failed[0].reason;
  EXPECT_EQ(result->failed[1].sequence_number, records[3]["dynamodb"]["SequenceNumber"]);
  EXPECT_NE(result->failed[1].reason.find("to keep the order of stream a"), std::string::npos)
      << result->failed[1].reason;
  EXPECT_EQ(result->failed[2].event_id, keys_only["eventID"]);
  EXPECT_NE(result->failed[2].reason.find("NEW_IMAGE"), std::string::npos)
      << result->failed[2].reason;
  EXPECT_NE(result->failed[3].reason.find("not a stream record"), std::string::npos);
  auto published = ReadStream(stream);
  ASSERT_EQ(published.size(), 2u);

  // Not a stream event at all; no stream to write to.
  EXPECT_EQ(relay.Relay(nlohmann::json::array()).error().code, ErrorCode::kInvalidArgument);
  aws::KinesisRelay nowhere(client_, RelayOptionsFor(""));
  EXPECT_EQ(nowhere.Relay(StreamEvent({})).error().code, ErrorCode::kInvalidArgument);
  // A missing Kinesis stream fails every record, not the call.
  aws::KinesisRelay missing(client_, RelayOptionsFor("evs-kin-no-such-stream"));
  auto lost = missing.Relay(StreamEvent({StreamRecord(CommitImage(a1))}));
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  ASSERT_EQ(lost->failed.size(), 1u);
  EXPECT_NE(lost->failed[0].reason.find("ResourceNotFoundException"), std::string::npos)
      << lost->failed[0].reason;
}

TEST_F(KinesisTest, ConsumerHandsEveryEventInStreamOrderAcrossShards) {
  std::string stream = CreateStream(2);
  Workload work;
  work.Add("cart", 12, 10, 2);
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  const auto relay_started = Clock::now();
  RelayAll(relay, work.Batches(0, work.commits.size()));
  const auto relayed = Clock::now();

  RecordingHandler handler;
  auto consumer =
      aws::KinesisConsumer::Start(client_, *checkpoints_, handler, ConsumerOptions("proj", stream));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  ASSERT_TRUE((*consumer)->WaitForEvents(static_cast<int64_t>(work.EventCount()), kWait))
      << (*consumer)->GetStatus().last_error;
  const auto consumed = Clock::now();
  (*consumer)->Stop();
  auto status = (*consumer)->GetStatus();
  ExpectExactlyOnceInStreamOrder(handler.events(), work.by_stream);
  EXPECT_EQ(status.records_handled, static_cast<int64_t>(work.commits.size()));
  EXPECT_EQ(status.events_handled, static_cast<int64_t>(work.EventCount()));
  ASSERT_EQ(status.shards.size(), 2u);
  for (const auto& shard : status.shards) {
    EXPECT_EQ(shard.state, aws::KinesisShardStatus::State::kReading);
    EXPECT_GT(shard.records_handled, 0) << shard.shard_id;
    auto saved = checkpoints_->Load(aws::KinesisCheckpointName("proj", stream, shard.shard_id));
    ASSERT_TRUE(saved.ok() && saved->has_value()) << shard.shard_id;
    EXPECT_EQ(**saved, shard.checkpoint);
  }
  EXPECT_GE(status.millis_behind_latest, 0);
  std::printf(
      "[ timing ] relayed %zu commits in %lld ms; consumed %zu events in %lld ms\n",
      work.commits.size(),
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(relayed - relay_started).count()),
      work.EventCount(),
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(consumed - relayed).count()));
}

TEST_F(KinesisTest, RestartedConsumerResumesFromItsCheckpoints) {
  std::string stream = CreateStream(1);
  Workload work;
  work.Add("cart", 6, 9, 3);
  const size_t third = work.commits.size() / 3;
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  RelayAll(relay, work.Batches(0, third));
  auto events_in = [&](size_t from, size_t to) {
    int64_t n = 0;
    for (size_t i = from; i < to; ++i) n += static_cast<int64_t>(work.commits[i].size());
    return n;
  };

  RecordingHandler first;
  {
    auto consumer =
        aws::KinesisConsumer::Start(client_, *checkpoints_, first, ConsumerOptions("proj", stream));
    ASSERT_TRUE(consumer.ok()) << consumer.error().message;
    ASSERT_TRUE((*consumer)->WaitForEvents(events_in(0, third), kWait));
    (*consumer)->Stop();
  }
  // The checkpoints are durable: a new process opens the same file.
  checkpoints_.reset();
  auto reopened = OpenSqliteCheckpointStore(dir_.File("checkpoints.sqlite"));
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  checkpoints_ = std::move(reopened).value();

  RelayAll(relay, work.Batches(third, 2 * third));
  RecordingHandler second;
  {
    auto consumer = aws::KinesisConsumer::Start(client_, *checkpoints_, second,
                                                ConsumerOptions("proj", stream));
    ASSERT_TRUE(consumer.ok()) << consumer.error().message;
    ASSERT_TRUE((*consumer)->WaitForEvents(events_in(third, 2 * third), kWait));
    // Nothing more comes: what the first run handled is not handed again.
    std::this_thread::sleep_for(milliseconds(200));
    (*consumer)->Stop();
  }
  EXPECT_EQ(static_cast<int64_t>(second.events().size()), events_in(third, 2 * third));

  // A batch the handler never took (stopped while it was failing) is the only one handed again.
  RelayAll(relay, work.Batches(2 * third, work.commits.size()));
  RecordingHandler failing;
  failing.FailAlways(true);
  {
    auto options = ConsumerOptions("proj", stream);
    options.max_handler_attempts = 1000;
    auto consumer = aws::KinesisConsumer::Start(client_, *checkpoints_, failing, options);
    ASSERT_TRUE(consumer.ok()) << consumer.error().message;
    const auto until = Clock::now() + kWait;
    while (failing.calls() < 3 && Clock::now() < until)
      std::this_thread::sleep_for(milliseconds(5));
    ASSERT_GE(failing.calls(), 3);
    (*consumer)->Stop();
  }
  RecordingHandler third_run;
  {
    auto consumer = aws::KinesisConsumer::Start(client_, *checkpoints_, third_run,
                                                ConsumerOptions("proj", stream));
    ASSERT_TRUE(consumer.ok()) << consumer.error().message;
    ASSERT_TRUE((*consumer)->WaitForEvents(events_in(2 * third, work.commits.size()), kWait));
    std::this_thread::sleep_for(milliseconds(200));
    (*consumer)->Stop();
  }
  EXPECT_EQ(static_cast<int64_t>(third_run.events().size()),
            events_in(2 * third, work.commits.size()));
  std::vector<RecordedEvent> all = first.events();
  for (const auto* run : {&second, &third_run}) {
    auto more = run->events();
    all.insert(all.end(), more.begin(), more.end());
  }
  ExpectExactlyOnceInStreamOrder(all, work.by_stream);
}

TEST_F(KinesisTest, ChildShardsAreReadOnlyAfterTheirParentsAreFinished) {
  std::string stream = CreateStream(1);
  Workload work;
  work.Add("cart", 8, 9, 4);
  const size_t third = work.commits.size() / 3;
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  auto events_in = [&](size_t to) {
    int64_t n = 0;
    for (size_t i = 0; i < to; ++i) n += static_cast<int64_t>(work.commits[i].size());
    return n;
  };

  // A consumer that runs through the reshards.
  RecordingHandler live;
  auto consumer =
      aws::KinesisConsumer::Start(client_, *checkpoints_, live, ConsumerOptions("live", stream));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  RelayAll(relay, work.Batches(0, third));
  ASSERT_TRUE((*consumer)->WaitForEvents(events_in(third), kWait));

  // Split the one shard in two at the middle of the hash key range...
  auto split = CallWithinShardLimit(
      "SplitShard", {{"StreamName", stream},
                     {"ShardToSplit", "shardId-000000000000"},
                     {"NewStartingHashKey", "170141183460469231731687303715884105728"}});
  ASSERT_TRUE(split.ok()) << split.error().message;
  WaitActive(stream);
  RelayAll(relay, work.Batches(third, 2 * third));
  ASSERT_TRUE((*consumer)->WaitForEvents(events_in(2 * third), kWait))
      << (*consumer)->GetStatus().last_error;
  // ...and merge the two children back into one with two parents.
  auto merge =
      CallWithinShardLimit("MergeShards", {{"StreamName", stream},
                                           {"ShardToMerge", "shardId-000000000001"},
                                           {"AdjacentShardToMerge", "shardId-000000000002"}});
  ASSERT_TRUE(merge.ok()) << merge.error().message;
  WaitActive(stream);
  RelayAll(relay, work.Batches(2 * third, work.commits.size()));
  ASSERT_TRUE((*consumer)->WaitForEvents(events_in(work.commits.size()), kWait))
      << (*consumer)->GetStatus().last_error;
  (*consumer)->Stop();
  ExpectExactlyOnceInStreamOrder(live.events(), work.by_stream);
  auto status = (*consumer)->GetStatus();
  ASSERT_EQ(status.shards.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(status.shards[i].state, aws::KinesisShardStatus::State::kFinished) << i;
    EXPECT_EQ(status.shards[i].checkpoint, "finished");
  }
  EXPECT_EQ(status.shards[3].state, aws::KinesisShardStatus::State::kReading);
  EXPECT_EQ(status.shards[3].parents,
            (std::vector<std::string>{"shardId-000000000001", "shardId-000000000002"}));
  EXPECT_EQ(status.shards[1].parents, (std::vector<std::string>{"shardId-000000000000"}));

  // A consumer that starts now finds every generation readable at once: only reading parents to
  // their end before their children keeps each stream in order.
  // Small reads interleave the shards, so a child read too early would overtake its parent.
  RecordingHandler late;
  auto late_options = ConsumerOptions("late", stream);
  late_options.max_records_per_read = 2;
  auto fresh = aws::KinesisConsumer::Start(client_, *checkpoints_, late, late_options);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  ASSERT_TRUE((*fresh)->WaitForEvents(static_cast<int64_t>(work.EventCount()), kWait))
      << (*fresh)->GetStatus().last_error;
  (*fresh)->Stop();
  ExpectExactlyOnceInStreamOrder(late.events(), work.by_stream);
}

TEST_F(KinesisTest, PartiallyFailedPutRecordsAreRetriedInStreamOrder) {
  std::string stream = CreateStream(2);
  auto owned = std::make_unique<FaultTransport>(aws::NewCurlTransport());
  FaultTransport* faults = owned.get();
  // Every record fails its first one or two sendings, chosen by its key and content.
  faults->SetPutFault([](const std::string& key, int attempt) {
    return attempt <= static_cast<int>(std::hash<std::string>()(key) % 3);
  });
  auto faulty = NewClient(std::move(owned));
  Workload work;
  work.Add("cart", 10, 12, 5);
  aws::KinesisRelay relay(faulty, RelayOptionsFor(stream));
  int64_t retried = 0;
  for (const auto& batch : work.Batches(0, work.commits.size(), 60)) {
    auto result = relay.Relay(batch);
    ASSERT_TRUE(result.ok()) << result.error().message;
    ASSERT_TRUE(result->failed.empty()) << result->failed.front().reason;
    retried += result->retried;
  }
  EXPECT_GT(faults->put_records_failed(), 50);
  EXPECT_EQ(retried, faults->put_records_failed());
  EXPECT_EQ(faults->same_key_twice(), 0) << "a call carried two commits of one stream";

  // On the stream: each commit once, in its stream's order.
  std::vector<RecordedEvent> on_stream;
  for (auto& [key, events] : ReadStream(stream)) {
    on_stream.insert(on_stream.end(), events.begin(), events.end());
  }
  ExpectExactlyOnceInStreamOrder(on_stream, work.by_stream);

  RecordingHandler handler;
  auto consumer =
      aws::KinesisConsumer::Start(client_, *checkpoints_, handler, ConsumerOptions("proj", stream));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  ASSERT_TRUE((*consumer)->WaitForEvents(static_cast<int64_t>(work.EventCount()), kWait));
  (*consumer)->Stop();
  ExpectExactlyOnceInStreamOrder(handler.events(), work.by_stream);
}

TEST_F(KinesisTest, CommitThatKeepsFailingIsReportedWithTheRestOfItsStream) {
  std::string stream = CreateStream(1);
  auto owned = std::make_unique<FaultTransport>(aws::NewCurlTransport());
  FaultTransport* faults = owned.get();
  // Stream "hot" is throttled for good.
  faults->SetPutFault([](const std::string& key, int) { return key == "hot"; });
  auto faulty = NewClient(std::move(owned));
  auto h1 = MakeCommit("hot", 1, 2), h2 = MakeCommit("hot", 3, 1), h3 = MakeCommit("hot", 4, 1);
  auto c1 = MakeCommit("cold", 1, 1), c2 = MakeCommit("cold", 2, 1);
  std::vector<nlohmann::json> records = {
      StreamRecord(CommitImage(c1)), StreamRecord(CommitImage(h1)), StreamRecord(CommitImage(h2)),
      StreamRecord(CommitImage(c2)), StreamRecord(CommitImage(h3))};
  auto options = RelayOptionsFor(stream);
  options.max_attempts = 3;
  aws::KinesisRelay relay(faulty, options);
  auto result = relay.Relay(StreamEvent(records));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->published, 2);
  ASSERT_EQ(result->failed.size(), 3u);
  EXPECT_EQ(faults->put_records_failed(), 3) << "only hot@1 is sent, three times";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(result->failed[i].sequence_number,
              records[i == 0   ? 1
                      : i == 1 ? 2
                               : 4]["dynamodb"]["SequenceNumber"]);
    EXPECT_EQ(result->failed[i].stream_id, "hot");
  }
  EXPECT_NE(result->failed[0].reason.find("ProvisionedThroughputExceededException"),
            std::string::npos)
      << result->failed[0].reason;
  EXPECT_NE(result->failed[0].reason.find("3 attempts"), std::string::npos);
  EXPECT_NE(result->failed[2].reason.find("to keep the order of stream hot"), std::string::npos);
  for (auto& [key, events] : ReadStream(stream)) EXPECT_EQ(key, "cold");

  // The Lambda's retry of the reported records, once the throttling is over, publishes them in
  // order.
  faults->SetPutFault({});
  std::vector<nlohmann::json> again = {records[1], records[2], records[4]};
  auto retried = relay.Relay(StreamEvent(again));
  ASSERT_TRUE(retried.ok()) << retried.error().message;
  EXPECT_TRUE(retried->failed.empty());
  std::vector<int64_t> hot_versions;
  for (auto& [key, events] : ReadStream(stream)) {
    for (const auto& e : events) {
      if (key == "hot") hot_versions.push_back(e.version);
    }
  }
  EXPECT_EQ(hot_versions, (std::vector<int64_t>{1, 2, 3, 4}));

  // A time budget that runs out reports what it could not send.
  auto budget = RelayOptionsFor(stream);
  budget.time_budget = milliseconds(1);
  budget.max_attempts = 1000;
  faults->SetPutFault([](const std::string&, int) { return true; });
  aws::KinesisRelay hurried(faulty, budget);
  auto out_of_time = hurried.Relay(StreamEvent({StreamRecord(CommitImage(MakeCommit("x", 1, 1)))}));
  ASSERT_TRUE(out_of_time.ok());
  ASSERT_EQ(out_of_time->failed.size(), 1u);
  EXPECT_NE(out_of_time->failed[0].reason.find("time budget"), std::string::npos)
      << out_of_time->failed[0].reason;
}

TEST_F(KinesisTest, ThrottledGetRecordsLoseNothing) {
  std::string stream = CreateStream(2);
  Workload work;
  work.Add("cart", 8, 8, 6);
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  RelayAll(relay, work.Batches(0, work.commits.size()));

  auto owned = std::make_unique<FaultTransport>(aws::NewCurlTransport());
  // Two reads in a row out of every five: each run outlasts the client's two attempts.
  owned->ThrottleGetRecords(2, 5);
  FaultTransport* faults = owned.get();
  auto throttled = NewClient(std::move(owned), /*max_attempts=*/2);
  RecordingHandler handler;
  auto options = ConsumerOptions("proj", stream);
  options.max_records_per_read = 7;  // many reads
  auto consumer = aws::KinesisConsumer::Start(throttled, *checkpoints_, handler, options);
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  ASSERT_TRUE((*consumer)->WaitForEvents(static_cast<int64_t>(work.EventCount()), kWait))
      << (*consumer)->GetStatus().last_error;
  (*consumer)->Stop();
  auto status = (*consumer)->GetStatus();
  EXPECT_GT(faults->get_records_throttled(), 5);
  EXPECT_GT(status.read_retries, 0);
  EXPECT_NE(status.last_error.find("ProvisionedThroughputExceededException"), std::string::npos)
      << status.last_error;
  ExpectExactlyOnceInStreamOrder(handler.events(), work.by_stream);
}

TEST_F(KinesisTest, HandlerErrorsAreRetriedThenStopTheConsumer) {
  std::string stream = CreateStream(1);
  Workload work;
  work.Add("cart", 3, 3, 7);
  aws::KinesisRelay relay(client_, RelayOptionsFor(stream));
  RelayAll(relay, work.Batches(0, work.commits.size()));

  RecordingHandler flaky;
  flaky.FailNext(2);
  auto consumer =
      aws::KinesisConsumer::Start(client_, *checkpoints_, flaky, ConsumerOptions("flaky", stream));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  ASSERT_TRUE((*consumer)->WaitForEvents(static_cast<int64_t>(work.EventCount()), kWait));
  (*consumer)->Stop();
  EXPECT_EQ((*consumer)->GetStatus().handler_retries, 2);
  size_t repeats = ExpectAtLeastOnceInStreamOrder(flaky.events(), work.by_stream);
  EXPECT_EQ(repeats, 0u);

  RecordingHandler broken;
  broken.FailAlways(true);
  auto options = ConsumerOptions("broken", stream);
  options.max_handler_attempts = 3;
  auto stopped = aws::KinesisConsumer::Start(client_, *checkpoints_, broken, options);
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_FALSE((*stopped)->WaitForEvents(1, kWait));
  auto status = (*stopped)->GetStatus();
  EXPECT_EQ(status.state, aws::KinesisConsumerStatus::State::kFailed);
  EXPECT_NE(status.error.find("the handler failed 3 times"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("injected"), std::string::npos) << status.error;
  EXPECT_EQ(broken.calls(), 3);
  auto saved =
      checkpoints_->Load(aws::KinesisCheckpointName("broken", stream, "shardId-000000000000"));
  ASSERT_TRUE(saved.ok());
  EXPECT_FALSE(saved->has_value()) << "a batch the handler refused must not be checkpointed";
}

TEST_F(KinesisTest, StartRefusesAMissingStreamAndForeignCheckpoints) {
  RecordingHandler handler;
  auto missing = aws::KinesisConsumer::Start(client_, *checkpoints_, handler,
                                             ConsumerOptions("proj", "evs-kin-no-such-stream"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  EXPECT_EQ(aws::KinesisConsumer::Start(client_, *checkpoints_, handler, ConsumerOptions("", "s"))
                .error()
                .code,
            ErrorCode::kInvalidArgument);

  std::string stream = CreateStream(1);
  ASSERT_TRUE(
      checkpoints_->Save(aws::KinesisCheckpointName("proj", stream, "shardId-000000000000"), "42x")
          .ok());
  auto foreign =
      aws::KinesisConsumer::Start(client_, *checkpoints_, handler, ConsumerOptions("proj", stream));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, ErrorCode::kCorruption) << foreign.error().message;
}

// ---------------------------------------------------------------------------------------------
// Replay to Kinesis: an archive of carts on S3 (s3rver) re-published to kinesalite.

TEST(KinesisRecordsTest, ReplayRecordCarriesTheFlagAndPositions) {
  auto commit = MakeCommit("cart-r", 2, 3);
  for (size_t i = 0; i < commit.size(); ++i) commit[i].position = 40 + static_cast<int64_t>(i);
  auto data = aws::EncodeReplayRecord(commit);
  ASSERT_TRUE(data.ok()) << data.error().message;
  auto json = nlohmann::json::parse(*data);
  EXPECT_EQ(json["replay"], true);
  EXPECT_EQ(json["events"][2]["position"], 42);
  auto back = aws::DecodeCommitRecord(*data);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 3u);
  for (size_t i = 0; i < commit.size(); ++i) {
    EXPECT_TRUE(SameEvent((*back)[i], commit[i])) << i;
    EXPECT_EQ((*back)[i].position, commit[i].position);
  }
  // Live records have neither field, and the pieces assemble exactly the same text.
  auto live = aws::EncodeCommitRecord(commit);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->find("\"replay\""), std::string::npos);
  EXPECT_EQ(live->find("\"position\""), std::string::npos);
  EXPECT_EQ(*live, nlohmann::json::parse(*live).dump()) << "keys in nlohmann's order";
  std::vector<std::string> entries;
  for (const auto& e : commit) entries.push_back(*aws::EncodeRecordEntry(e, true));
  std::string assembled = aws::AssembleRecord("cart-r", 2, true, entries);
  EXPECT_EQ(assembled, *data);
  size_t expected = *aws::RecordOverheadBytes("cart-r", 2, true) + entries.size() - 1;
  for (const auto& entry : entries) expected += entry.size();
  EXPECT_EQ(assembled.size(), expected);
  // An event without a position (0) has none in a replay record either, and reads back as 0.
  auto mixed = commit;
  mixed[1].position = 0;
  auto mixed_back = aws::DecodeCommitRecord(*aws::EncodeReplayRecord(mixed));
  ASSERT_TRUE(mixed_back.ok()) << mixed_back.error().message;
  EXPECT_EQ((*mixed_back)[0].position, 40);
  EXPECT_EQ((*mixed_back)[1].position, 0);
  // A bad position is a corrupt record.
  json["events"][0]["position"] = 0;
  EXPECT_EQ(aws::DecodeCommitRecord(json.dump()).error().code, ErrorCode::kCorruption);
}

class KinesisReplayTest : public KinesisTest {
 protected:
  // Carts written through the Repository on an embedded store, archived to s3rver in segments
  // of 7 events.
  void SetUp() override {
    KinesisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    options.durable = false;
    auto store = OpenSqliteEventStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    repo_ = std::make_unique<Repository<cart::Cart>>(*store_);
    std::mt19937 random(23);
    const char* names[] = {"apple", "pear", "plum", "fig"};
    for (int i = 0; i < 160; ++i) {
      if (carts_.size() < 12 && (carts_.empty() || random() % 4 == 0)) {
        carts_.push_back(Uuid::Random().ToString());
        ASSERT_TRUE(repo_->Create(carts_.back(), [](cart::Cart& c) { return c.Open(); }).ok());
        continue;
      }
      const std::string& id = carts_[random() % carts_.size()];
      const std::string item = names[random() % 4];
      (void)repo_->Execute(id, [&](cart::Cart& c) {
        if (random() % 7 == 0) return c.RemoveItem(item, 1);
        if (random() % 25 == 0) return c.Checkout();
        return c.AddItem(item, 1 + static_cast<int64_t>(random() % 3), 100 * (1 + item.size()));
      });
    }
    for (const std::string& id : carts_) {
      const std::string stream_id = cart::Cart::StreamIdFor(id);
      auto page = store_->ReadStream(stream_id, ReadStreamOptions{});
      ASSERT_TRUE(page.ok()) << page.error().message;
      want_[stream_id] = page->events;
      for (auto& e : want_[stream_id]) e.position = 0;  // compared with what Kinesis delivers
      total_ += static_cast<int64_t>(page->events.size());
    }
    auto objects = aws::NewS3ObjectStore(
        client_, "s3://evs-test/replay-" + Uuid::Random().ToString().substr(0, 8));
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    objects_ = std::move(objects).value();
    ArchiverOptions segments;
    segments.segment_max_events = 7;
    auto archived = ArchiveOnce(*store_, *objects_, segments);
    ASSERT_TRUE(archived.ok()) << archived.error().message;
    ASSERT_EQ(archived->archived_up_to, total_);
    auto reader = ArchiveReader::Open(*objects_);
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    reader_ = std::move(reader).value();
  }

  // The read model built live from the store's log.
  std::string LiveReadModel() {
    ProjectionOptions options;
    options.path = dir_.File("live.sqlite");
    auto projector = StreamProjectionHandler::Open(projection_, options);
    EXPECT_TRUE(projector.ok()) << projector.error().message;
    if (!projector.ok()) return "";
    for (int64_t after = 0;;) {
      auto page = store_->ReadLog(after, 50);
      EXPECT_TRUE(page.ok()) << page.error().message;
      if (!page.ok() || page->events.empty()) break;
      EXPECT_TRUE((*projector)->Handle(page->events).ok());
      after = page->next_position;
    }
    return testing::DumpCartReadModel(options.path);
  }

  // The read model a consumer of `stream` builds (until it has seen `events` events).
  std::string ConsumedReadModel(const std::string& stream, int64_t events, int64_t* skipped) {
    ProjectionOptions options;
    options.path = dir_.File("consumed-" + stream + ".sqlite");
    auto projector = StreamProjectionHandler::Open(projection_, options);
    EXPECT_TRUE(projector.ok()) << projector.error().message;
    auto checkpoints = OpenSqliteCheckpointStore(options.path);
    EXPECT_TRUE(checkpoints.ok());
    if (!projector.ok() || !checkpoints.ok()) return "";
    auto consumer = aws::KinesisConsumer::Start(client_, **checkpoints, **projector,
                                                ConsumerOptions("projection", stream));
    EXPECT_TRUE(consumer.ok()) << consumer.error().message;
    if (!consumer.ok()) return "";
    EXPECT_TRUE((*consumer)->WaitForEvents(events, kWait)) << (*consumer)->GetStatus().last_error;
    // Repeats count as handled: wait until every event is applied, and the shards are read.
    const auto until = Clock::now() + kWait;
    while (((*projector)->Stats().applied < total_ || !(*consumer)->GetStatus().caught_up) &&
           Clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    (*consumer)->Stop();
    if (skipped) *skipped = (*projector)->Stats().skipped;
    EXPECT_EQ((*projector)->Stats().applied, total_);
    testing::ExpectReadModelMatchesCarts(options.path, *repo_, carts_);
    return testing::DumpCartReadModel(options.path);
  }

  // Every event on the stream, with the replay marks checked: each has its archive position.
  std::vector<RecordedEvent> EventsOn(const std::string& stream) {
    std::vector<RecordedEvent> got;
    for (auto& [key, events] : ReadStream(stream)) {
      for (auto& e : events) {
        EXPECT_EQ(key, e.stream_id);
        EXPECT_GE(e.position, 1) << "a replayed event carries its position";
        e.position = 0;
        got.push_back(std::move(e));
      }
    }
    return got;
  }

  aws::KinesisReplayOptions ReplayOptionsFor(const std::string& stream) {
    aws::KinesisReplayOptions options;
    options.sending.stream_name = stream;
    options.sending.initial_backoff = milliseconds(2);
    options.sending.max_backoff = milliseconds(20);
    return options;
  }

  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Repository<cart::Cart>> repo_;
  std::vector<std::string> carts_;
  std::map<std::string, std::vector<RecordedEvent>> want_;
  int64_t total_ = 0;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<ArchiveReader> reader_;
  cart::CartSummaryProjection projection_;
};

TEST_F(KinesisReplayTest, ArchivedCartsReplayedToKinesisBuildTheReadModelBuiltLive) {
  const std::string stream = CreateStream(2);
  auto options = ReplayOptionsFor(stream);
  options.window_events = 64;
  std::vector<int64_t> published;
  options.on_published = [&](int64_t through) {
    published.push_back(through);
    return OkStatus();
  };
  auto result = aws::ReplayToKinesis(*client_, *reader_, options);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result->done);
  EXPECT_EQ(result->events, total_);
  EXPECT_EQ(result->next_from, total_ + 1);
  EXPECT_EQ(result->last_position, total_);
  EXPECT_LT(result->records, total_) << "consecutive versions of a stream share a record";
  ASSERT_FALSE(published.empty());
  EXPECT_TRUE(std::is_sorted(published.begin(), published.end()));
  EXPECT_EQ(published.back(), total_);

  ExpectExactlyOnceInStreamOrder(EventsOn(stream), want_);
  int64_t skipped = -1;
  EXPECT_EQ(ConsumedReadModel(stream, total_, &skipped), LiveReadModel());
  EXPECT_EQ(skipped, 0);

  // Bad input and a missing stream are errors; a range past the end is done at once.
  options.from = 0;
  EXPECT_EQ(aws::ReplayToKinesis(*client_, *reader_, options).error().code,
            ErrorCode::kInvalidArgument);
  options.from = 5;
  options.to = 4;
  EXPECT_EQ(aws::ReplayToKinesis(*client_, *reader_, options).error().code,
            ErrorCode::kInvalidArgument);
  options.to = INT64_MAX;
  options.from = total_ + 1;
  auto beyond = aws::ReplayToKinesis(*client_, *reader_, options);
  ASSERT_TRUE(beyond.ok());
  EXPECT_TRUE(beyond->done);
  EXPECT_EQ(beyond->events, 0);
  options.from = 1;
  options.sending.stream_name = "evs-kin-no-such-stream";
  auto missing = aws::ReplayToKinesis(*client_, *reader_, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
}

// Stopped half way (as on SIGTERM), then resumed after the last position published: every event
// reaches Kinesis at least once in its stream's order, and the read model is the same.
TEST_F(KinesisReplayTest, InterruptedReplayResumesAfterThePublishedPosition) {
  const std::string stream = CreateStream(2);
  auto options = ReplayOptionsFor(stream);
  options.window_events = 16;
  int64_t through = 0;
  options.on_published = [&](int64_t p) {
    through = p;
    return OkStatus();
  };
  options.stop_requested = [&] { return through >= total_ / 2; };
  auto first = aws::ReplayToKinesis(*client_, *reader_, options);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->done);
  EXPECT_EQ(first->stopped, "stop requested");
  EXPECT_EQ(first->next_from, through + 1);
  EXPECT_GE(through, total_ / 2);
  EXPECT_LT(through, total_);

  options.from = first->next_from;
  options.stop_requested = {};
  auto second = aws::ReplayToKinesis(*client_, *reader_, options);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->done);
  EXPECT_EQ(first->events + second->events, total_);

  ExpectAtLeastOnceInStreamOrder(EventsOn(stream), want_);
  EXPECT_EQ(ConsumedReadModel(stream, total_, nullptr), LiveReadModel());

  // max_events stops exactly there; a deadline already passed publishes nothing.
  const std::string other = CreateStream(1);
  auto limited = ReplayOptionsFor(other);
  limited.max_events = 10;
  auto ten = aws::ReplayToKinesis(*client_, *reader_, limited);
  ASSERT_TRUE(ten.ok()) << ten.error().message;
  EXPECT_FALSE(ten->done);
  EXPECT_EQ(ten->stopped, "max_events");
  EXPECT_EQ(ten->next_from, 11);
  auto late = ReplayOptionsFor(other);
  late.sending.deadline = Clock::now();
  auto none = aws::ReplayToKinesis(*client_, *reader_, late);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->done);
  EXPECT_EQ(none->stopped, "deadline");
  EXPECT_EQ(none->next_from, 1);
}

// Partially failed PutRecords during a replay are retried without reordering a stream; a record
// that keeps failing stops the replay with an error saying how far it got.
TEST_F(KinesisReplayTest, ThrottledReplayKeepsEachStreamsOrder) {
  const std::string stream = CreateStream(2);
  auto owned = std::make_unique<FaultTransport>(aws::NewCurlTransport());
  FaultTransport* faults = owned.get();
  faults->SetPutFault([](const std::string& key, int attempt) {
    return attempt <= static_cast<int>(std::hash<std::string>()(key) % 3);
  });
  auto faulty = NewClient(std::move(owned));
  auto options = ReplayOptionsFor(stream);
  options.window_events = 40;
  auto result = aws::ReplayToKinesis(*faulty, *reader_, options);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result->done);
  EXPECT_GT(faults->put_records_failed(), 5);
  EXPECT_EQ(result->retried, faults->put_records_failed());
  EXPECT_EQ(faults->same_key_twice(), 0) << "a call carried two records of one stream";
  ExpectExactlyOnceInStreamOrder(EventsOn(stream), want_);

  const std::string hot = cart::Cart::StreamIdFor(carts_[0]);
  faults->SetPutFault([&](const std::string& key, int) { return key == hot; });
  auto stuck = ReplayOptionsFor(CreateStream(1));
  stuck.sending.max_attempts = 2;
  int64_t through = 0;
  stuck.on_published = [&](int64_t p) {
    through = p;
    return OkStatus();
  };
  auto failed = aws::ReplayToKinesis(*faulty, *reader_, stuck);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kIOError);
  EXPECT_NE(failed.error().message.find(hot + "@1 (position 1)"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find("published through position 0"), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(through, 0);
}

// An event whose record alone would be over Kinesis's 1 MiB is an error naming it (its data is
// within the store's limit, but escaped as a JSON string it is not).
TEST_F(KinesisTest, ReplayRefusesAnEventTooLargeForAKinesisRecord) {
  SqliteStoreOptions options;
  options.path = dir_.File("big.sqlite");
  options.durable = false;
  auto store = OpenSqliteEventStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  std::string quotes = "[";
  while (quotes.size() < 700 * 1024) quotes += "\"\",";
  quotes += "\"\"]";
  ASSERT_TRUE(
      (*store)
          ->Append("small", ExpectedVersion::Any(), {EventData{Uuid::Random(), "T", "{}", "{}"}})
          .ok());
  auto big = (*store)->Append("big", ExpectedVersion::Any(),
                              {EventData{Uuid::Random(), "T", quotes, "{}"}});
  ASSERT_TRUE(big.ok()) << big.error().message;
  DirectoryObjectStoreOptions folder;
  folder.path = dir_.File("archive");
  auto objects = OpenDirectoryObjectStore(folder);
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_TRUE(ArchiveOnce(**store, **objects, ArchiverOptions{}).ok());
  auto reader = ArchiveReader::Open(**objects);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  aws::KinesisReplayOptions replay;
  replay.sending.stream_name = CreateStream(1);
  auto result = aws::ReplayToKinesis(*client_, **reader, replay);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message.find("big@1 (position 2)"), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find("1 MiB"), std::string::npos) << result.error().message;
}

}  // namespace
}  // namespace evs
