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

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0 picks a free port
  // Worker threads; each open keep-alive connection holds one while it lasts, and a request
  // waiting for a durable append holds one until then.
  int threads = 256;
  size_t max_body_bytes = 1 << 20;
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
