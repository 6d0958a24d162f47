#include "common/backoff.h"

#include <algorithm>
#include <random>

namespace evs {

std::chrono::milliseconds ExponentialDelay(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max, int retry) {
  const int64_t cap = std::max<int64_t>(0, max.count());
  int64_t delay = std::min(std::max<int64_t>(0, initial.count()), cap);
  // Doubling stops at the cap, before it could overflow.
  for (int i = 0; i < retry && delay > 0 && delay < cap; ++i) {
    delay = delay > cap / 2 ? cap : delay * 2;
  }
  return std::chrono::milliseconds(delay);
}

std::chrono::milliseconds FullJitter(std::chrono::milliseconds delay, uint64_t random) {
  if (delay.count() <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(
      static_cast<int64_t>(random % static_cast<uint64_t>(delay.count())));
}

uint64_t JitterRandom() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

}  // namespace evs
