// A one-shot signal from one thread to one waiting thread, on a bare futex.
//
// Unlike a mutex and condition variable, Signal() wakes the waiter without handing it a lock
// it must then fight for; unlike libstdc++'s semaphores, Wait() sleeps at once instead of
// spinning with sched_yield (which starves the writer when dozens of appends wait on 2 cores).
// The signaller may touch the object after the waiter has returned and destroyed it only inside
// the futex syscall, which the kernel treats as a harmless wake of nobody.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace evs::store {

class Completion {
 public:
  void Wait() {
    while (state_.load(std::memory_order_acquire) == 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, 0, nullptr,
              nullptr, 0);
    }
  }

  void Signal() {
    state_.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  std::atomic<uint32_t> state_{0};
};

}  // namespace evs::store
