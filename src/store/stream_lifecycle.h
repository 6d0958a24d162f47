// What a stream's lifecycle (metadata, deletes) hides from reads, decided the same way by every
// backend, and the JSON form of metadata that HTTP and the CLI show and take.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "evs/event_store.h"
#include "evs/status.h"
#include "store/commit_planner.h"

namespace evs::store {

// The first version reads return by the head's soft delete, truncate_before and max_count
// (1 when nothing hides any); past the head's version when everything is hidden.
int64_t FirstVisibleVersion(const StreamHead& head);

// Events recorded before this time (microseconds since the epoch) are hidden by max_age;
// INT64_MIN when the stream has no max_age.
int64_t AgeCutoffMicros(const StreamHead& head, int64_t now_us);

// True when reads of the stream are answered as not found or deleted: the error to return.
std::optional<Error> UnreadableStream(std::string_view stream_id, const StreamHead& head);

// The lifecycle GetStreamLifecycle() answers for a head (kNotFound when the stream has neither
// events nor metadata nor a tombstone).
Result<StreamLifecycle> LifecycleOf(std::string_view stream_id, const StreamHead& head);

// {"max_count": n, "max_age_seconds": n, "truncate_before": n, "custom": {...}}; unset fields are
// left out.
nlohmann::json MetadataToJson(const StreamMetadata& metadata);
// The reverse, for bodies and command lines: kInvalidArgument naming what is wrong (unknown
// fields, wrong types, bounds below 1, custom that is not an object). Not yet validated for
// size: SetStreamMetadata does that.
Result<StreamMetadata> MetadataFromJson(const nlohmann::json& json);
// The lifecycle as HTTP and `evs stream meta --json` show it.
nlohmann::json LifecycleToJson(std::string_view stream_id, const StreamLifecycle& lifecycle);

// A scavenged event: the marker kScavengedEventType leaves at its position.
bool IsScavenged(const RecordedEvent& event);

}  // namespace evs::store
