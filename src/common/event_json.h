// The JSON shape of a recorded event, shared by the CLI and the HTTP server:
//
//   {"stream_id": "cart-…", "version": 1, "position": 7, "id": "<uuid>", "type": "ItemAdded",
//    "data": {…}, "metadata": {…}, "recorded_at": "2024-05-01T10:00:00.123456Z"}
//
// `data` and `metadata` are embedded as JSON values, not as strings.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "evs/event.h"

namespace evs {

// ISO-8601 in UTC with microseconds, e.g. "2024-05-01T10:00:00.123456Z", for a time given in
// microseconds since the Unix epoch (times before the epoch are fine).
std::string FormatTimestamp(int64_t micros_since_epoch);

// The time `text` names, in microseconds since the Unix epoch: an ISO-8601 / RFC 3339 time
// ("2024-05-01T10:00:00Z", with optional fractional seconds up to microseconds, 'Z' or an offset
// like "+02:00"; a space may stand for the 'T'), or a plain integer of microseconds. Nothing when
// it is neither.
std::optional<int64_t> ParseTimestamp(std::string_view text);

// `text` parsed as JSON. Stores only hold valid JSON; should a value not parse anyway, it is
// returned as a JSON string holding the raw text, so that nothing is hidden from the reader.
nlohmann::json ParseStoredJson(std::string_view text);

// The event in the shape above. Never throws.
nlohmann::json EventToJson(const RecordedEvent& event);

}  // namespace evs
