#include "evs/status.h"

namespace evs {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kWrongExpectedVersion:
      return "wrong_expected_version";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kLimitExceeded:
      return "limit_exceeded";
    case ErrorCode::kDuplicateEventId:
      return "duplicate_event_id";
    case ErrorCode::kDomainRule:
      return "domain_rule";
    case ErrorCode::kIOError:
      return "io_error";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kUnknownEventType:
      return "unknown_event_type";
    case ErrorCode::kStreamDeleted:
      return "stream_deleted";
  }
  return "unknown";
}

}  // namespace evs
