// Wake-ups from PostgreSQL: a thread with its own connection that LISTENs on evs_log (which every
// commit that writes events NOTIFYs) and counts what it hears, so that WaitForHead() sleeps until
// another process (or this one) commits instead of polling.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace evs::pg {

class Listener {
 public:
  explicit Listener(std::string url);
  ~Listener();

  // A count that moves on with every notification (and every reconnect, after which commits
  // may have been missed).
  uint64_t Generation();
  // Waits until Generation() is past `seen` or `deadline` passes.
  void WaitPast(uint64_t seen, std::chrono::steady_clock::time_point deadline);
  // Moves the generation on (this process's own commits, without waiting for the server).
  void Bump();
  // Whether the listener's connection is up now (while it is not, waits are cut into short
  // slices so that nothing waits long on a missed notification).
  bool Listening() const { return listening_.load(); }

 private:
  void Run();

  const std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  std::atomic<bool> listening_{false};
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // an eventfd that ends the thread's poll()
  std::thread thread_;
};

}  // namespace evs::pg
