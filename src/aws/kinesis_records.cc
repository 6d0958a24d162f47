#include "aws/kinesis_records.h"

#include <array>
#include <climits>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace evs::aws {
namespace {

Error Corrupt(const std::string& what) {
  return Error::Make(ErrorCode::kCorruption, "not an evs commit record: " + what);
}

// The integer at `key`, when it is one.
bool GetInt(const nlohmann::json& object, const char* key, int64_t& out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

bool GetString(const nlohmann::json& object, const char* key, std::string& out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

Result<std::string> EncodeRecordEntry(const RecordedEvent& e, bool with_position) {
  nlohmann::json entry = {{"version", e.version},   {"id", e.id.ToString()},
                          {"type", e.type},         {"data", e.data},
                          {"metadata", e.metadata}, {"recorded_at_us", e.recorded_at_us}};
  if (with_position && e.position > 0) entry["position"] = e.position;
  try {
    return entry.dump();  // strict: invalid UTF-8 throws rather than being sent garbled
  } catch (const nlohmann::json::exception& error) {
    return Error::Make(ErrorCode::kInvalidArgument, "the event " + e.stream_id + "@" +
                                                        std::to_string(e.version) +
                                                        " is not valid UTF-8: " + error.what());
  }
}

namespace {

// The record's text before and after its entries; keys in the order nlohmann::json sorts them.
Result<std::pair<std::string, std::string>> RecordFrame(const std::string& stream_id,
                                                        int64_t first_version, bool replay) {
  std::string id;
  try {
    id = nlohmann::json(stream_id).dump();
  } catch (const nlohmann::json::exception& e) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the stream id " + stream_id + " is not valid UTF-8: " + e.what());
  }
  std::string tail = "],\"first_version\":" + std::to_string(first_version);
  if (replay) tail += ",\"replay\":true";
  tail += ",\"stream_id\":" + id + "}";
  return std::pair<std::string, std::string>("{\"events\":[", std::move(tail));
}

Result<std::string> EncodeRecord(std::span<const RecordedEvent> events, bool replay) {
  if (events.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a commit record needs at least one event");
  }
  std::vector<std::string> entries;
  entries.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const RecordedEvent& e = events[i];
    if (e.stream_id != events[0].stream_id || e.version != events[0].version + int64_t(i)) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "a commit record holds consecutive versions of one stream; got " +
                             e.stream_id + "@" + std::to_string(e.version) + " after " +
                             events[0].stream_id + "@" + std::to_string(events[0].version));
    }
    auto entry = EncodeRecordEntry(e, replay);
    if (!entry.ok()) {
      return Error::Make(ErrorCode::kInvalidArgument, "the commit of " + events[0].stream_id + "@" +
                                                          std::to_string(events[0].version) + ": " +
                                                          entry.error().message);
    }
    entries.push_back(std::move(entry).value());
  }
  auto frame = RecordFrame(events[0].stream_id, events[0].version, replay);
  if (!frame.ok()) return frame.error();
  return AssembleRecord(events[0].stream_id, events[0].version, replay, entries);
}

}  // namespace

Result<size_t> RecordOverheadBytes(const std::string& stream_id, int64_t first_version,
                                   bool replay) {
  auto frame = RecordFrame(stream_id, first_version, replay);
  if (!frame.ok()) return frame.error();
  return frame->first.size() + frame->second.size();
}

std::string AssembleRecord(const std::string& stream_id, int64_t first_version, bool replay,
                           std::span<const std::string> entries) {
  auto frame = RecordFrame(stream_id, first_version, replay);
  if (!frame.ok()) return "";  // the callers checked the stream id (RecordOverheadBytes)
  size_t size = frame->first.size() + frame->second.size() + entries.size();
  for (const std::string& entry : entries) size += entry.size();
  std::string out;
  out.reserve(size);
  out += frame->first;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    out += entries[i];
  }
  out += frame->second;
  return out;
}

Result<std::string> EncodeCommitRecord(std::span<const RecordedEvent> events) {
  return EncodeRecord(events, /*replay=*/false);
}

Result<std::string> EncodeReplayRecord(std::span<const RecordedEvent> events) {
  return EncodeRecord(events, /*replay=*/true);
}

Result<std::vector<RecordedEvent>> DecodeCommitRecord(std::string_view data) {
  nlohmann::json record = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded() || !record.is_object()) return Corrupt("the data is not a JSON object");
  std::string stream_id;
  int64_t first_version = 0;
  if (!GetString(record, "stream_id", stream_id) || stream_id.empty()) {
    return Corrupt("no stream_id");
  }
  if (!GetInt(record, "first_version", first_version) || first_version < 1) {
    return Corrupt("no first_version >= 1 (stream " + stream_id + ")");
  }
  auto list = record.find("events");
  if (list == record.end() || !list->is_array() || list->empty()) {
    return Corrupt("no events (stream " + stream_id + ")");
  }
  if (list->size() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() - first_version)) {
    return Corrupt("versions from first_version " + std::to_string(first_version) +
                   " run past the largest version (stream " + stream_id + ")");
  }
  std::vector<RecordedEvent> events;
  events.reserve(list->size());
  for (const nlohmann::json& item : *list) {
    std::string where = stream_id + "@" + std::to_string(first_version + int64_t(events.size()));
    if (!item.is_object()) return Corrupt("an event is not an object (" + where + ")");
    RecordedEvent e;
    e.stream_id = stream_id;
    std::string id;
    if (!GetInt(item, "version", e.version) || !GetString(item, "id", id) ||
        !GetString(item, "type", e.type) || !GetString(item, "data", e.data) ||
        !GetString(item, "metadata", e.metadata) ||
        !GetInt(item, "recorded_at_us", e.recorded_at_us)) {
      return Corrupt("an event lacks version, id, type, data, metadata or recorded_at_us (" +
                     where + ")");
    }
    if (auto position = item.find("position"); position != item.end()) {
      if (!position->is_number_integer() || position->get<int64_t>() < 1) {
        return Corrupt("a position that is not a number >= 1 (" + where + ")");
      }
      e.position = position->get<int64_t>();
    }
    if (e.version != first_version + int64_t(events.size())) {
      return Corrupt("version " + std::to_string(e.version) + " where " + where + " belongs");
    }
    auto uuid = Uuid::Parse(id);
    if (!uuid) return Corrupt("the id \"" + id + "\" is not a UUID (" + where + ")");
    e.id = *uuid;
    events.push_back(std::move(e));
  }
  return events;
}

}  // namespace evs::aws
