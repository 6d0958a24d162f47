// A thread-safe histogram with fixed bucket bounds: Observe() is a few relaxed atomic adds.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "evs/stats.h"

namespace evs {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds)
      : bounds_(std::move(upper_bounds)),
        counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

  // Bounds for latencies in seconds: 50 us to 10 s.
  static std::vector<double> LatencyBounds() {
    return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
  }
  // Bounds for sizes and counts: 1 to 4096 in powers of two.
  static std::vector<double> CountBounds() {
    return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  }

  void Observe(double value) {
    size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                   bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    double sum = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
    }
  }

  HistogramSnapshot Snapshot() const {
    HistogramSnapshot s;
    s.upper_bounds = bounds_;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      s.counts.push_back(counts_[i].load(std::memory_order_relaxed));
    }
    s.count = count_.load(std::memory_order_relaxed);
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

}  // namespace evs
