// The server's access log: one JSON object per request on stderr.
#pragma once

#include <cstddef>
#include <string>

namespace evs::http {

// Writes {"time", "remote", "method", "target", "status", "bytes", "ms"} as one line; lines of
// concurrent requests do not interleave.
void LogRequest(const std::string& remote, const std::string& method, const std::string& target,
                int status, size_t bytes, double seconds);

}  // namespace evs::http
