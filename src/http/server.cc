#include "http/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/event_json.h"
#include "http/problem.h"

namespace evs::http {

namespace {

Request ToRequest(const httplib::Request& in) {
  Request out;
  // HEAD is GET without the body (RFC 9110 9.3.2); httplib leaves the body out of the reply.
  out.method = in.method == "HEAD" ? "GET" : in.method;
  out.target = in.target;
  out.headers.reserve(in.headers.size());
  for (const auto& [name, value] : in.headers) out.headers.emplace_back(name, value);
  out.body = in.body;
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
  out.set_content(std::move(in.body), in.content_type.c_str());
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

}  // namespace

Server::Server(Api& api, ServerOptions options)
    : api_(api), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  const int threads = options_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
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
  s.set_payload_max_length(options_.max_body_bytes);
  // Every request goes to the Api, which routes it; httplib only reads it (a pre-routing handler
  // would run before the body is read).
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    ToResponse(api_.Handle(ToRequest(req)), res);
    if (options_.access_log) {
      LogRequest(req, res,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  };
  const std::string any = ".*";
  s.Get(any, handle);
  s.Post(any, handle);
  s.Put(any, handle);
  s.Patch(any, handle);
  s.Delete(any, handle);
  s.Options(any, handle);
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3), but
  // httplib would read a POST, PUT or PATCH body until the client closes the connection or the
  // read times out (then a 400): answer those here, before httplib reads anything.
  s.set_pre_routing_handler([handle](const httplib::Request& req, httplib::Response& res) {
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      handle(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Failures httplib detects itself (a body over the limit, a malformed request) get a problem
  // document like every other error.
  s.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    Response problem =
        res.status == 413
            ? Problem(413, "body_too_large",
                      "the body is over the limit of " + std::to_string(options_.max_body_bytes) +
                          " bytes")
            : Problem(res.status, "bad_request", "the request could not be read as HTTP");
    ToResponse(std::move(problem), res);
  });
}

Server::~Server() = default;

Result<int> Server::Bind() {
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

void Server::Run() {
  {
    std::lock_guard guard(mu_);
    if (stop_requested_) return;  // Stop() came first
    running_ = true;
  }
  server_->listen_after_bind();
  std::lock_guard guard(mu_);
  running_ = false;
}

void Server::Stop() {
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
