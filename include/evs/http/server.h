// The embedded HTTP server (HTTP/1.1, keep-alive, optionally TLS) in front of an Api (api.h), on
// one host and port. A few I/O threads serve every connection with asynchronous reads and
// writes; synchronous handlers run on a bounded pool of blocking threads, Server-Sent Event
// streams on threads of their own.
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

// How the server runs and the limits on what a client may send. Each refusal is a problem
// document (responses.h) with its status, counted in the metrics with route "other"; where the
// rest of the request is left unread, the reply says "Connection: close" and the connection
// ends.
//
// Two limits are fixed:
//   * a request line (method, target with its query, version) over 8192 bytes: 414, code
//     "uri_too_long";
//   * one header line over 8192 bytes: 431, code "header_too_large".
// Other fixed refusals: a method that is not one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS,
// TRACE or CONNECT is 501 ("not_implemented"; a known method on a route without it is the Api's
// 405); a Content-Encoding other than gzip, deflate, br or identity is 415
// ("unsupported_content_encoding"); a request that is not HTTP/1.x is 400 ("bad_request").
// A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3).
struct ServerOptions {
  std::string host = "127.0.0.1";  // Loopback unless told otherwise.
  int port = 8080;                 // 0 picks a free port.
  // TLS: a PEM certificate (chain) and its private key. When both are set the server speaks
  // HTTPS only (TLS 1.2 or later); Bind() fails (kInvalidArgument) when either cannot be read
  // or they do not match. Set both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;  // See tls_cert_file.
  // Threads that serve every connection's reads and writes, and start asynchronous handlers
  // (routes.h); 0: std::thread::hardware_concurrency().
  int io_threads = 0;
  // Threads for synchronous handlers (Routes::Add), which may block (a durable append); a
  // request waits for one when all are busy. Connections do not hold them.
  int blocking_threads = 64;
  // Open connections, idle or not. Past it a new connection's request is answered 503 (code
  // "too_many_connections", Retry-After: 1, Connection: close), and the connection is closed.
  // The process needs a file descriptor per connection (RLIMIT_NOFILE).
  int max_connections = 16384;
  // Live Server-Sent Event streams (Response::stream), each on a thread of its own while it
  // lasts; past it a request for one is answered 503 ("too_many_streams", Retry-After: 1).
  int max_streams = 256;
  // A stream's output queued for a client but not yet sent: a client that reads slower than
  // its stream writes is disconnected once this much waits, so memory stays bounded.
  size_t max_stream_buffer_bytes = 1 << 20;
  // The request body, as received or once decompressed (Content-Encoding: gzip, deflate or
  // br), chunked or not: larger bodies get 413 ("body_too_large"). Only this much is ever held.
  size_t max_body_bytes = 1 << 20;
  // All header lines together (names, values and line ends): more gets 431
  // ("header_too_large").
  size_t max_header_bytes = 32 << 10;
  // Header lines in one request: more get 431 ("header_too_large").
  size_t max_header_count = 100;
  // The whole request head (request line and headers) must arrive within this many seconds
  // of its first byte (of the connection's start, for the first request), and each read of a
  // body within this many seconds of the last: otherwise 408 ("request_timeout") and the
  // connection closes. Against clients that send a byte now and then (slowloris).
  int header_timeout_seconds = 10;
  int keep_alive_seconds = 5;  // Idle keep-alive connections close after this.
  bool access_log = true;      // One JSON line per request on stderr.
};

class Server {
 public:
  // `api` must outlive the server.
  Server(Api& api, ServerOptions options);
  // Run() must have returned, or never been called.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket (SO_REUSEADDR, backlog SOMAXCONN) and loads the TLS certificate
  // and key when set; returns the port (useful with port 0). kUnavailable when the address is in
  // use or not one of this machine; kInvalidArgument for a TLS file that cannot be read or a key
  // that does not match its certificate.
  Result<int> Bind();
  // Serves on the calling thread (and io_threads - 1 more of its own) until Stop(); returns once
  // in-flight requests have been answered and live streams have ended. Call it once, after a
  // successful Bind().
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
