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

// Why an operation failed: what callers branch on (Error::message is for people).
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

// The details of a kWrongExpectedVersion error. Versions are 1-based; 0 means "the stream has no
// events".
struct VersionConflict {
  std::string expected;  // as written by ExpectedVersion::ToString(): "any", "no-stream", "7"
  int64_t actual = 0;    // the stream's version when the append was checked
};

// An expected failure: a code to branch on and a message for people.
struct Error {
  ErrorCode code;                           // what kind of failure
  std::string message;                      // says what was wrong and, where it helps, what to do
  std::optional<VersionConflict> conflict;  // set for kWrongExpectedVersion

  // An error without conflict details: the usual way to make one.
  static Error Make(ErrorCode code, std::string message) {
    return Error{code, std::move(message), {}};
  }
};

// Holds a T or an Error. Accessing the wrong alternative is a programming error: it throws
// std::bad_variant_access. [[nodiscard]], so that an error cannot be dropped unseen.
template <class T>
class [[nodiscard]] Result {
 public:
  // A success. Implicit, so that a function returning Result<T> can `return value;`.
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  // A failure. Implicit, so that `return Error::Make(...);` and `return other.error();` work.
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  // True when it holds a T.
  bool ok() const { return v_.index() == 0; }
  // The same as ok(): `if (!result) return result.error();`.
  explicit operator bool() const { return ok(); }

  // The T. Only when ok().
  T& value() & { return std::get<0>(v_); }
  // The T, read-only. Only when ok().
  const T& value() const& { return std::get<0>(v_); }
  // The T, to move out of a result that is going away: `std::move(result).value()`.
  T&& value() && { return std::get<0>(std::move(v_)); }
  // The T's members: `result->field`. Only when ok().
  T* operator->() { return &value(); }
  // The T's members, read-only. Only when ok().
  const T* operator->() const { return &value(); }
  // The T: `*result`. Only when ok().
  T& operator*() & { return value(); }
  // The T, read-only. Only when ok().
  const T& operator*() const& { return value(); }

  // The Error. Only when !ok().
  const Error& error() const { return std::get<1>(v_); }
  // The Error, to change (say, to add context to its message) before passing it on. Only when
  // !ok().
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
// What an operation returns that yields nothing but may fail.
using Status = Result<Ok>;
// A successful Status: `return OkStatus();`.
inline Status OkStatus() { return Ok{}; }

}  // namespace evs
