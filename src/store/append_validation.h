// Checks an append's input against the contract's limits before it reaches a writer, so that a
// bad append fails alone, up front, with an error that names what was wrong.
#pragma once

#include <string_view>
#include <vector>

#include "evs/event_store.h"

namespace evs::store {

// The largest exact version an append may expect.
inline constexpr int64_t kMaxVersion = int64_t{1} << 62;

// Validates `stream_id`, `expected` and `events` in place: gives nil event ids a random UUID
// and replaces an empty metadata with "{}". Errors are kInvalidArgument, kLimitExceeded or
// kDuplicateEventId (the same id twice in one append).
Status ValidateAppend(const Limits& limits, std::string_view stream_id,
                      const ExpectedVersion& expected, std::vector<EventData>& events);

// Checks a name (stream id, type) is non-empty, valid UTF-8 and at most `max_bytes`.
Status ValidateName(std::string_view what, std::string_view name, size_t max_bytes);

}  // namespace evs::store
