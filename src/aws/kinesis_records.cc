#include "aws/kinesis_records.h"

#include <openssl/evp.h>

#include <array>
#include <climits>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace evs::aws {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

// OpenSSL's EVP_EncodeBlock and EVP_DecodeBlock do the work. DecodeBlock is lenient (it skips
// surrounding white space and decodes padding as zero bytes), so the text is checked first: a
// multiple of 4 long, only the alphabet, '=' only as one or two final characters.
std::string Base64Encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Error::Make(
        ErrorCode::kInvalidArgument,
        "base64: the length " + std::to_string(text.size()) + " is not a multiple of 4");
  }
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return Error::Make(ErrorCode::kInvalidArgument, "base64: the text is over 2 GiB");
  }
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const size_t bad = text.substr(0, text.size() - pad).find_first_not_of(kAlphabet);
  if (bad != std::string_view::npos) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "base64: unexpected character at offset " + std::to_string(bad));
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) {
    return Error::Make(ErrorCode::kInvalidArgument, "base64: the text does not decode");
  }
  out.resize(out.size() - pad);
  return out;
}

Result<std::string> EncodeCommitRecord(std::span<const RecordedEvent> events) {
  if (events.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a commit record needs at least one event");
  }
  nlohmann::json record = {{"stream_id", events[0].stream_id},
                           {"first_version", events[0].version},
                           {"events", nlohmann::json::array()}};
  nlohmann::json& list = record["events"];
  for (size_t i = 0; i < events.size(); ++i) {
    const RecordedEvent& e = events[i];
    if (e.stream_id != events[0].stream_id || e.version != events[0].version + int64_t(i)) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "a commit record holds consecutive versions of one stream; got " +
                             e.stream_id + "@" + std::to_string(e.version) + " after " +
                             events[0].stream_id + "@" + std::to_string(events[0].version));
    }
    list.push_back({{"version", e.version},
                    {"id", e.id.ToString()},
                    {"type", e.type},
                    {"data", e.data},
                    {"metadata", e.metadata},
                    {"recorded_at_us", e.recorded_at_us}});
  }
  try {
    return record.dump();  // strict: invalid UTF-8 throws rather than being sent garbled
  } catch (const nlohmann::json::exception& e) {
    return Error::Make(ErrorCode::kInvalidArgument, "the commit of " + events[0].stream_id + "@" +
                                                        std::to_string(events[0].version) +
                                                        " is not valid UTF-8: " + e.what());
  }
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
