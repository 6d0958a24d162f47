// The embedded HTTP server: a thread per connection (with keep-alive) in front of an Api
// (api.h), on one host and port.
//
//   http::Server server(api, {.host = "127.0.0.1", .port = 0});
//   auto port = server.Bind();               // the port it listens on
//   std::thread serving([&] { server.Run(); });
//   ...
//   server.Stop();                           // from any thread; Run() returns
//   serving.join();
#pragma once

#include <memory>
#include <string>

#include "evs/http/api.h"
#include "evs/status.h"

namespace evs::http {

// Limits on what a client may send. Each refusal is a problem document (responses.h) with its
// status; where the rest of the request is left unread, the reply says "Connection: close".
//
// Two limits are fixed:
//   * a request line (method, target with its query, version) over 8192 bytes: 414, code
//     "uri_too_long";
//   * one header line over 8192 bytes: 431, code "header_too_large".
// A whole line is read before its length is checked, and the number of header lines is not
// limited: max_header_bytes is checked once the headers are in.
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
  // `api` must outlive the server.
  Server(Api& api, ServerOptions options);
  // Run() must have returned, or never been called.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (useful with port 0). kUnavailable when the
  // address is in use or not one of this machine.
  Result<int> Bind();
  // Serves on the calling thread (connections on threads of the server's own) until Stop();
  // returns once in-flight requests have finished. Call it once, after Bind().
  void Run();
  // Stops accepting and lets in-flight requests finish; live streams end (Api::Shutdown). Safe
  // from any thread, any number of times, also before Run() has started (Run() then returns at
  // once).
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace evs::http
