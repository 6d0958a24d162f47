#include "aws/dynamodb_items.h"

#include <charconv>
#include <limits>
#include <optional>

namespace evs::aws {
namespace {

// Attribute names of a commit item and of each event in its Events list.
constexpr const char* kLastVersion = "LastVersion";
constexpr const char* kCount = "Count";
constexpr const char* kRecordedAt = "RecordedAt";
constexpr const char* kEvents = "Events";
constexpr const char* kId = "Id";
constexpr const char* kType = "Type";
constexpr const char* kData = "Data";
constexpr const char* kMetadata = "Metadata";

// The value of `item[name]` typed `type` ("S", "N", "L", "M"), or nullptr.
const nlohmann::json* Typed(const nlohmann::json& item, const char* name, const char* type) {
  if (!item.is_object()) return nullptr;
  auto attribute = item.find(name);
  if (attribute == item.end() || !attribute->is_object()) return nullptr;
  auto value = attribute->find(type);
  if (value == attribute->end()) return nullptr;
  return &*value;
}

std::optional<int64_t> ParseInt(const std::string& text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Error Corrupt(const std::string& where, const std::string& what) {
  return Error::Make(ErrorCode::kCorruption,
                     "DynamoDB commit item " + where + ": " + what + "; it was not written by evs");
}

}  // namespace

nlohmann::json CommitItem(std::string_view stream_id, int64_t first_version, int64_t recorded_at_us,
                          const std::vector<EventData>& events) {
  nlohmann::json list = nlohmann::json::array();
  char id[36];
  for (const EventData& e : events) {
    e.id.FormatTo(id);
    list.push_back({{"M",
                     {{kId, S(std::string_view(id, sizeof(id)))},
                      {kType, S(e.type)},
                      {kData, S(e.data)},
                      {kMetadata, S(e.metadata)}}}});
  }
  const auto count = static_cast<int64_t>(events.size());
  return {{kStreamIdAttribute, S(stream_id)},
          {kVersionAttribute, N(first_version)},
          {kLastVersion, N(first_version + count - 1)},
          {kCount, N(count)},
          {kRecordedAt, N(recorded_at_us)},
          {kEvents, {{"L", std::move(list)}}}};
}

size_t EstimateCommitItemBytes(std::string_view stream_id, const std::vector<EventData>& events) {
  // DynamoDB counts attribute names and values; a number takes at most 21 bytes, a list or map
  // 3 bytes plus 1 per element. The fixed part (six names, four numbers, the list) is under
  // 200 bytes; each event adds its map (3 + 4), its list element (1), its names (18) and its id
  // (36) to its own strings: 62, rounded up.
  constexpr size_t kFixed = 256;
  constexpr size_t kPerEvent = 64;
  size_t bytes = kFixed + stream_id.size();
  for (const EventData& e : events) {
    bytes += kPerEvent + e.type.size() + e.data.size() + e.metadata.size();
  }
  return bytes;
}

const std::string* StringAttribute(const nlohmann::json& item, const char* name) {
  const nlohmann::json* value = Typed(item, name, "S");
  return value != nullptr && value->is_string() ? value->get_ptr<const std::string*>() : nullptr;
}

Result<int64_t> NumberAttribute(const nlohmann::json& item, const char* name) {
  const nlohmann::json* value = Typed(item, name, "N");
  std::optional<int64_t> number;
  if (value != nullptr && value->is_string()) number = ParseInt(value->get<std::string>());
  if (!number) {
    return Error::Make(ErrorCode::kCorruption, std::string("DynamoDB item: attribute ") + name +
                                                   " is missing or not an integer number");
  }
  return *number;
}

Result<Commit> DecodeCommitItem(const nlohmann::json& item) {
  Commit commit;
  const std::string* stream = StringAttribute(item, kStreamIdAttribute);
  if (stream == nullptr) return Corrupt("(no stream id)", "StreamId is missing or not a string");
  commit.stream_id = *stream;
  std::string where = "of stream '" + commit.stream_id + "'";
  auto first = NumberAttribute(item, kVersionAttribute);
  if (!first.ok()) return Corrupt(where, first.error().message);
  commit.first_version = *first;
  where += " at version " + std::to_string(commit.first_version);
  auto last = NumberAttribute(item, kLastVersion);
  auto count = NumberAttribute(item, kCount);
  auto recorded = NumberAttribute(item, kRecordedAt);
  for (const auto* number : {&last, &count, &recorded}) {
    if (!number->ok()) return Corrupt(where, number->error().message);
  }
  commit.last_version = *last;
  commit.recorded_at_us = *recorded;
  const nlohmann::json* list = Typed(item, kEvents, "L");
  if (list == nullptr || !list->is_array())
    return Corrupt(where, "Events is missing or not a list");
  // Versions run first_version ... first_version + count - 1, and stay below INT64_MAX.
  if (commit.first_version < 1 || *count < 1 || static_cast<size_t>(*count) != list->size() ||
      *count > std::numeric_limits<int64_t>::max() - commit.first_version ||
      commit.last_version != commit.first_version + *count - 1) {
    return Corrupt(where, "Version, LastVersion, Count and Events disagree (last version " +
                              std::to_string(commit.last_version) + ", count " +
                              std::to_string(*count) + ", " + std::to_string(list->size()) +
                              " events)");
  }
  commit.events.reserve(list->size());
  int64_t version = commit.first_version;
  for (const nlohmann::json& element : *list) {
    const std::string at = where + ", event " + std::to_string(version);
    const nlohmann::json* map =
        element.is_object() && element.contains("M") ? &element["M"] : nullptr;
    if (map == nullptr || !map->is_object()) return Corrupt(at, "the event is not a map");
    const std::string* id = StringAttribute(*map, kId);
    const std::string* type = StringAttribute(*map, kType);
    const std::string* data = StringAttribute(*map, kData);
    const std::string* metadata = StringAttribute(*map, kMetadata);
    if (id == nullptr || type == nullptr || data == nullptr || metadata == nullptr) {
      return Corrupt(at, "Id, Type, Data and Metadata must all be strings");
    }
    auto uuid = Uuid::Parse(*id);
    if (!uuid) return Corrupt(at, "Id \"" + *id + "\" is not a UUID");
    RecordedEvent& e = commit.events.emplace_back();
    e.stream_id = commit.stream_id;
    e.version = version++;
    e.id = *uuid;
    e.type = *type;
    e.data = *data;
    e.metadata = *metadata;
    e.recorded_at_us = commit.recorded_at_us;
  }
  return commit;
}

Result<std::vector<RecordedEvent>> EventsFromCommitItem(const nlohmann::json& item) {
  auto commit = DecodeCommitItem(item);
  if (!commit.ok()) return commit.error();
  return std::move(commit->events);
}

}  // namespace evs::aws
