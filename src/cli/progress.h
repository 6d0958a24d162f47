// Progress of long commands (replay, restore, verify, archive, rebuild) on stderr: a bar redrawn
// in place on a terminal, a plain line now and then otherwise (logs, pipes, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace evs::cli {

class Progress {
 public:
  // `label` starts each line ("replay", "restore", ...). Silent when `enabled` is false.
  Progress(std::string label, bool enabled);

  // `done` of `total` events (total 0: unknown, no bar or ETA). Cheap to call often: it draws at
  // most every 100 ms on a terminal and every 5 s otherwise.
  void Update(int64_t done, int64_t total);
  // Draws the last state and ends the line.
  void Finish();

 private:
  void Draw(bool final);

  const std::string label_;
  const bool enabled_;
  const bool terminal_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  int64_t done_ = 0;
  int64_t total_ = 0;
  bool drawn_ = false;
};

}  // namespace evs::cli
