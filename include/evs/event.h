// Events: what a caller appends and what a reader gets back.
#pragma once

#include <cstdint>
#include <string>

#include "evs/uuid.h"

namespace evs {

// An event to append. `data` and `metadata` hold JSON text and must be valid JSON; an empty
// `metadata` is stored as "{}". A nil `id` is replaced by a random UUID at append time; callers
// that want idempotent retries set it themselves and resend the same ids.
struct EventData {
  Uuid id;
  std::string type;
  std::string data = "{}";
  std::string metadata = "{}";
};

// An event as committed. Versions are 1-based and dense within a stream. Positions are the
// global commit order of the embedded log: strictly increasing, never reused (1-based; 0 is
// "before the first event"). Backends without a global log (DynamoDB) report position 0.
struct RecordedEvent {
  std::string stream_id;
  int64_t version = 0;
  int64_t position = 0;
  Uuid id;
  std::string type;
  std::string data;
  std::string metadata;
  int64_t recorded_at_us = 0;  // microseconds since the Unix epoch, UTC, set by the store
};

}  // namespace evs
