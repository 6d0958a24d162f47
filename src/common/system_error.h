// The error for a failed system call: kIOError with what was being done and errno's text.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "evs/status.h"

namespace evs {

// kIOError "<what>: <strerror(err)>"; `err` defaults to errno as it is at the call.
inline Error SystemError(const std::string& what, int err = errno) {
  return Error::Make(ErrorCode::kIOError, what + ": " + std::strerror(err));
}

}  // namespace evs
