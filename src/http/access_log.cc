#include "http/access_log.h"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/event_json.h"

namespace evs::http {

void LogRequest(const std::string& remote, const std::string& method, const std::string& target,
                int status, size_t bytes, double seconds) {
  static std::mutex mu;
  nlohmann::ordered_json line = {
      {"time", FormatTimestamp(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count())},
      {"remote", remote},
      {"method", method},
      {"target", target},
      {"status", status},
      {"bytes", bytes},
      {"ms", seconds * 1000}};
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard guard(mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace evs::http
