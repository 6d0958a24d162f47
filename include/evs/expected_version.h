// The optimistic concurrency check that every append carries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace evs {

// What an append (or a delete) expects of its stream's version. When the stream does not match,
// the operation fails with kWrongExpectedVersion and changes nothing. A small value type, cheap to
// copy.
class ExpectedVersion {
 public:
  // Which check: none, no stream, a stream with events, or exactly version().
  enum class Kind { kAny, kNoStream, kStreamExists, kExact };

  // No check: the events go after whatever the stream holds.
  static ExpectedVersion Any() { return ExpectedVersion(Kind::kAny, 0); }
  // The stream must have no events (never had, or soft-deleted with none since).
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kNoStream, 0); }
  // The stream must have at least one event.
  static ExpectedVersion StreamExists() { return ExpectedVersion(Kind::kStreamExists, 0); }
  // Exact(0) is the same check as NoStream().
  static ExpectedVersion Exact(int64_t version) { return ExpectedVersion(Kind::kExact, version); }

  // Parses "any", "no-stream", "exists" or a non-negative integer.
  static std::optional<ExpectedVersion> Parse(std::string_view text);

  // Which check this is.
  Kind kind() const { return kind_; }
  // The version an Exact() check expects; 0 for the other kinds.
  int64_t version() const { return version_; }

  // True when a stream currently at `current` (0 = no stream) satisfies this expectation.
  bool Matches(int64_t current) const;
  // "any", "no-stream", "exists" or the number.
  std::string ToString() const;

 private:
  ExpectedVersion(Kind kind, int64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  int64_t version_;
};

}  // namespace evs
