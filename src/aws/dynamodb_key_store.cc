// Subjects' keys on DynamoDB, wrapped by the operator's master key (evs/dynamodb_key_store.h).
#include "aws/dynamodb_key_store.h"

#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "aws/dynamodb_event_store.h"
#include "aws/dynamodb_items.h"
#include "evs/uuid.h"
#include "personal/aead.h"
#include "personal/key_wrap.h"
#include "personal/wrapped_key_store.h"

namespace evs::aws {
namespace {

constexpr const char* kMetaKey = "meta";
constexpr const char* kKeyStoreId = "KeyStoreId";
constexpr const char* kMasterKeyCheck = "MasterKeyCheck";
constexpr const char* kWrappedKey = "WrappedKey";
constexpr const char* kCreatedAt = "CreatedAt";
constexpr const char* kForgottenAt = "ForgottenAt";

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ItemKey(const std::string& subject) { return "subject#" + subject; }

class DynamoDbKeyStore final : public personal::WrappedKeyStore {
 public:
  DynamoDbKeyStore(std::shared_ptr<AwsClient> client, std::string table, std::string master_key,
                   std::string id)
      : WrappedKeyStore(std::move(master_key), std::move(id)),
        client_(std::move(client)),
        table_(std::move(table)) {}

  std::string name() const override { return "DynamoDB table " + table_; }

 private:
  Result<Stored> Read(const std::string& subject) override {
    auto item = GetItem(ItemKey(subject), "read the key of subject '" + subject + "'");
    if (!item.ok()) return item.error();
    Stored stored;
    if (item->is_null()) return stored;
    const std::string* wrapped = StringAttribute(*item, kWrappedKey);
    if (wrapped == nullptr) {
      stored.kind = Stored::Kind::kTombstone;
      return stored;
    }
    stored.kind = Stored::Kind::kWrapped;
    stored.wrapped = *wrapped;
    return stored;
  }

  Result<bool> InsertIfAbsent(const std::string& subject, const std::string& wrapped) override {
    auto put = Call("PutItem",
                    {{"TableName", table_},
                     {"Item",
                      {{kStreamIdAttribute, S(ItemKey(subject))},
                       {kWrappedKey, S(wrapped)},
                       {kCreatedAt, N(NowMicros())}}},
                     {"ConditionExpression", "attribute_not_exists(#k)"},
                     {"ExpressionAttributeNames", {{"#k", kStreamIdAttribute}}}},
                    "store the key of subject '" + subject + "'");
    if (put.ok()) return true;
    if (AwsErrorType(put.error()) == "ConditionalCheckFailedException") return false;
    return put.error();
  }

  // The tombstone replaces the item only while it holds a wrapped key (no item: nothing made).
  Result<bool> TombstoneIfWrapped(const std::string& subject) override {
    auto put =
        Call("PutItem",
             {{"TableName", table_},
              {"Item", {{kStreamIdAttribute, S(ItemKey(subject))}, {kForgottenAt, N(NowMicros())}}},
              {"ConditionExpression", "attribute_exists(#w)"},
              {"ExpressionAttributeNames", {{"#w", kWrappedKey}}}},
             "forget subject '" + subject + "'");
    if (put.ok()) return true;
    if (AwsErrorType(put.error()) == "ConditionalCheckFailedException") return false;
    return put.error();
  }

  // The item (consistent read), or null when there is none.
  Result<nlohmann::json> GetItem(const std::string& key, const std::string& context) {
    auto response = Call(
        "GetItem",
        {{"TableName", table_}, {"Key", {{kStreamIdAttribute, S(key)}}}, {"ConsistentRead", true}},
        context);
    if (!response.ok()) return response.error();
    auto item = response->find("Item");
    if (item == response->end() || item->empty()) return nlohmann::json();
    return std::move(*item);
  }

  Result<nlohmann::json> Call(std::string_view operation, const nlohmann::json& body,
                              const std::string& context) {
    auto response = client_->CallJson(Service::kDynamoDb, operation, body);
    if (response.ok()) return response;
    Error error = std::move(response.error());
    error.message = context + ": " + error.message;
    return error;
  }

  const std::shared_ptr<AwsClient> client_;
  const std::string table_;
};

// The key store's id from the "meta" item, made when missing (and allowed): the first writer's
// wins. The master key must open the item's check.
Result<std::string> ReadOrMakeMeta(AwsClient& client, const DynamoDbKeyStoreOptions& options) {
  const nlohmann::json get = {{"TableName", options.table},
                              {"Key", {{kStreamIdAttribute, S(kMetaKey)}}},
                              {"ConsistentRead", true}};
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto response = client.CallJson(Service::kDynamoDb, "GetItem", get);
    if (!response.ok()) return response.error();
    auto item = response->find("Item");
    if (item != response->end() && !item->empty()) {
      const std::string* id = StringAttribute(*item, kKeyStoreId);
      const std::string* check = StringAttribute(*item, kMasterKeyCheck);
      if (id == nullptr || check == nullptr) {
        return Error::Make(ErrorCode::kCorruption,
                           "the key table " + options.table + " has a meta item evs did not write");
      }
      if (!personal::UnwrapKey(options.master_key, "evs-master-check|" + *id, *check).ok()) {
        return Error::Make(
            ErrorCode::kInvalidArgument,
            "the master key is not the one the key table " + options.table + " was made with");
      }
      return *id;
    }
    if (!options.create_if_missing) {
      return Error::Make(ErrorCode::kNotFound,
                         "the key table " + options.table + " holds no key store (no meta item)");
    }
    const std::string id = Uuid::Random().ToString();
    auto check = personal::WrapKey(options.master_key, "evs-master-check|" + id, "");
    if (!check.ok()) return check.error();
    auto put = client.CallJson(
        Service::kDynamoDb, "PutItem",
        {{"TableName", options.table},
         {"Item",
          {{kStreamIdAttribute, S(kMetaKey)}, {kKeyStoreId, S(id)}, {kMasterKeyCheck, S(*check)}}},
         {"ConditionExpression", "attribute_not_exists(#k)"},
         {"ExpressionAttributeNames", {{"#k", kStreamIdAttribute}}}});
    if (put.ok()) return id;
    if (AwsErrorType(put.error()) != "ConditionalCheckFailedException") return put.error();
  }
  return Error::Make(ErrorCode::kUnavailable,
                     "the key table " + options.table + "'s meta item kept changing");
}

}  // namespace

Result<std::unique_ptr<KeyStore>> NewDynamoDbKeyStore(std::shared_ptr<AwsClient> client,
                                                      const DynamoDbKeyStoreOptions& options) {
  if (options.table.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the key table's name is empty");
  }
  if (options.master_key.size() != personal::kKeyBytes) {
    return Error::Make(ErrorCode::kInvalidArgument, "the master key must be 32 bytes");
  }
  Status ready = options.create_table_if_missing
                     ? CreateTable(*client, options.table, TableKeys::kStreamOnly,
                                   /*with_stream=*/false)
                     : WaitForTable(*client, options.table, TableKeys::kStreamOnly,
                                    "create it with partition key StreamId (S)");
  if (!ready.ok()) return ready.error();
  auto id = ReadOrMakeMeta(*client, options);
  if (!id.ok()) return id.error();
  return std::unique_ptr<KeyStore>(std::make_unique<DynamoDbKeyStore>(
      std::move(client), options.table, options.master_key, std::move(id).value()));
}

}  // namespace evs::aws

namespace evs {

std::string KeyTableFor(const std::string& events_table) { return events_table + "-keys"; }

Result<std::string> ReadMasterKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::Make(ErrorCode::kInvalidArgument, "cannot read the master key file " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string hex = text.str();
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.pop_back();
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string key;
  for (size_t i = 0; hex.size() == 2 * personal::kKeyBytes && i < hex.size(); i += 2) {
    const int high = digit(hex[i]);
    const int low = digit(hex[i + 1]);
    if (high < 0 || low < 0) break;
    key.push_back(static_cast<char>(high * 16 + low));
  }
  if (key.size() != personal::kKeyBytes) {
    return Error::Make(
        ErrorCode::kInvalidArgument,
        "the master key file " + path + " must hold 64 hexadecimal digits (openssl rand -hex 32)");
  }
  return key;
}

Result<std::unique_ptr<KeyStore>> OpenDynamoDbKeyStore(const DynamoDbKeyStoreOptions& options) {
  auto client = aws::ClientFromEnvironment();
  if (!client.ok()) return client.error();
  return aws::NewDynamoDbKeyStore(std::move(client).value(), options);
}

}  // namespace evs
