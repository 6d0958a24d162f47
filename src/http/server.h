// The embedded HTTP server of `evs serve`: cpp-httplib's server (thread per connection, with
// keep-alive) in front of the transport-neutral Api.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "evs/status.h"
#include "http/api.h"

namespace httplib {
class Server;
}

namespace evs::http {

// Limits on what a client may send. Each refusal is a problem document (problem.h) with its
// status; where the rest of the request is left unread, the reply says "Connection: close".
//
// cpp-httplib 0.11, as Debian builds it, fixes two limits at compile time (its CPPHTTPLIB_*
// macros are compiled into the library, so defining them here changes nothing):
//   * a request line (method, target with its query, version) over 8192 bytes: 414, code
//     "uri_too_long";
//   * one header line over 8192 bytes: 431, code "header_too_large" (httplib stops reading the
//     headers there; this server turns its 400 into the 431).
// httplib reads a whole line before it checks its length, and has no limit on the number of
// header lines: max_header_bytes is checked once the headers are in.
struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0 picks a free port
  // Worker threads; each open keep-alive connection holds one while it lasts, and a request
  // waiting for a durable append holds one until then.
  int threads = 256;
  // Open connections, served or waiting for a worker. Past it a new connection is answered 503
  // (code "too_many_connections", Retry-After: 1, Connection: close) on a few threads of its
  // own and closed; the connections within the limit are not slowed down.
  int max_connections = 512;
  // The request body, as received or once decompressed (Content-Encoding: gzip or deflate),
  // chunked or not: larger bodies get 413 ("body_too_large"). Only this much is ever held.
  size_t max_body_bytes = 1 << 20;
  // All header lines together (names and values): more gets 431 ("header_too_large").
  size_t max_header_bytes = 32 << 10;
  int keep_alive_seconds = 5;  // idle keep-alive connections close after this
  bool access_log = true;      // one JSON line per request on stderr
};

class Server {
 public:
  Server(Api& api, ServerOptions options);
  ~Server();

  // Binds the listening socket; returns the port (useful with port 0).
  Result<int> Bind();
  // Serves until Stop(); returns once in-flight requests have finished.
  void Run();
  // Stops accepting and lets in-flight requests finish. Safe from any thread, any number of
  // times, also before Run() has started (Run() then returns at once).
  void Stop();

 private:
  Api& api_;
  const ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int listen_socket_ = -1;
  std::mutex mu_;
  bool stop_requested_ = false;  // guarded by mu_
  bool running_ = false;         // Run() is in listen_after_bind(); guarded by mu_
};

}  // namespace evs::http
