#include "common/event_json.h"

#include <charconv>
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

std::optional<int64_t> ParseTimestamp(std::string_view text) {
  auto digits = [&](size_t at, size_t count, int& out) {
    if (at + count > text.size()) return false;
    out = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t micros = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), micros);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return micros;
  }
  struct tm utc {};
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || text.size() < 19 || text[4] != '-' || !digits(5, 2, month) ||
      text[7] != '-' || !digits(8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, hour) ||
      text[13] != ':' || !digits(14, 2, minute) || text[16] != ':' || !digits(17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t at = 19;
  int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int places = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (places < 6) micros = micros * 10 + (text[at] - '0');
      ++places;
      ++at;
    }
    if (places == 0) return std::nullopt;
    for (; places < 6; ++places) micros *= 10;
  }
  int64_t offset_seconds = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int oh, om;
    if (!digits(at + 1, 2, oh) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !digits(at + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_seconds = (text[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return std::nullopt;  // a time without a zone is ambiguous
  }
  if (at != text.size()) return std::nullopt;
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  const time_t seconds = timegm(&utc);
  return (static_cast<int64_t>(seconds) - offset_seconds) * 1'000'000 + micros;
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
