#include "common/event_json.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace evs {

std::string FormatTimestamp(int64_t micros_since_epoch) {
  constexpr int64_t kMicrosPerSecond = 1'000'000;
  // Floor division, so that times before the epoch get a positive fraction.
  int64_t seconds = micros_since_epoch / kMicrosPerSecond;
  int64_t micros = micros_since_epoch % kMicrosPerSecond;
  if (micros < 0) {
    micros += kMicrosPerSecond;
    seconds -= 1;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm utc {};
  if (gmtime_r(&t, &utc) == nullptr) return std::to_string(micros_since_epoch) + "us";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, micros);
  return buffer;
}

nlohmann::json ParseStoredJson(std::string_view text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::string(text);
  return value;
}

nlohmann::json EventToJson(const RecordedEvent& event) {
  return {{"stream_id", event.stream_id},
          {"version", event.version},
          {"position", event.position},
          {"id", event.id.ToString()},
          {"type", event.type},
          {"data", ParseStoredJson(event.data)},
          {"metadata", ParseStoredJson(event.metadata)},
          {"recorded_at", FormatTimestamp(event.recorded_at_us)}};
}

}  // namespace evs
