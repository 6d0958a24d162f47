// A Clock that tests set and step: wall and monotonic time move only when told. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "evs/clock.h"

namespace evs::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_us = 1'700'000'000'000'000) : wall_us_(now_us) {}
  int64_t NowMicros() override { return wall_us_.load(); }
  int64_t MonotonicMicros() override { return monotonic_us_.load(); }
  void SetWall(int64_t us) { wall_us_ = us; }
  // Both clocks move forward by `us`.
  void Advance(int64_t us) {
    wall_us_ += us;
    monotonic_us_ += us;
  }

 private:
  std::atomic<int64_t> wall_us_;
  std::atomic<int64_t> monotonic_us_{0};
};

}  // namespace evs::testing
