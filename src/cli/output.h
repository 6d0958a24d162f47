// How commands print: results on stdout (human text, or one JSON document with --json), errors
// on stderr, and the exit code that goes with each error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/context.h"
#include "evs/event.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs::cli {

// Prints `value` as one line of JSON on stdout. Invalid UTF-8 is replaced, never thrown.
void PrintJson(const nlohmann::json& value);
// `value` as compact JSON text; invalid UTF-8 is replaced, never thrown.
std::string DumpJson(const nlohmann::json& value);

// Prints `error` on stderr ("evs: error: ...", or {"error": {...}} with --json) and returns the
// exit code for it: kExitConflict for kWrongExpectedVersion, kExitError for everything else.
int ReportError(const GlobalOptions& global, const Error& error);
// Shorthand for an invalid-argument error with `message`.
int ReportInvalid(const GlobalOptions& global, std::string message);

// Cents as currency units with two decimals: 1999 -> "19.99".
std::string FormatCents(int64_t cents);

// One line for an event: "version=3 position=17 type=ItemAdded time=2024-...Z data={...}",
// preceded by "stream=<id> " when `with_stream`.
std::string EventLine(const RecordedEvent& event, bool with_stream);

// Writes each event it is handed to stdout as one JSON line (the shape of event_json.h);
// with `flush`, stdout is flushed after every batch (for live logs).
class JsonLinesHandler final : public EventHandler {
 public:
  explicit JsonLinesHandler(bool flush) : flush_(flush) {}
  Status Handle(std::span<const RecordedEvent> batch) override;

 private:
  const bool flush_;
};

// Prints a list that arrives in pages without holding all of it: with --json one JSON array with
// an element per line, otherwise one line per item and `empty_note` when there was none.
class ListPrinter {
 public:
  ListPrinter(bool json, std::string empty_note);
  ListPrinter(const ListPrinter&) = delete;
  ListPrinter& operator=(const ListPrinter&) = delete;

  bool json() const { return json_; }
  void AddJson(const nlohmann::json& item);
  void AddLine(const std::string& line);
  // Closes the list; call once, after the last item.
  void Finish();

 private:
  bool json_;
  std::string empty_note_;
  size_t count_ = 0;
};

}  // namespace evs::cli
