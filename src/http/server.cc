#include "http/server.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <mutex>

#include "common/event_json.h"
#include "http/problem.h"

namespace evs::http {

namespace {

Request ToRequest(const httplib::Request& in) {
  Request out;
  out.method = in.method;
  out.target = in.target;
  out.headers.reserve(in.headers.size());
  for (const auto& [name, value] : in.headers) out.headers.emplace_back(name, value);
  out.body = in.body;
  return out;
}

void ToResponse(Response&& in, httplib::Response& out) {
  out.status = in.status;
  for (auto& [name, value] : in.headers) out.set_header(name, value);
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
  // Failures httplib detects itself (a body over the limit, a malformed request) get a problem
  // document like every other error.
  s.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    Response problem =
        res.status == 413
            ? Problem(413, "body_too_large",
                      "the body is over the limit of " + std::to_string(options_.max_body_bytes) +
                          " bytes")
            : Problem(res.status, "bad_request",
                      "the request could not be read as HTTP (a POST, PUT or PATCH needs a "
                      "Content-Length header, even with an empty body: curl -d '' ...)");
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
  return port;
}

void Server::Run() { server_->listen_after_bind(); }

void Server::Stop() { server_->stop(); }

}  // namespace evs::http
