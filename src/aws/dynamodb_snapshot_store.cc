// Snapshots on DynamoDB: one item per stream in "<table>-snapshots" (evs/dynamodb.h says why a
// table of its own). Reads are consistent, so a Load after a Save sees it.
#include "aws/dynamodb_snapshot_store.h"

#include <limits>
#include <map>
#include <utility>

#include "aws/dynamodb_event_store.h"
#include "aws/dynamodb_items.h"
#include "snapshot/validate_snapshot.h"

namespace evs::aws {
namespace {

constexpr const char* kVersion = "Version";
constexpr const char* kLastEventId = "LastEventId";
constexpr const char* kSchemaVersion = "SchemaVersion";
constexpr const char* kState = "State";
constexpr const char* kTakenAt = "TakenAt";

// DynamoDB table names are at most 255 characters.
constexpr size_t kMaxTableName = 255;
// Bound on the pages of one scan; far above any real table.
constexpr int kMaxPages = 1'000'000;

std::string Of(const std::string& stream) { return "the snapshot of '" + stream + "'"; }

// The snapshot in an item; kCorruption naming the stream for an item no Save wrote.
Result<Snapshot> DecodeSnapshotItem(const nlohmann::json& item) {
  const std::string* stream = StringAttribute(item, kStreamIdAttribute);
  if (stream == nullptr) {
    return Error::Make(ErrorCode::kCorruption, "a snapshot item has no StreamId string");
  }
  Snapshot snapshot;
  snapshot.stream_id = *stream;
  auto damaged = [&](const std::string& why) {
    return Error::Make(ErrorCode::kCorruption, Of(snapshot.stream_id) + " is damaged: " + why +
                                                   " (drop it with: evs snapshots drop STREAM)");
  };
  auto version = NumberAttribute(item, kVersion);
  auto schema_version = NumberAttribute(item, kSchemaVersion);
  auto taken_at = NumberAttribute(item, kTakenAt);
  for (const auto* number : {&version, &schema_version, &taken_at}) {
    if (!number->ok()) return damaged(number->error().message);
  }
  if (*version < 1) return damaged("version " + std::to_string(*version));
  if (*schema_version < std::numeric_limits<int>::min() ||
      *schema_version > std::numeric_limits<int>::max()) {
    return damaged("schema version " + std::to_string(*schema_version));
  }
  const std::string* id_text = StringAttribute(item, kLastEventId);
  std::optional<Uuid> id = id_text != nullptr ? Uuid::Parse(*id_text) : std::nullopt;
  if (!id) return damaged("LastEventId is missing or not a UUID");
  const std::string* state = StringAttribute(item, kState);
  if (state == nullptr) return damaged("State is missing or not a string");
  snapshot.version = *version;
  snapshot.last_event_id = *id;
  snapshot.schema_version = static_cast<int>(*schema_version);
  snapshot.state = *state;
  snapshot.taken_at_us = *taken_at;
  return snapshot;
}

class DynamoDbSnapshotStore final : public SnapshotStore {
 public:
  DynamoDbSnapshotStore(std::shared_ptr<AwsClient> client, std::string table,
                        std::shared_ptr<Clock> clock)
      : client_(std::move(client)),
        table_(std::move(table)),
        clock_(clock ? std::move(clock) : SystemClock()) {}

  Result<std::optional<Snapshot>> Load(const std::string& stream_id) override {
    if (stream_id.empty()) return std::optional<Snapshot>();  // DynamoDB refuses empty keys
    auto response = Call("GetItem",
                         {{"TableName", table_},
                          {"Key", {{kStreamIdAttribute, S(stream_id)}}},
                          {"ConsistentRead", true}},
                         "load " + Of(stream_id));
    if (!response.ok()) return response.error();
    auto item = response->find("Item");
    if (item == response->end() || item->empty()) return std::optional<Snapshot>();
    auto snapshot = DecodeSnapshotItem(*item);
    if (!snapshot.ok()) return snapshot.error();
    return std::optional<Snapshot>(std::move(snapshot).value());
  }

  Status Save(const Snapshot& snapshot) override {
    if (Status s = snapshot::ValidateSnapshot(snapshot); !s.ok()) return s;
    nlohmann::json item = {{kStreamIdAttribute, S(snapshot.stream_id)},
                           {kVersion, N(snapshot.version)},
                           {kLastEventId, S(snapshot.last_event_id.ToString())},
                           {kSchemaVersion, N(snapshot.schema_version)},
                           {kState, S(snapshot.state)},
                           {kTakenAt, N(clock_->NowMicros())}};
    // Written unless the kept snapshot is of a higher version.
    auto response =
        Call("PutItem",
             {{"TableName", table_},
              {"Item", std::move(item)},
              {"ConditionExpression", "attribute_not_exists(#k) OR #v <= :v"},
              {"ExpressionAttributeNames", {{"#k", kStreamIdAttribute}, {"#v", kVersion}}},
              {"ExpressionAttributeValues", {{":v", N(snapshot.version)}}}},
             "save " + Of(snapshot.stream_id));
    if (!response.ok() && AwsErrorType(response.error()) != "ConditionalCheckFailedException") {
      return response.error();
    }
    return OkStatus();
  }

  // One scan of the table, keeping the first `limit` items in stream id order (DynamoDB scans
  // in no useful order); only those are decoded.
  Result<std::vector<Snapshot>> List(const std::string& prefix, const std::string& after_stream,
                                     size_t limit) override {
    std::vector<Snapshot> out;
    if (limit == 0) return out;
    std::map<std::string, nlohmann::json> first;
    std::string filter;
    nlohmann::json values = nlohmann::json::object();
    // Expressions refuse empty strings: an empty prefix or start is left out.
    if (!prefix.empty()) {
      filter = "begins_with(#k, :p)";
      values[":p"] = S(prefix);
    }
    if (!after_stream.empty()) {
      filter += filter.empty() ? "#k > :a" : " AND #k > :a";
      values[":a"] = S(after_stream);
    }
    auto scanned =
        Scan(filter, values, /*keys_only=*/false, "list snapshots", [&](nlohmann::json& item) {
          const std::string* stream = StringAttribute(item, kStreamIdAttribute);
          if (stream == nullptr || !stream->starts_with(prefix) || *stream <= after_stream) {
            return OkStatus();
          }
          if (first.size() == limit && *stream > first.rbegin()->first) return OkStatus();
          first.emplace(*stream, std::move(item));
          if (first.size() > limit) first.erase(std::prev(first.end()));
          return OkStatus();
        });
    if (!scanned.ok()) return scanned.error();
    for (const auto& [stream, item] : first) {
      auto snapshot = DecodeSnapshotItem(item);
      if (!snapshot.ok()) return snapshot.error();
      out.push_back(std::move(snapshot).value());
    }
    return out;
  }

  Result<int64_t> Drop(const std::string& stream_id) override {
    if (!stream_id.empty()) return DeleteItem(stream_id);
    int64_t dropped = 0;
    Status scanned = Scan("", nlohmann::json::object(), /*keys_only=*/true, "drop every snapshot",
                          [&](nlohmann::json& item) -> Status {
                            const std::string* stream = StringAttribute(item, kStreamIdAttribute);
                            if (stream == nullptr) return OkStatus();
                            auto deleted = DeleteItem(*stream);
                            if (!deleted.ok()) return deleted.error();
                            dropped += *deleted;
                            return OkStatus();
                          });
    if (!scanned.ok()) return scanned.error();
    return dropped;
  }

 private:
  // 1 when the item was there, 0 when it was not.
  Result<int64_t> DeleteItem(const std::string& stream_id) {
    auto response = Call("DeleteItem",
                         {{"TableName", table_},
                          {"Key", {{kStreamIdAttribute, S(stream_id)}}},
                          {"ReturnValues", "ALL_OLD"}},
                         "drop " + Of(stream_id));
    if (!response.ok()) return response.error();
    auto old = response->find("Attributes");
    return int64_t{old != response->end() && !old->empty()};
  }

  // Hands each item of a consistent scan (filtered by `filter` with `values`, "" for none; with
  // `keys_only`, only StreamId) to `each`, page by page, until the end or an error.
  template <class Each>
  Status Scan(const std::string& filter, const nlohmann::json& values, bool keys_only,
              const std::string& context, Each each) {
    nlohmann::json start;
    for (int pages = 0;; ++pages) {
      if (pages == kMaxPages) {
        const std::string why =
            ": DynamoDB kept returning more pages after " + std::to_string(kMaxPages) + "; stopped";
        return Error::Make(ErrorCode::kIOError, context + why);
      }
      nlohmann::json body = {{"TableName", table_}, {"ConsistentRead", true}};
      nlohmann::json names = nlohmann::json::object();
      if (!filter.empty()) {
        body["FilterExpression"] = filter;
        body["ExpressionAttributeValues"] = values;
        names["#k"] = kStreamIdAttribute;
      }
      if (keys_only) {
        body["ProjectionExpression"] = "#k";
        names["#k"] = kStreamIdAttribute;
      }
      if (!names.empty()) body["ExpressionAttributeNames"] = std::move(names);
      if (!start.is_null()) body["ExclusiveStartKey"] = std::move(start);
      auto response = Call("Scan", body, context);
      if (!response.ok()) return response.error();
      auto items = response->find("Items");
      if (items != response->end() && items->is_array()) {
        for (nlohmann::json& item : *items) {
          if (Status s = each(item); !s.ok()) return s;
        }
      }
      auto next = response->find("LastEvaluatedKey");
      if (next == response->end() || next->empty()) return OkStatus();
      start = std::move(*next);
    }
  }

  // A DynamoDB call; errors get `context` in front. A missing table is kUnavailable: the
  // store cannot work at all (it was there when the store was opened).
  Result<nlohmann::json> Call(std::string_view operation, const nlohmann::json& body,
                              const std::string& context) {
    auto response = client_->CallJson(Service::kDynamoDb, operation, body);
    if (response.ok()) return response;
    Error error = std::move(response.error());
    error.message = context + ": " + error.message;
    if (error.code == ErrorCode::kNotFound) {
      error.code = ErrorCode::kUnavailable;
      error.message += " (the snapshot table '" + table_ + "' is gone)";
    }
    return error;
  }

  const std::shared_ptr<AwsClient> client_;
  const std::string table_;
  const std::shared_ptr<Clock> clock_;
};

}  // namespace

std::string SnapshotTableFor(const std::string& table) { return table + "-snapshots"; }

Result<std::unique_ptr<SnapshotStore>> NewDynamoDbSnapshotStore(std::shared_ptr<AwsClient> client,
                                                                const DynamoDbStoreOptions& options,
                                                                std::shared_ptr<Clock> clock) {
  if (options.table.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the DynamoDB table name is empty");
  }
  const std::string table = SnapshotTableFor(options.table);
  if (table.size() > kMaxTableName) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the snapshot table's name '" + table + "' is over " +
                           std::to_string(kMaxTableName) +
                           " characters: use an events table of a shorter name");
  }
  // No DynamoDB stream: snapshots are not changes to relay.
  Status ready = options.create_table_if_missing
                     ? CreateTable(*client, table, TableKeys::kStreamOnly, /*with_stream=*/false)
                     : WaitForTable(*client, table, TableKeys::kStreamOnly,
                                    "create it with `evs aws init --table " + options.table +
                                        " --snapshots` (or open with create_table_if_missing)");
  if (!ready.ok()) return ready.error();
  return std::unique_ptr<SnapshotStore>(
      std::make_unique<DynamoDbSnapshotStore>(std::move(client), table, std::move(clock)));
}

}  // namespace evs::aws

namespace evs {

Result<std::unique_ptr<SnapshotStore>> OpenDynamoDbSnapshotStore(
    const DynamoDbStoreOptions& options) {
  auto client = aws::ClientFromEnvironment();
  if (!client.ok()) return client.error();
  return aws::NewDynamoDbSnapshotStore(std::move(client).value(), options);
}

}  // namespace evs
