// One backoff for every retry loop of evs: the AWS client, the DynamoDB store, the relay, the
// Kinesis consumer, the archive runner, subscriptions, and the waits for AWS resources.
#pragma once

#include <chrono>
#include <cstdint>

namespace evs {

// `initial` * 2^`retry` (retry 0 is the first wait), at most `max`; never overflows, whatever
// `retry`. Negative durations count as 0, a negative retry as 0.
std::chrono::milliseconds ExponentialDelay(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max, int retry);

// Full jitter, as AWS advises when many clients retry at once: uniform in [0, `delay`), from any
// 64-bit `random` value. 0 for a delay of 0.
std::chrono::milliseconds FullJitter(std::chrono::milliseconds delay, uint64_t random);

// A random value for jitter, from a per-thread generator: spreads retries, not for secrets.
uint64_t JitterRandom();

// The waits of one retry loop: Next() gives the wait before the next try, doubling from
// `initial` up to `max`; Reset() after a success. Not thread-safe.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max) {}
  std::chrono::milliseconds Next() { return ExponentialDelay(initial_, max_, retries_++); }
  void Reset() { retries_ = 0; }
  int retries() const { return retries_; }

 private:
  std::chrono::milliseconds initial_, max_;
  int retries_ = 0;
};

}  // namespace evs
