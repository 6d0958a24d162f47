#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace evs::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 30;

std::string Duration(double seconds) {
  const auto total = static_cast<long long>(seconds + 0.5);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld", total / 60, total % 60);
  }
  return buffer;
}

}  // namespace

Progress::Progress(std::string label, bool enabled)
    : label_(std::move(label)),
      enabled_(enabled),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      last_draw_(start_) {}

void Progress::Update(int64_t done, int64_t total) {
  done_ = done;
  total_ = total;
  if (!enabled_) return;
  const auto now = Clock::now();
  if (now - last_draw_ <
      (terminal_ ? Clock::duration(kTerminalInterval) : Clock::duration(kLogInterval))) {
    return;
  }
  last_draw_ = now;
  Draw(false);
}

void Progress::Finish() {
  if (!enabled_) return;
  // In a log, a run too short for any progress line needs no closing one either.
  if (!terminal_ && !drawn_ && Clock::now() - start_ < std::chrono::seconds(1)) return;
  Draw(true);
}

void Progress::Draw(bool final) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0;
  std::string line = label_ + ": ";
  char buffer[160];
  if (total_ > 0) {
    const double fraction =
        std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    if (terminal_) {
      const int filled = static_cast<int>(fraction * kBarWidth);
      line += "[" + std::string(static_cast<size_t>(filled), '#') +
              std::string(static_cast<size_t>(kBarWidth - filled), '.') + "] ";
    }
    std::snprintf(buffer, sizeof(buffer), "%3.0f%% %lld/%lld events", fraction * 100,
                  static_cast<long long>(done_), static_cast<long long>(total_));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lld events", static_cast<long long>(done_));
  }
  line += buffer;
  std::snprintf(buffer, sizeof(buffer), ", %.0f events/s", rate);
  line += buffer;
  if (final) {
    line += ", took " + Duration(seconds);
  } else if (total_ > 0 && rate > 0) {
    line += ", ETA " + Duration(static_cast<double>(std::max<int64_t>(total_ - done_, 0)) / rate);
  }
  if (terminal_) {
    // \x1b[K clears what a longer earlier line left.
    std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace evs::cli
