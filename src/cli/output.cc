#include "cli/output.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <utility>

#include "common/event_json.h"

namespace evs::cli {

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

Status JsonLinesHandler::Handle(std::span<const RecordedEvent> batch) {
  std::string lines;
  for (const RecordedEvent& e : batch) {
    lines += DumpJson(EventToJson(e));
    lines += '\n';
  }
  if (std::fwrite(lines.data(), 1, lines.size(), stdout) != lines.size() ||
      (flush_ && std::fflush(stdout) != 0)) {
    return Error::Make(ErrorCode::kIOError, "cannot write events to stdout");
  }
  return OkStatus();
}

void PrintJson(const nlohmann::json& value) { std::cout << DumpJson(value) << '\n'; }

int ReportError(const GlobalOptions& global, const Error& error) {
  const bool conflict = error.code == ErrorCode::kWrongExpectedVersion;
  if (global.json) {
    nlohmann::json body = {{"code", ErrorCodeName(error.code)}, {"message", error.message}};
    if (error.conflict) {
      body["expected"] = error.conflict->expected;
      body["actual"] = error.conflict->actual;
    }
    std::cerr << DumpJson({{"error", std::move(body)}}) << '\n';
  } else {
    std::cerr << "evs: error: " << error.message << '\n';
    if (error.conflict) {
      const std::string& expected = error.conflict->expected;
      const bool is_number =
          !expected.empty() && std::all_of(expected.begin(), expected.end(),
                                           [](char c) { return c >= '0' && c <= '9'; });
      std::cerr << "evs: version conflict: expected " << (is_number ? "version " : "") << expected
                << ", actual version " << error.conflict->actual << '\n';
    }
  }
  return conflict ? kExitConflict : kExitError;
}

int ReportInvalid(const GlobalOptions& global, std::string message) {
  return ReportError(global, Error::Make(ErrorCode::kInvalidArgument, std::move(message)));
}

std::string FormatCents(int64_t cents) {
  const bool negative = cents < 0;
  // Works on the magnitude as unsigned, so that INT64_MIN does not overflow.
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(cents) : static_cast<uint64_t>(cents);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%s%" PRIu64 ".%02" PRIu64, negative ? "-" : "",
                magnitude / 100, magnitude % 100);
  return buffer;
}

std::string EventLine(const RecordedEvent& event, bool with_stream) {
  std::string line;
  if (with_stream) line += "stream=" + event.stream_id + " ";
  line += "version=" + std::to_string(event.version);
  line += " position=" + std::to_string(event.position);
  line += " type=" + event.type;
  line += " time=" + FormatTimestamp(event.recorded_at_us);
  // Re-encoded compactly, so that stored pretty-printed JSON still fits on one line.
  line += " data=" + DumpJson(ParseStoredJson(event.data));
  return line;
}

ListPrinter::ListPrinter(bool json, std::string empty_note)
    : json_(json), empty_note_(std::move(empty_note)) {}

void ListPrinter::AddJson(const nlohmann::json& item) {
  std::cout << (count_ == 0 ? "[\n" : ",\n") << DumpJson(item);
  ++count_;
}

void ListPrinter::AddLine(const std::string& line) {
  std::cout << line << '\n';
  ++count_;
}

void ListPrinter::Finish() {
  if (json_) {
    std::cout << (count_ == 0 ? "[]\n" : "\n]\n");
  } else if (count_ == 0 && !empty_note_.empty()) {
    std::cout << empty_note_ << '\n';
  }
}

}  // namespace evs::cli
