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
  Uuid id;                      // identifies the event for idempotent retries; nil: random
  std::string type;             // the type name: non-empty UTF-8, at most Limits::max_type_bytes
  std::string data = "{}";      // the payload: JSON text, stored byte for byte
  std::string metadata = "{}";  // JSON text; kSchemaVersionKey is evs's, the rest yours
};

// An event as committed. Versions are 1-based and dense within a stream. Positions are the
// global commit order of the embedded log: strictly increasing, never reused (1-based; 0 is
// "before the first event"). Backends without a global log (DynamoDB) report position 0.
struct RecordedEvent {
  std::string stream_id;       // the stream it belongs to
  int64_t version = 0;         // its version in the stream (1: the stream's first event)
  int64_t position = 0;        // its place in the global log (0 where there is no global log)
  Uuid id;                     // as appended (or assigned, when appended nil)
  std::string type;            // as appended; kScavengedEventType once scavenged
  std::string data;            // JSON text, the bytes appended ("{}" once scavenged)
  std::string metadata;        // JSON text as appended ("{}" if empty, or once scavenged)
  int64_t recorded_at_us = 0;  // microseconds since the Unix epoch, UTC, set by the store
};

}  // namespace evs
