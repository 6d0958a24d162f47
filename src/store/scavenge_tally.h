// What a scavenge counts as it goes, for every backend's scavenger: the report Scavenge()
// returns, the progress it hands to ScavengeOptions::progress, and the time since it started.
#pragma once

#include <chrono>
#include <functional>

#include "evs/event_store.h"

namespace evs::store {

class ScavengeTally {
 public:
  // Starts the clock; `options.progress` (may be empty) is called by Report().
  explicit ScavengeTally(const ScavengeOptions& options) : progress_fn_(options.progress) {}

  ScavengeReport report;
  ScavengeProgress progress;

  // Hands the progress so far to the callback.
  void Report() {
    progress.events_scavenged = report.events_scavenged;
    if (progress_fn_) progress_fn_(progress);
  }
  // The report once done, with its seconds; the progress is reported a last time.
  ScavengeReport Finish() {
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    Report();
    return report;
  }

 private:
  const std::function<void(const ScavengeProgress&)>& progress_fn_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace evs::store
