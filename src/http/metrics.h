// Request metrics and their rendering in the Prometheus text format (version 0.0.4).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/histogram.h"
#include "evs/stats.h"

namespace evs::http {

class Metrics {
 public:
  // Requests of routes not added are counted under "other".
  Metrics();

  // A route label requests may carry. Not safe while Record() runs: add every route first.
  void AddRoute(const std::string& route);

  void Record(const std::string& route, const std::string& method, int status, double seconds);

  // The request metrics, the store's statistics and the head position, as Prometheus text.
  std::string Render(const StoreStats& store, int64_t head_position) const;

 private:
  Histogram& LatencyFor(const std::string& route);

  std::map<std::string, std::unique_ptr<Histogram>> latency_;  // fixed once serving
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
};

}  // namespace evs::http
