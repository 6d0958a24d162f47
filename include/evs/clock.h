// Time as evs reads it, behind an interface so that tests can set it: recorded times of events,
// parked times, segment ages and timestamps. Production code uses SystemClock().
#pragma once

#include <cstdint>
#include <memory>

namespace evs {

// A source of wall-clock and monotonic time. Called from any thread: implementations must be
// thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: microseconds since the Unix epoch, UTC. May step back (NTP); evs keeps
  // the times it records from going back on its own.
  virtual int64_t NowMicros() = 0;
  // Monotonic time for ages and timeouts: microseconds since an arbitrary start; never goes
  // back.
  virtual int64_t MonotonicMicros() = 0;
};

// The system's clocks (system_clock, steady_clock). Shared, and lives for the whole program.
std::shared_ptr<Clock> SystemClock();

}  // namespace evs
