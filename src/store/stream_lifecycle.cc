#include "store/stream_lifecycle.h"

#include <algorithm>
#include <climits>

namespace evs {

// Backends that keep no lifecycle.
namespace {
Error Unsupported(const char* what) {
  return Error::Make(ErrorCode::kUnsupported,
                     std::string("this store does not support ") + what +
                         " (see \"Stream lifecycle\" in README.md for what each backend supports)");
}
}  // namespace

Result<StreamLifecycle> EventStore::GetStreamLifecycle(std::string_view) {
  return Unsupported("stream metadata");
}
Status EventStore::SetStreamMetadata(std::string_view, const StreamMetadata&) {
  return Unsupported("stream metadata");
}
Status EventStore::DeleteStream(std::string_view, DeleteMode, ExpectedVersion) {
  return Unsupported("deleting streams");
}
Result<ScavengeReport> EventStore::Scavenge(const ScavengeOptions&) {
  return Unsupported("scavenging");
}

Status ValidateStreamMetadata(const StreamMetadata& metadata) {
  auto at_least_one = [](const std::optional<int64_t>& value, const char* name) -> Status {
    if (value && *value < 1) {
      return Error::Make(
          ErrorCode::kInvalidArgument,
          std::string(name) + " is " + std::to_string(*value) + "; it must be at least 1 when set");
    }
    return OkStatus();
  };
  if (auto s = at_least_one(metadata.max_count, "max_count"); !s) return s;
  if (auto s = at_least_one(metadata.max_age_seconds, "max_age_seconds"); !s) return s;
  if (auto s = at_least_one(metadata.truncate_before, "truncate_before"); !s) return s;
  // A century in seconds: past it the microsecond arithmetic of ages would overflow.
  constexpr int64_t kMaxAgeSeconds = 100LL * 366 * 24 * 3600;
  if (metadata.max_age_seconds && *metadata.max_age_seconds > kMaxAgeSeconds) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "max_age_seconds is " + std::to_string(*metadata.max_age_seconds) +
                           "; at most " + std::to_string(kMaxAgeSeconds) + " (a century)");
  }
  constexpr size_t kMaxCustomBytes = 64 * 1024;
  if (metadata.custom.size() > kMaxCustomBytes) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       "custom metadata is " + std::to_string(metadata.custom.size()) +
                           " bytes; at most " + std::to_string(kMaxCustomBytes));
  }
  if (!metadata.custom.empty()) {
    auto json = nlohmann::json::parse(metadata.custom, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
      return Error::Make(
          ErrorCode::kInvalidArgument,
          "custom metadata must be a JSON object, not: " + metadata.custom.substr(0, 80));
    }
  }
  return OkStatus();
}

namespace store {

int64_t FirstVisibleVersion(const StreamHead& head) {
  int64_t first = std::max<int64_t>(1, head.deleted_through + 1);
  if (head.metadata) {
    if (head.metadata->truncate_before) first = std::max(first, *head.metadata->truncate_before);
    if (head.metadata->max_count) {
      first = std::max(first, head.version - *head.metadata->max_count + 1);
    }
  }
  return first;
}

int64_t AgeCutoffMicros(const StreamHead& head, int64_t now_us) {
  if (!head.metadata || !head.metadata->max_age_seconds) return INT64_MIN;
  return now_us - *head.metadata->max_age_seconds * 1'000'000;
}

std::optional<Error> UnreadableStream(std::string_view stream_id, const StreamHead& head) {
  if (head.hard_deleted) {
    return Error::Make(ErrorCode::kStreamDeleted,
                       "stream '" + std::string(stream_id) + "' was deleted for good");
  }
  if (head.version == 0 || head.SoftDeleted()) {
    return Error::Make(ErrorCode::kNotFound, "stream '" + std::string(stream_id) + "' not found");
  }
  return std::nullopt;
}

Result<StreamLifecycle> LifecycleOf(std::string_view stream_id, const StreamHead& head) {
  if (head.version == 0 && !head.metadata && !head.hard_deleted) {
    return Error::Make(ErrorCode::kNotFound, "stream '" + std::string(stream_id) + "' not found");
  }
  StreamLifecycle lifecycle;
  if (head.metadata) lifecycle.metadata = *head.metadata;
  lifecycle.version = head.version;
  lifecycle.deleted_through = head.deleted_through;
  lifecycle.hard_deleted = head.hard_deleted;
  return lifecycle;
}

nlohmann::json MetadataToJson(const StreamMetadata& metadata) {
  nlohmann::json json = nlohmann::json::object();
  if (metadata.max_count) json["max_count"] = *metadata.max_count;
  if (metadata.max_age_seconds) json["max_age_seconds"] = *metadata.max_age_seconds;
  if (metadata.truncate_before) json["truncate_before"] = *metadata.truncate_before;
  if (!metadata.custom.empty()) {
    json["custom"] = nlohmann::json::parse(metadata.custom, nullptr, false);
  }
  return json;
}

Result<StreamMetadata> MetadataFromJson(const nlohmann::json& json) {
  if (!json.is_object()) {
    return Error::Make(ErrorCode::kInvalidArgument, "stream metadata must be a JSON object");
  }
  StreamMetadata metadata;
  for (const auto& [key, value] : json.items()) {
    std::optional<int64_t>* bound = key == "max_count"         ? &metadata.max_count
                                    : key == "max_age_seconds" ? &metadata.max_age_seconds
                                    : key == "truncate_before" ? &metadata.truncate_before
                                                               : nullptr;
    if (bound) {
      if (value.is_null()) continue;
      if (!value.is_number_integer()) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "'" + key + "' must be a whole number, not " + value.dump());
      }
      if (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX) {
        return Error::Make(ErrorCode::kInvalidArgument, "'" + key + "' is too large");
      }
      *bound = value.get<int64_t>();
    } else if (key == "custom") {
      if (value.is_null()) continue;
      if (!value.is_object()) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "'custom' must be a JSON object, not " + value.dump());
      }
      metadata.custom = value.dump();
    } else {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "unknown stream metadata field '" + key +
                             "' (known: max_count, max_age_seconds, truncate_before, custom)");
    }
  }
  if (auto s = ValidateStreamMetadata(metadata); !s) return s.error();
  return metadata;
}

nlohmann::json LifecycleToJson(std::string_view stream_id, const StreamLifecycle& lifecycle) {
  nlohmann::json json = nlohmann::json::object();
  json["stream_id"] = stream_id;
  json["version"] = lifecycle.version;
  json["metadata"] = MetadataToJson(lifecycle.metadata);
  json["deleted"] =
      lifecycle.hard_deleted                                                            ? "hard"
      : lifecycle.deleted_through > 0 && lifecycle.deleted_through == lifecycle.version ? "soft"
                                                                                        : "no";
  json["deleted_through"] = lifecycle.deleted_through;
  return json;
}

bool IsScavenged(const RecordedEvent& event) { return event.type == kScavengedEventType; }

}  // namespace store
}  // namespace evs
