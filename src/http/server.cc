#include "evs/http/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "common/event_json.h"
#include "evs/http/responses.h"
#include "http/metrics.h"

namespace evs::http {

namespace {

// A problem response that also ends the connection: the rest of the request was not read (or
// not understood), so what follows on the connection cannot be read as the next request.
Response Closing(Response response) {
  response.headers.emplace_back("Connection", "close");
  return response;
}

Request ToRequest(const httplib::Request& in, std::string body) {
  Request out;
  // HEAD is GET without the body (RFC 9110 9.3.2); httplib leaves the body out of the reply.
  out.method = in.method == "HEAD" ? "GET" : in.method;
  out.target = in.target;
  out.headers.reserve(in.headers.size());
  for (const auto& [name, value] : in.headers) out.headers.emplace_back(name, value);
  out.body = std::move(body);
  return out;
}

void ToResponse(Response&& in, httplib::Response& out) {
  out.status = in.status;
  for (auto& [name, value] : in.headers) out.set_header(name, value);
  if (in.stream) {
    // Streamed on this connection's thread until the client leaves or the server stops.
    out.set_chunked_content_provider(
        in.content_type, [stream = std::move(in.stream)](size_t, httplib::DataSink& sink) {
          stream([&sink](std::string_view text) { return sink.write(text.data(), text.size()); });
          sink.done();
          return true;
        });
    return;
  }
  if (in.content_type.empty() && in.body.empty()) return;  // 204: no body, no Content-Type
  out.set_content(std::move(in.body), in.content_type.c_str());
}

// The bytes of the header lines the client sent ("Name: value\r\n"), without the ones httplib
// adds itself.
size_t HeaderBytes(const httplib::Request& req) {
  size_t bytes = 0;
  for (const auto& [name, value] : req.headers) {
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT") {
      continue;
    }
    bytes += name.size() + value.size() + 4;
  }
  return bytes;
}

// The access log: one JSON object per line on stderr.
void LogRequest(const httplib::Request& req, const httplib::Response& res, double seconds) {
  static std::mutex mu;
  nlohmann::ordered_json line = {
      {"time", FormatTimestamp(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count())},
      {"remote", req.remote_addr},
      {"method", req.method},
      {"target", req.target},
      {"status", res.status},
      {"bytes", res.body.size()},
      {"ms", seconds * 1000}};
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard guard(mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// True on the threads that answer connections over ServerOptions::max_connections.
thread_local bool t_over_connection_limit = false;

// httplib's task queue gets one task per accepted connection, which serves the connection until
// it closes. Up to `max_connections` of them run on (or wait for) the workers; past that, a
// connection goes to a few threads of its own that answer each of its requests 503, so that a
// flood of connections neither waits in an endless queue nor holds the workers. (httplib gives
// a task no way to reach its socket, so a refused connection is still read like any other: its
// request is answered 503 with Connection: close, and the connection ends when the client
// closes it or after keep_alive_seconds.)
class ConnectionQueue : public httplib::TaskQueue {
 public:
  ConnectionQueue(size_t threads, size_t max_connections)
      : max_connections_(max_connections), workers_(threads), refusers_(kRefuserThreads) {}

  void enqueue(std::function<void()> fn) override {
    if (open_.fetch_add(1) >= max_connections_) {
      open_.fetch_sub(1);
      refusers_.enqueue([fn = std::move(fn)] {
        t_over_connection_limit = true;
        fn();
        t_over_connection_limit = false;
      });
      return;
    }
    workers_.enqueue([this, fn = std::move(fn)] {
      struct Release {
        std::atomic<size_t>& open;
        ~Release() { open.fetch_sub(1); }
      } release{open_};
      fn();
    });
  }

  void shutdown() override {
    workers_.shutdown();
    refusers_.shutdown();
  }

 private:
  static constexpr size_t kRefuserThreads = 4;
  const size_t max_connections_;
  std::atomic<size_t> open_{0};
  httplib::ThreadPool workers_;
  httplib::ThreadPool refusers_;
};

}  // namespace

// cpp-httplib's server. Debian builds httplib 0.11 with two limits fixed at compile time (its
// CPPHTTPLIB_* macros are compiled into the library, so defining them here changes nothing): a
// request line over 8192 bytes (414) and a header line over 8192 bytes (httplib stops reading
// the headers there and answers 400, which the error handler turns into a 431).
class Server::Impl {
 public:
  Impl(Api& api, ServerOptions options);
  Result<int> Bind();
  void Run();
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

Server::Server(Api& api, ServerOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(options))) {}
Server::~Server() = default;
Result<int> Server::Bind() { return impl_->Bind(); }
void Server::Run() { impl_->Run(); }
void Server::Stop() { impl_->Stop(); }

Server::Impl::Impl(Api& api, ServerOptions options)
    : api_(api), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  const auto threads = static_cast<size_t>(std::max(1, options_.threads));
  const auto max_connections = static_cast<size_t>(std::max(1, options_.max_connections));
  s.new_task_queue = [threads, max_connections] {
    return new ConnectionQueue(threads, max_connections);
  };
  s.set_tcp_nodelay(true);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second server
  // bind the same port and take half of the connections. The socket is kept to raise its
  // listen backlog after Bind() (httplib listens with a backlog of 5, which a burst of connects
  // overflows: the dropped ones wait a second or more for the kernel's retry).
  s.set_socket_options([this](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_socket_ = sock;
  });
  s.set_keep_alive_max_count(1'000'000);
  s.set_keep_alive_timeout(options_.keep_alive_seconds);
  // httplib checks a declared Content-Length against this before it reads the body (and then
  // skips the body, so the connection stays usable); bodies without one are bounded as they
  // are read, below.
  s.set_payload_max_length(options_.max_body_bytes);

  // Sends a response, counts it (the Api counts what it answers) and logs it.
  auto respond = [this](const httplib::Request& req, Response response, httplib::Response& res,
                        std::chrono::steady_clock::time_point start) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (response.route.empty())
      api_.metrics().Record("other", req.method, response.status, seconds);
    ToResponse(std::move(response), res);
    if (options_.access_log) LogRequest(req, res, seconds);
  };
  // Every request with its body goes to the Api, which routes it, unless a server limit refuses
  // it first.
  auto serve = [this, respond](const httplib::Request& req, std::string body,
                               httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    if (t_over_connection_limit) {
      Response refused = Closing(Problem(503, "too_many_connections",
                                         "the server has its limit of " +
                                             std::to_string(options_.max_connections) +
                                             " connections open; try again in a moment"));
      refused.headers.emplace_back("Retry-After", "1");
      return respond(req, std::move(refused), res, start);
    }
    if (const size_t bytes = HeaderBytes(req); bytes > options_.max_header_bytes) {
      return respond(
          req,
          Problem(431, "header_too_large",
                  "the request headers are " + std::to_string(bytes) + " bytes; the limit is " +
                      std::to_string(options_.max_header_bytes)),
          res, start);
    }
    respond(req, api_.Handle(ToRequest(req, std::move(body))), res, start);
  };
  // POST, PUT, PATCH and DELETE read their bodies here rather than in httplib: httplib 0.11
  // bounds only a declared Content-Length, and would take a chunked body, or a compressed one
  // once inflated, however large. Here no more than max_body_bytes is ever held.
  auto read_and_serve = [this, serve, respond](const httplib::Request& req, httplib::Response& res,
                                               const httplib::ContentReader& reader) {
    const auto start = std::chrono::steady_clock::now();
    // httplib inflates gzip, deflate and br, and passes any other encoding through as if the
    // body were plain: refuse those before reading anything.
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity" && encoding != "gzip" &&
        encoding != "deflate" && encoding != "br") {
      return respond(
          req,
          Closing(Problem(415, "unsupported_content_encoding",
                          "Content-Encoding '" + encoding +
                              "' is not supported; send the body as is, or gzip, deflate or "
                              "br it")),
          res, start);
    }
    std::string body;
    bool over = false;
    const bool read = reader([&](const char* data, size_t size) {
      if (size > options_.max_body_bytes - body.size()) {
        over = true;
        return false;
      }
      body.append(data, size);
      return true;
    });
    if (read) return serve(req, std::move(body), res);
    Response problem;
    if (over || res.status == 413) {
      problem = Problem(413, "body_too_large",
                        "the body is over the limit of " + std::to_string(options_.max_body_bytes) +
                            " bytes" +
                            (req.has_header("Content-Encoding") ? " (once decompressed)" : ""));
      // A declared Content-Length over the limit was skipped by httplib: the connection can go
      // on. Otherwise the rest of the body is still on it.
      if (over) problem = Closing(std::move(problem));
    } else {
      problem = Closing(Problem(400, "bad_request",
                                "the body could not be read: malformed chunked encoding or "
                                "compressed data, or the client stopped sending"));
    }
    respond(req, std::move(problem), res, start);
  };
  auto serve_without_body = [serve](const httplib::Request& req, httplib::Response& res) {
    serve(req, std::string(), res);
  };
  const std::string any = R"([\s\S]*)";  // any path, also one with a (decoded) newline
  s.Get(any, serve_without_body);        // and HEAD
  s.Options(any, serve_without_body);
  s.Post(any, httplib::Server::HandlerWithContentReader(read_and_serve));
  s.Put(any, httplib::Server::HandlerWithContentReader(read_and_serve));
  s.Patch(any, httplib::Server::HandlerWithContentReader(read_and_serve));
  s.Delete(any, httplib::Server::HandlerWithContentReader(read_and_serve));
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3), but
  // httplib would read a POST, PUT or PATCH body until the client closes the connection or the
  // read times out (then a 400): answer those here, before httplib reads anything.
  s.set_pre_routing_handler([serve](const httplib::Request& req, httplib::Response& res) {
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      serve(req, std::string(), res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Failures httplib detects itself, before any handler runs, get a problem document like every
  // other error. The connection closes after them: httplib has lost its place in the request.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    Response problem;
    if (res.status == 413) {
      problem = Problem(
          413, "body_too_large",
          "the body is over the limit of " + std::to_string(options_.max_body_bytes) + " bytes");
    } else if (res.status == 414) {
      problem = Problem(414, "uri_too_long",
                        "the request line is over 8192 bytes; use a shorter target (path and "
                        "query)");
    } else if (res.status == 400 && !req.path.empty() && req.remote_addr.empty()) {
      // The request line was read (httplib sets the path only then) but the headers were not
      // (it sets remote_addr right after them): a header line over httplib's 8192 bytes.
      problem = Problem(431, "header_too_large", "a header line is over 8192 bytes");
    } else {
      problem = Problem(res.status, "bad_request", "the request could not be read as HTTP");
    }
    ToResponse(Closing(std::move(problem)), res);
  });
}

Result<int> Server::Impl::Bind() {
  int port = options_.port == 0
                 ? server_->bind_to_any_port(options_.host)
                 : (server_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port < 0) {
    return Error::Make(ErrorCode::kUnavailable, "cannot listen on " + options_.host + ":" +
                                                    std::to_string(options_.port) +
                                                    " (in use, or not an address of this machine)");
  }
  // Linux takes a new backlog for a socket that is already listening.
  if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  return port;
}

void Server::Impl::Run() {
  {
    std::lock_guard guard(mu_);
    if (stop_requested_) return;  // Stop() came first
    running_ = true;
  }
  server_->listen_after_bind();
  std::lock_guard guard(mu_);
  running_ = false;
}

void Server::Impl::Stop() {
  api_.Shutdown();  // live streams end within their next wait
  {
    std::lock_guard guard(mu_);
    if (stop_requested_) return;  // once is enough (httplib asserts on a second stop)
    stop_requested_ = true;
  }
  // httplib's stop() does nothing until listen_after_bind() has marked the server as running, so
  // a Stop() just after Run() was called would be lost: wait for that moment, unless Run() has
  // not started (it sees stop_requested_ and returns) or has already ended.
  for (;;) {
    if (server_->is_running()) {
      server_->stop();
      return;
    }
    {
      std::lock_guard guard(mu_);
      if (!running_) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace evs::http
