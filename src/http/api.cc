#include "evs/http/api.h"

#include <chrono>
#include <exception>
#include <optional>

#include "evs/http/responses.h"
#include "http/auth.h"
#include "http/event_store_routes.h"
#include "http/metrics.h"
#include "http/request_parsing.h"
#include "http/route_table.h"

namespace evs::http {

namespace {

Response MethodNotAllowed(const std::string& method, const RouteTable::Entry& entry) {
  std::string allow;
  for (const auto& served : entry.methods) allow += (allow.empty() ? "" : ", ") + served.first;
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

  Response Handle(const Request& request);

  const ApiOptions options_;
  Metrics metrics_;
  RouteTable table_;
  EventStoreRoutes own_routes_;
  std::optional<BearerAuth> auth_;  // when a token is set

 private:
  Response Route(const Request& request, const Target& target, std::string& route);
};

Api::Api(EventStore& store, ApiOptions options, ApiFeeds feeds)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(feeds))) {}
Api::~Api() = default;
Routes& Api::routes() { return impl_->table_; }
Response Api::Handle(const Request& request) { return impl_->Handle(request); }
void Api::Shutdown() { impl_->own_routes_.Shutdown(); }
Metrics& Api::metrics() { return impl_->metrics_; }

Response Api::Impl::Handle(const Request& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string route = "other";
  Response response;
  try {
    std::optional<Response> unauthorized = auth_ ? auth_->Check(request) : std::nullopt;
    if (unauthorized) {
      response = std::move(*unauthorized);
    } else if (request.body.size() > options_.max_body_bytes) {
      response = Problem(413, "body_too_large",
                         "the body is " + std::to_string(request.body.size()) +
                             " bytes; the limit is " + std::to_string(options_.max_body_bytes));
    } else if (auto target = ParseTarget(request.target)) {
      response = Route(request, *target, route);
    } else {
      response = Problem(400, "malformed_target",
                         "the request target is not a path with valid percent escapes and "
                         "without '.' or '..' segments");
    }
  } catch (const std::exception& e) {
    response = Problem(500, "internal", std::string("unexpected failure: ") + e.what());
  } catch (...) {
    response = Problem(500, "internal", "unexpected failure");
  }
  response.route = route;
  metrics_.Record(route, request.method, response.status,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return response;
}

Response Api::Impl::Route(const Request& request, const Target& target, std::string& route) {
  auto match = table_.Find(target.segments);
  if (!match) {
    return Problem(404, "no_route", "no such resource: " + request.method + " " + request.target);
  }
  route = match->entry->pattern;
  for (const auto& [method, handler] : match->entry->methods) {
    if (method != request.method) continue;
    Params params;
    params.path = std::move(match->path);
    params.query = target.query;
    params.default_page = options_.default_page;
    params.max_page = options_.max_page;
    return handler(request, params);
  }
  return MethodNotAllowed(request.method, *match->entry);
}

}  // namespace evs::http
