#include "store/read_validation.h"

#include <string>

namespace evs::store {
namespace {

Status CheckLimit(size_t limit) {
  if (limit > kMaxReadLimit) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the limit " + std::to_string(limit) + " is over the largest page (" +
                           std::to_string(kMaxReadLimit) + "); read in pages");
  }
  return OkStatus();
}

}  // namespace

Status ValidateReadLog(int64_t after, size_t limit) {
  if (after < 0) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the position to read after is " + std::to_string(after) +
                           "; positions start at 1, so 0 reads from the start");
  }
  return CheckLimit(limit);
}

Status ValidateReadStream(const ReadStreamOptions& options) {
  if (options.from < 0) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the version to read from is " + std::to_string(options.from) +
                           "; versions start at 1 (0: the start forward, the end backward)");
  }
  return CheckLimit(options.limit);
}

Status ValidateListStreams(size_t limit) { return CheckLimit(limit); }

}  // namespace evs::store
