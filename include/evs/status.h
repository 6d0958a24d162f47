// Expected failures as values.
//
// Every operation that can fail for a reason the caller should handle (a version conflict, a
// missing stream, invalid input, a limit) returns Result<T>: either a T or an Error. Exceptions
// are not used for these; a thrown exception from evs means a bug.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace evs {

enum class ErrorCode {
  kWrongExpectedVersion,  // the stream was not at the expected version; see Error::conflict
  kNotFound,              // no such stream, aggregate or object
  kInvalidArgument,       // malformed input: bad JSON, bad UTF-8, empty names, bad UUIDs
  kLimitExceeded,         // input over a configured size or count limit
  kDuplicateEventId,      // an event id was already committed somewhere else
  kDomainRule,            // an aggregate refused a command (e.g. add after checkout)
  kIOError,               // the disk or the network failed; the operation did not happen
  kCorruption,            // stored data is not what evs wrote
  kUnavailable,           // the store is closed or failed and refuses writes until reopened
  kUnsupported,           // the backend cannot do this (e.g. a global log on DynamoDB)
  kUnknownEventType,      // a stored event's type is not registered with the application
  kStreamDeleted,         // the stream was deleted for good (a tombstone): no reads, no appends
};

// A stable, lower-case name for the code ("wrong_expected_version", "not_found", ...), used in
// CLI output and HTTP problem documents.
const char* ErrorCodeName(ErrorCode code);

// Versions are 1-based; 0 means "the stream has no events".
struct VersionConflict {
  std::string expected;  // as written by ExpectedVersion::ToString(): "any", "no-stream", "7"
  int64_t actual = 0;    // the stream's version when the append was checked
};

struct Error {
  ErrorCode code;
  std::string message;                      // says what was wrong and, where it helps, what to do
  std::optional<VersionConflict> conflict;  // set for kWrongExpectedVersion

  static Error Make(ErrorCode code, std::string message) {
    return Error{code, std::move(message), {}};
  }
};

// Holds a T or an Error. Accessing the wrong alternative is a programming error (asserts).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace evs
