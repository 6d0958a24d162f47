// A Lambda Runtime API on 127.0.0.1 for tests and the benchmark: the three calls a custom
// runtime makes (next, response, error) plus the init error. Invoke() queues an event and returns
// its request id; WaitForAnswer() returns what the runtime posted for it.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

namespace evs::testing {

// An API Gateway HTTP API event (payload format 2.0) for `method` and `path`, with a JSON body.
inline nlohmann::json ApiGatewayEvent(const std::string& method, const std::string& path,
                                      const std::string& body = "") {
  nlohmann::json event = {
      {"version", "2.0"},
      {"routeKey", "$default"},
      {"rawPath", path},
      {"rawQueryString", ""},
      {"headers", {{"content-type", "application/json"}, {"host", "example"}}},
      {"requestContext",
       {{"accountId", "000000000000"},
        {"apiId", "evs"},
        {"http",
         {{"method", method}, {"path", path}, {"protocol", "HTTP/1.1"}, {"sourceIp", "127.0.0.1"}}},
        {"requestId", "r"},
        {"stage", "$default"}}},
      {"isBase64Encoded", false}};
  if (!body.empty()) event["body"] = body;
  return event;
}

struct RuntimeAnswer {
  bool ok = false;         // a response (true) or an error (false)
  std::string body;        // the response, or the error document
  std::string error_type;  // Lambda-Runtime-Function-Error-Type of an error
};

class FakeRuntimeApi {
 public:
  FakeRuntimeApi() {
    server_.set_tcp_nodelay(true);  // no Nagle delays between the runtime and this API
    server_.Get("/2018-06-01/runtime/invocation/next",
                [this](const httplib::Request&, httplib::Response& res) { Next(res); });
    server_.Post(R"(/2018-06-01/runtime/invocation/([^/]+)/(response|error))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   RuntimeAnswer answer;
                   answer.ok = req.matches[2] == "response";
                   answer.body = req.body;
                   answer.error_type = req.get_header_value("Lambda-Runtime-Function-Error-Type");
                   {
                     std::lock_guard guard(mu_);
                     answers_[req.matches[1]] = answer;
                   }
                   cv_.notify_all();
                   res.status = 202;
                   res.set_content("{\"status\":\"OK\"}", "application/json");
                 });
    server_.Post("/2018-06-01/runtime/init/error", [this](const httplib::Request& req,
                                                          httplib::Response& res) {
      {
        std::lock_guard guard(mu_);
        init_error_ = RuntimeAnswer{false, req.body,
                                    req.get_header_value("Lambda-Runtime-Function-Error-Type")};
      }
      cv_.notify_all();
      res.status = 202;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  ~FakeRuntimeApi() {
    {
      std::lock_guard guard(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

  // Queues an event; `deadline_in` from now is its Lambda-Runtime-Deadline-Ms.
  std::string Invoke(std::string event,
                     std::chrono::milliseconds deadline_in = std::chrono::seconds(30)) {
    std::lock_guard guard(mu_);
    std::string id = "req-" + std::to_string(++counter_);
    const int64_t deadline =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            (std::chrono::system_clock::now() + deadline_in).time_since_epoch())
            .count();
    queue_.push_back({id, std::move(event), deadline});
    cv_.notify_all();
    return id;
  }

  std::optional<RuntimeAnswer> WaitForAnswer(const std::string& id,
                                             std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return answers_.count(id) != 0; })) return {};
    return answers_[id];
  }

  std::optional<RuntimeAnswer> WaitForInitError(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return init_error_.has_value(); });
    return init_error_;
  }

  // When the runtime last asked for an invocation (for cold-start measurements).
  std::chrono::steady_clock::time_point first_next() const {
    std::lock_guard guard(mu_);
    return first_next_;
  }

 private:
  struct Pending {
    std::string id;
    std::string event;
    int64_t deadline_ms;
  };

  // Long-polls like the real API: answers when an event is queued (bounded, for shutdown).
  void Next(httplib::Response& res) {
    std::unique_lock lock(mu_);
    if (first_next_ == std::chrono::steady_clock::time_point{}) {
      first_next_ = std::chrono::steady_clock::now();
    }
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      res.status = 503;
      return;
    }
    Pending next = std::move(queue_.front());
    queue_.pop_front();
    res.status = 200;
    res.set_header("Lambda-Runtime-Aws-Request-Id", next.id);
    res.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(next.deadline_ms));
    res.set_header("Lambda-Runtime-Invoked-Function-Arn",
                   "arn:aws:lambda:us-east-1:000000000000:function:evs-test");
    res.set_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793");
    res.set_content(next.event, "application/json");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::map<std::string, RuntimeAnswer> answers_;
  std::optional<RuntimeAnswer> init_error_;
  std::chrono::steady_clock::time_point first_next_{};
  bool stopping_ = false;
  int counter_ = 0;
};

}  // namespace evs::testing
