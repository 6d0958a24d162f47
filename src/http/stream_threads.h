// The threads that run streamed responses (Response::stream): one each while it lasts, at most a
// fixed number at once, each joined once it has finished.
#pragma once

#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace evs::http {

class StreamThreads {
 public:
  explicit StreamThreads(size_t max_threads) : max_(max_threads) {}
  ~StreamThreads() { JoinAll(); }
  StreamThreads(const StreamThreads&) = delete;
  StreamThreads& operator=(const StreamThreads&) = delete;

  // Runs `task` on a new thread; false (and `task` not run) when max_threads are running.
  bool Start(std::function<void()> task) {
    std::lock_guard guard(mu_);
    JoinFinishedLocked();
    if (threads_.size() >= max_) return false;
    auto at = threads_.emplace(threads_.end());
    *at = std::thread([this, at, task = std::move(task)] {
      task();
      std::lock_guard finished(mu_);
      finished_.push_back(at);  // joined by the next Start() or JoinAll()
    });
    return true;
  }

  // Waits for every thread started to finish.
  void JoinAll() {
    std::list<std::thread> all;
    {
      std::lock_guard guard(mu_);
      finished_.clear();
      all.swap(threads_);
    }
    for (std::thread& t : all) t.join();
  }

 private:
  void JoinFinishedLocked() {
    for (auto at : finished_) {
      at->join();
      threads_.erase(at);
    }
    finished_.clear();
  }

  const size_t max_;
  std::mutex mu_;
  std::list<std::thread> threads_;
  std::vector<std::list<std::thread>::iterator> finished_;
};

}  // namespace evs::http
