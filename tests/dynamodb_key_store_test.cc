// The key store of personal data on DynamoDB (evs/dynamodb_key_store.h), against dynalite: keys
// are wrapped by the master key, a forget leaves a tombstone and no wrapped key, another master
// key is refused at open, and PersonalData seals, reveals and redacts through it.
#include "evs/dynamodb_key_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "aws_test_env.h"
#include "evs/event_store.h"
#include "evs/personal_data.h"
#include "temp_dir.h"

namespace evs {
namespace {

class DynamoDbKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = testing::AwsTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    client_ = testing::DynamoDbTestClient();
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    if (client_) testing::DeleteTable(*client_, table_);
  }
  Result<std::unique_ptr<KeyStore>> Open(const std::string& master_key) {
    DynamoDbKeyStoreOptions options;
    options.table = table_;
    options.master_key = master_key;
    options.create_table_if_missing = true;
    return OpenDynamoDbKeyStore(options);
  }

  // Opens the key store as evs does: created only for a store not bound to one yet.
  PersonalData::KeyStoreOpener Opener() {
    return [this](bool create_if_missing) {
      DynamoDbKeyStoreOptions options;
      options.table = table_;
      options.master_key = master_;
      options.create_table_if_missing = create_if_missing;
      options.create_if_missing = create_if_missing;
      return OpenDynamoDbKeyStore(options);
    };
  }

  std::shared_ptr<aws::AwsClient> client_;
  const std::string table_ = testing::UniqueTableName("evs-keys");
  const std::string master_ = std::string(32, '\x5a');
};

TEST_F(DynamoDbKeyStoreTest, KeysAreKeptForgottenAndCheckedAgainstTheMasterKey) {
  auto keys = Open(master_);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  auto key = (*keys)->KeyFor("c-ann");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->size(), 32u);
  // The same key again, also from another process's view of the table.
  auto other = Open(master_);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ((*other)->id(), (*keys)->id());
  auto found = (*other)->Find("c-ann");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->state, SubjectKey::State::kActive);
  EXPECT_EQ(found->key, *key);
  // The table holds the key wrapped, never as it is.
  auto item = client_->CallJson(aws::Service::kDynamoDb, "Scan", {{"TableName", table_}});
  ASSERT_TRUE(item.ok()) << item.error().message;
  EXPECT_EQ(item->dump().find(*key), std::string::npos);
  // Forgotten: a tombstone; again: false; unknown: kNotFound.
  auto forgot = (*keys)->Forget("c-ann");
  ASSERT_TRUE(forgot.ok()) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  auto again = (*keys)->Forget("c-ann");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ((*keys)->Forget("c-nobody").error().code, ErrorCode::kNotFound);
  found = (*other)->Find("c-ann");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->state, SubjectKey::State::kForgotten);
  EXPECT_TRUE(found->key.empty());
  EXPECT_FALSE((*keys)->KeyFor("c-ann").ok());  // its id cannot hold personal data again
  // Another master key: a clear error at open, not garbage later.
  auto wrong = Open(std::string(32, '\x11'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument) << wrong.error().message;
  EXPECT_FALSE(Open("short").ok());
}

TEST_F(DynamoDbKeyStoreTest, PersonalDataSealsRevealsAndRedactsThroughIt) {
  auto store = NewMemoryEventStore();
  auto personal = PersonalData::Open(*store, Opener());
  ASSERT_TRUE(personal.ok()) << personal.error().message;
  auto sealed = (*personal)->Seal("c-bob", "bob@example.com");
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  EXPECT_EQ(sealed->ciphertext.find("bob@example.com"), std::string::npos);
  auto shown = (*personal)->Reveal(*sealed);
  ASSERT_TRUE(shown.ok()) << shown.error().message;
  EXPECT_EQ(*shown, "bob@example.com");
  ASSERT_TRUE((*personal)->Forget("c-bob").ok());
  shown = (*personal)->Reveal(*sealed);
  ASSERT_TRUE(shown.ok()) << shown.error().message;
  EXPECT_EQ(*shown, kRedacted);

  // The key table gone: the store's sealed fields need it, so opening is a clear error, and no
  // new table is made in its place.
  testing::DeleteTable(*client_, table_);
  auto missing = PersonalData::Open(*store, Opener());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kCorruption);
  EXPECT_NE(missing.error().message.find(table_), std::string::npos) << missing.error().message;
}

TEST(MasterKeyFile, SixtyFourHexDigitsAndNothingElse) {
  testing::TempDir dir;
  auto write = [&](const std::string& text) {
    std::ofstream(dir.File("master.key"), std::ios::binary) << text;
    return ReadMasterKeyFile(dir.File("master.key"));
  };
  auto good = write(std::string(64, 'a') + "\n");
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(*good, std::string(32, '\xaa'));
  EXPECT_FALSE(write(std::string(63, 'a')).ok());
  EXPECT_FALSE(write(std::string(64, 'g')).ok());
  EXPECT_FALSE(write(std::string(32, 'x')).ok());
  EXPECT_FALSE(ReadMasterKeyFile(dir.File("none")).ok());
}

}  // namespace
}  // namespace evs
