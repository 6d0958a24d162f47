#include "evs/http/api.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <optional>

#include "evs/http/responses.h"
#include "http/auth.h"
#include "http/event_store_routes.h"
#include "http/metrics.h"
#include "http/request_parsing.h"
#include "http/route_table.h"

namespace evs::http {

namespace {

Response Internal(const std::exception* e) {
  return Problem(500, "internal",
                 e ? std::string("unexpected failure: ") + e->what() : "unexpected failure");
}

Response MethodNotAllowed(const std::string& method, const RouteTable::Entry& entry) {
  std::string allow;
  for (const auto& served : entry.methods) allow += (allow.empty() ? "" : ", ") + served.method;
  Response r = Problem(405, "method_not_allowed", method + " is not allowed here; use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace

class Api::Impl {
 public:
  Impl(EventStore& store, ApiOptions options, ApiFeeds feeds)
      : options_(std::move(options)),
        table_([this](const std::string& pattern) { metrics_.AddRoute(pattern); }),
        own_routes_(store, options_, std::move(feeds), metrics_) {
    if (!options_.bearer_token.empty()) auth_.emplace(options_.bearer_token);
    // The table is empty: the Api's own patterns cannot clash.
    (void)own_routes_.Register(table_);
  }

  void HandleAsync(Request request, Respond respond, const Executor& blocking);

  const ApiOptions options_;
  Metrics metrics_;
  RouteTable table_;
  EventStoreRoutes own_routes_;
  std::optional<BearerAuth> auth_;  // when a token is set

 private:
  // One request on its way: owned by whichever thread answers it.
  struct Call {
    Request request;
    Params params;
    Respond respond;
    std::chrono::steady_clock::time_point start;
    std::string route = "other";
    std::atomic<bool> responded{false};
  };
  // Records the response in the metrics and hands it to the transport (once).
  void Finish(Call& call, Response response);
  // The refusal that needs no handler, if any; otherwise sets the call's route and params and
  // returns the method to serve.
  std::optional<Response> Prepare(Call& call, const RouteTable::Entry::Method*& method);
};

Api::Api(EventStore& store, ApiOptions options, ApiFeeds feeds)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(feeds))) {}
Api::~Api() = default;
Routes& Api::routes() { return impl_->table_; }
std::vector<RouteInfo> Api::ListRoutes() const {
  std::vector<RouteInfo> routes;
  for (const RouteTable::Entry& entry : impl_->table_.entries()) {
    for (const auto& served : entry.methods) routes.push_back({served.method, entry.pattern});
  }
  return routes;
}
void Api::HandleAsync(Request request, Respond respond, const Executor& blocking) {
  impl_->HandleAsync(std::move(request), std::move(respond), blocking);
}
Response Api::Handle(const Request& request) {
  std::promise<Response> answered;
  auto answer = answered.get_future();
  impl_->HandleAsync(
      request, [&answered](Response r) { answered.set_value(std::move(r)); }, nullptr);
  return answer.get();
}
void Api::Shutdown() { impl_->own_routes_.Shutdown(); }
Metrics& Api::metrics() { return impl_->metrics_; }

void Api::Impl::Finish(Call& call, Response response) {
  if (call.responded.exchange(true)) return;
  response.route = call.route;
  metrics_.Record(
      call.route, call.request.method, response.status,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - call.start).count());
  call.respond(std::move(response));
}

std::optional<Response> Api::Impl::Prepare(Call& call, const RouteTable::Entry::Method*& method) {
  const Request& request = call.request;
  if (auto unauthorized = auth_ ? auth_->Check(request) : std::nullopt) return unauthorized;
  if (request.body.size() > options_.max_body_bytes) {
    return Problem(413, "body_too_large",
                   "the body is " + std::to_string(request.body.size()) + " bytes; the limit is " +
                       std::to_string(options_.max_body_bytes));
  }
  auto target = ParseTarget(request.target);
  if (!target) {
    return Problem(400, "malformed_target",
                   "the request target is not a path with valid percent escapes and "
                   "without '.' or '..' segments");
  }
  auto match = table_.Find(target->segments);
  if (!match) {
    return Problem(404, "no_route", "no such resource: " + request.method + " " + request.target);
  }
  call.route = match->entry->pattern;
  for (const auto& served : match->entry->methods) {
    if (served.method != request.method) continue;
    call.params.path = std::move(match->path);
    call.params.query = std::move(target->query);
    call.params.default_page = options_.default_page;
    call.params.max_page = options_.max_page;
    method = &served;
    return std::nullopt;
  }
  return MethodNotAllowed(request.method, *match->entry);
}

void Api::Impl::HandleAsync(Request request, Respond respond, const Executor& blocking) {
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->respond = std::move(respond);
  call->start = std::chrono::steady_clock::now();
  const RouteTable::Entry::Method* method = nullptr;
  std::optional<Response> refused;
  try {
    refused = Prepare(*call, method);
  } catch (const std::exception& e) {
    refused = Internal(&e);
  } catch (...) {
    refused = Internal(nullptr);
  }
  if (refused) return Finish(*call, std::move(*refused));

  if (method->async_handler) {
    try {
      method->async_handler(call->request, call->params, [this, call](Response response) {
        Finish(*call, std::move(response));
      });
    } catch (const std::exception& e) {
      Finish(*call, Internal(&e));
    } catch (...) {
      Finish(*call, Internal(nullptr));
    }
    return;
  }
  auto run = [this, call, handler = &method->handler] {
    Response response;
    try {
      response = (*handler)(call->request, call->params);
    } catch (const std::exception& e) {
      response = Internal(&e);
    } catch (...) {
      response = Internal(nullptr);
    }
    Finish(*call, std::move(response));
  };
  if (blocking) {
    blocking(std::move(run));
  } else {
    run();
  }
}

}  // namespace evs::http
