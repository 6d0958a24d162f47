// The ObjectStore on S3, through the real client against the s3rver stand-in (scripts/standins
// starts it; EVS_TEST_AWS=1 says it runs): the object semantics the archive relies on, then the
// archive itself (archive, verify, replay, restore) on s3://bucket/prefix.
#include "aws/s3_object_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/uuid.h"
#include "evs/verify.h"
#include "temp_dir.h"

namespace evs {
namespace {

// A client for the stand-in, or a skip when the run has none.
std::shared_ptr<aws::AwsClient> StandInClient() {
  const char* wanted = std::getenv("EVS_TEST_AWS");
  if (wanted == nullptr || std::string(wanted) != "1") return nullptr;
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) {
    ADD_FAILURE() << config.error().message;
    return nullptr;
  }
  EXPECT_FALSE(config->s3_endpoint.empty()) << "EVS_TEST_AWS=1 but no AWS_ENDPOINT_URL_S3";
  aws::RetryPolicy fast;
  fast.max_attempts = 3;
  fast.base_delay = std::chrono::milliseconds(5);
  return std::make_shared<aws::AwsClient>(*config, aws::NewCurlTransport(), fast);
}

// A fresh bucket per test: tests run in parallel against one stand-in.
std::string NewBucket(aws::AwsClient& client) {
  static std::atomic<int> counter{0};
  std::string name =
      "evs-t-" + Uuid::Random().ToString().substr(0, 8) + "-" + std::to_string(counter++);
  auto made = client.CallRest(aws::Service::kS3, "PUT", "/" + name, {}, "");
  EXPECT_TRUE(made.ok()) << made.error().message;
  if (made.ok()) {
    EXPECT_EQ(made->status, 200) << made->body;
  }
  return name;
}

class S3ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = StandInClient();
    if (!client_) GTEST_SKIP() << "no S3 stand-in (EVS_TEST_AWS is not 1; scripts/test starts one)";
    bucket_ = NewBucket(*client_);
    auto store = aws::NewS3ObjectStore(client_, "s3://" + bucket_ + "/archive/evs");
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }

  std::vector<std::string> AllKeys(std::string_view prefix, size_t page) {
    std::vector<std::string> keys;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      ListOptions list;
      list.prefix = prefix;
      list.continuation = token;
      list.max_keys = page;
      auto got = store_->List(list);
      EXPECT_TRUE(got.ok()) << got.error().message;
      if (!got.ok()) break;
      for (const auto& o : got->objects) keys.push_back(o.key);
      token = got->next_token;
      if (token.empty()) break;
    }
    return keys;
  }

  std::shared_ptr<aws::AwsClient> client_;
  std::string bucket_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(S3ObjectStoreTest, PutGetRangeHeadDelete) {
  const std::string bytes("binary\0bytes\xff with a NUL", 24);
  ASSERT_TRUE(store_->Put("a/b.bin", bytes).ok());
  auto got = store_->Get("a/b.bin");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, bytes);
  auto range = store_->Get("a/b.bin", ByteRange{7, 5});
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, bytes.substr(7, 5));
  auto tail = store_->Get("a/b.bin", ByteRange{20, 100});
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, bytes.substr(20));
  auto head = store_->Head("a/b.bin");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, bytes.size());
  EXPECT_GT(head->modified_at_us, 0);
  ASSERT_TRUE(store_->Put("a/b.bin", "replaced").ok());
  EXPECT_EQ(*store_->Get("a/b.bin"), "replaced");
  ASSERT_TRUE(store_->Delete("a/b.bin").ok());
  EXPECT_EQ(store_->Get("a/b.bin").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Head("a/b.bin").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store_->Delete("a/b.bin").ok());  // missing is fine, as on S3
  // Keys with spaces and UTF-8 are encoded, not garbled.
  ASSERT_TRUE(store_
                  ->Put("snap shots/\xc3\xbc"
                        "ber+1.json",
                        "{}")
                  .ok());
  EXPECT_EQ(*store_->Get("snap shots/\xc3\xbc"
                         "ber+1.json"),
            "{}");
  EXPECT_EQ(store_->Location(), "s3://" + bucket_ + "/archive/evs/");
}

TEST_F(S3ObjectStoreTest, ListPagesInKeyOrderUnderThePrefixOnly) {
  std::set<std::string> want;
  for (int i = 0; i < 23; ++i) {
    const std::string key = "segments/" + std::to_string(1000 + i * 7) + ".x";
    ASSERT_TRUE(store_->Put(key, "v").ok());
    want.insert(key);
  }
  ASSERT_TRUE(store_->Put("other/z", "v").ok());
  // An object beside the store's prefix is not the store's.
  ASSERT_EQ(
      client_->CallRest(aws::Service::kS3, "PUT", "/" + bucket_ + "/archive/evsx", {}, "v")->status,
      200);
  for (size_t page : {1u, 5u, 1000u}) {
    auto keys = AllKeys("segments/", page);
    EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), want) << "page " << page;
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    EXPECT_EQ(keys.size(), want.size());
  }
  EXPECT_EQ(AllKeys("", 1000).size(), want.size() + 1);
  ListOptions after;
  after.prefix = "segments/";
  after.start_after = *want.begin();
  after.max_keys = 1;
  auto next = store_->List(after);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->objects.size(), 1u);
  EXPECT_EQ(next->objects[0].key, *std::next(want.begin()));
  ListOptions bad;
  bad.max_keys = 0;
  EXPECT_EQ(store_->List(bad).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(S3ObjectStoreTest, InvalidKeysAndLocationsAreRefused) {
  for (const char* key : {"", "/abs", "a//b", "../x", "a/./b", "a/../../x", ".evs-tmp-x"}) {
    EXPECT_EQ(store_->Put(key, "x").error().code, ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).error().code, ErrorCode::kInvalidArgument) << key;
  }
  for (const char* location :
       {"s3://", "s3://UPPER/x", "s3://ab", "file:///tmp", "s3://b-b/a/../x"}) {
    EXPECT_FALSE(aws::NewS3ObjectStore(client_, location).ok()) << location;
  }
  auto missing = aws::NewS3ObjectStore(client_, "s3://no-such-bucket-evs/x");
  ASSERT_TRUE(missing.ok());
  auto get = (*missing)->Get("k");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code, ErrorCode::kNotFound);
  EXPECT_NE(get.error().message.find("NoSuchBucket"), std::string::npos) << get.error().message;
}

TEST_F(S3ObjectStoreTest, TheArchiveRunsUnchangedOnS3) {
  testing::TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("events.sqlite");
  auto store = OpenSqliteEventStore(options);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 50; ++i) {
    EventData e;
    e.type = "ItemAdded";
    e.data = "{\"n\":" + std::to_string(i) + ", \"spaced\" : true}";
    ASSERT_TRUE(
        (*store)->Append("cart-" + std::to_string(i % 7), ExpectedVersion::Any(), {e}).ok());
  }
  ArchiverOptions small;
  small.segment_max_events = 8;
  auto archived = ArchiveOnce(**store, *store_, small);
  ASSERT_TRUE(archived.ok()) << archived.error().message;
  EXPECT_EQ(archived->archived_up_to, 50);
  EXPECT_EQ(archived->segments_written, 7);
  auto report = Verify(store->get(), store_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->compared_events, 50);
  auto reader = ArchiveReader::Open(*store_);
  ASSERT_TRUE(reader.ok());
  auto restored = RestoreSqliteEventStore(**reader, {}, dir.File("restored.sqlite"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->events, 50);
  SqliteStoreOptions copy_options;
  copy_options.path = dir.File("restored.sqlite");
  auto copy = OpenSqliteEventStore(copy_options);
  ASSERT_TRUE(copy.ok());
  auto again = Verify(copy->get(), store_.get());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok());
  // More events, archived after what is there.
  ASSERT_TRUE(
      (*store)->Append("cart-x", ExpectedVersion::Any(), {EventData{{}, "T", "{}", "{}"}}).ok());
  auto more = ArchiveOnce(**store, *store_, small);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->archived_up_to, 51);
}

}  // namespace
}  // namespace evs
