#include "store/append_validation.h"

#include <simdjson.h>

#include <unordered_set>

#include "evs/text.h"

namespace evs {

bool IsValidUtf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

bool IsValidJson(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element element;
  return parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(element) ==
         simdjson::SUCCESS;
}

}  // namespace evs

namespace evs::store {

Status ValidateName(std::string_view what, std::string_view name, size_t max_bytes) {
  if (name.empty())
    return Error::Make(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  if (name.size() > max_bytes) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       std::string(what) + " is " + std::to_string(name.size()) +
                           " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (!IsValidUtf8(name)) {
    return Error::Make(ErrorCode::kInvalidArgument, std::string(what) + " is not valid UTF-8");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         std::string(what) + " contains a control character");
    }
  }
  return OkStatus();
}

Status ValidateAppend(const Limits& limits, std::string_view stream_id,
                      const ExpectedVersion& expected, std::vector<EventData>& events) {
  if (auto s = ValidateName("stream id", stream_id, limits.max_stream_id_bytes); !s) return s;
  if (expected.kind() == ExpectedVersion::Kind::kExact &&
      (expected.version() < 0 || expected.version() > kMaxVersion)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "expected version " + std::to_string(expected.version()) +
                           " is out of range (0 to " + std::to_string(kMaxVersion) + ")");
  }
  if (events.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "an append needs at least one event");
  }
  if (events.size() > limits.max_events_per_append) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       "append has " + std::to_string(events.size()) + " events; the limit is " +
                           std::to_string(limits.max_events_per_append) + " per append");
  }
  std::unordered_set<Uuid, UuidHash> ids;
  if (events.size() > 1) ids.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EventData& e = events[i];
    const std::string where = "event " + std::to_string(i) + ": ";
    if (auto s = ValidateName(where + "type", e.type, limits.max_type_bytes); !s) return s;
    if (e.type == kScavengedEventType) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         where + "the type '" + e.type +
                             "' is reserved: it marks a scavenged event's position in the log");
    }
    if (e.metadata.empty()) e.metadata = "{}";
    size_t bytes = e.type.size() + e.data.size() + e.metadata.size();
    if (bytes > limits.max_event_bytes) {
      return Error::Make(ErrorCode::kLimitExceeded,
                         where + "is " + std::to_string(bytes) + " bytes; the limit is " +
                             std::to_string(limits.max_event_bytes) + " per event");
    }
    if (!IsValidJson(e.data)) {
      return Error::Make(ErrorCode::kInvalidArgument, where + "data is not valid JSON");
    }
    if (!IsValidJson(e.metadata)) {
      return Error::Make(ErrorCode::kInvalidArgument, where + "metadata is not valid JSON");
    }
    if (e.id.IsNil()) e.id = Uuid::Random();
    if (events.size() > 1 && !ids.insert(e.id).second) {
      return Error::Make(ErrorCode::kDuplicateEventId,
                         where + "id " + e.id.ToString() + " appears twice in one append");
    }
  }
  return OkStatus();
}

}  // namespace evs::store
