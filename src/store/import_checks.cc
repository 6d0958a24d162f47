#include "store/import_checks.h"

#include <string>

#include "evs/text.h"
#include "store/append_validation.h"

namespace evs::store {
namespace {

// Names are checked like the store checks them (non-empty, UTF-8, no control characters), with a
// bound generous enough for stores whose limits were raised.
constexpr size_t kMaxNameBytes = 1 << 20;

}  // namespace

Status CheckImportedEvent(const RecordedEvent& e, int64_t last_position,
                          int64_t last_recorded_at_us, int64_t next_version) {
  // Built only for an error: this runs once per event.
  auto at = [&e] { return "event at position " + std::to_string(e.position); };
  if (e.position != last_position + 1) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       last_position == 0
                           ? "the import must start at position 1, but its first event is at " +
                                 std::to_string(e.position)
                           : at() + " does not follow position " + std::to_string(last_position) +
                                 " (expected position " + std::to_string(last_position + 1) + ")");
  }
  if (auto s = ValidateName("stream id", e.stream_id, kMaxNameBytes); !s) {
    return Error::Make(ErrorCode::kInvalidArgument, at() + ": " + s.error().message);
  }
  if (auto s = ValidateName("event type", e.type, kMaxNameBytes); !s) {
    return Error::Make(ErrorCode::kInvalidArgument, at() + ": " + s.error().message);
  }
  if (!IsValidJson(e.data) || !IsValidJson(e.metadata)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       at() + " has data or metadata that is not JSON");
  }
  // Point-in-time reads rely on times that never go back in commit order.
  if (e.recorded_at_us < last_recorded_at_us) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       at() + " was recorded before the event ahead of it");
  }
  if (e.version != next_version) {
    return Error::Make(ErrorCode::kInvalidArgument, at() + " is version " +
                                                        std::to_string(e.version) + " of stream '" +
                                                        e.stream_id + "', whose next version is " +
                                                        std::to_string(next_version));
  }
  return OkStatus();
}

}  // namespace evs::store
