// Wall-clock time as the store records it.
#pragma once

#include <chrono>
#include <cstdint>

namespace evs {

// Microseconds since the Unix epoch, UTC.
inline int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace evs
