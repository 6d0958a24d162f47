#include "http/api.h"

#include <exception>

#include "http/problem.h"

namespace evs::http {

namespace {

const std::vector<std::string> kRoutes = {"/healthz",
                                          "/metrics",
                                          "/carts",
                                          "/carts/{id}",
                                          "/carts/{id}/items",
                                          "/carts/{id}/items/{name}",
                                          "/carts/{id}/checkout",
                                          "/streams",
                                          "/streams/{id}",
                                          "/log",
                                          "/log/live",
                                          "/reports/top-items",
                                          "/subscriptions",
                                          "/subjects/{id}/forget"};

Response MethodNotAllowed(const std::string& method, const std::string& allow) {
  Response r = Problem(405, "method_not_allowed", method + " is not allowed here; use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace

Api::Api(EventStore& store, ApiOptions options, ApiFeeds feeds)
    : store_(store),
      options_(options),
      carts_(store, options.repository),
      cart_bodies_(options.repository.cache_capacity),
      feeds_(std::move(feeds)),
      metrics_(kRoutes) {
  if (!options_.bearer_token.empty()) auth_.emplace(options_.bearer_token);
}

Response Api::Handle(const Request& request) {
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

Response Api::Route(const Request& request, const Target& target, std::string& route) {
  const auto& s = target.segments;
  const std::string& m = request.method;
  auto is = [&](std::initializer_list<const char*> fixed) {
    // Matches segment by segment; nullptr stands for a parameter.
    if (s.size() != fixed.size()) return false;
    size_t i = 0;
    for (const char* f : fixed) {
      if (f != nullptr && s[i] != f) return false;
      ++i;
    }
    return true;
  };
  if (is({"healthz"})) {
    route = "/healthz";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    Response r;
    r.body = R"({"status":"ok"})";
    return r;
  }
  if (is({"metrics"})) {
    route = "/metrics";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return RenderMetrics();
  }
  if (is({"carts"})) {
    route = "/carts";
    if (m == "POST") return OpenCart(request);
    if (m == "GET") return ListCarts(target);
    return MethodNotAllowed(m, "GET, POST");
  }
  if (is({"reports", "top-items"})) {
    route = "/reports/top-items";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return TopItems(target);
  }
  if (is({"subscriptions"})) {
    route = "/subscriptions";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return Subscriptions();
  }
  if (is({"log", "live"})) {
    route = "/log/live";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return LiveLog(request, target);
  }
  if (is({"carts", nullptr})) {
    route = "/carts/{id}";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return GetCart(s[1]);
  }
  if (is({"carts", nullptr, "items"})) {
    route = "/carts/{id}/items";
    if (m != "POST") return MethodNotAllowed(m, "POST");
    return AddItem(request, s[1]);
  }
  if (is({"carts", nullptr, "items", nullptr})) {
    route = "/carts/{id}/items/{name}";
    if (m != "DELETE") return MethodNotAllowed(m, "DELETE");
    return RemoveItem(request, target, s[1], s[3]);
  }
  if (is({"carts", nullptr, "checkout"})) {
    route = "/carts/{id}/checkout";
    if (m != "POST") return MethodNotAllowed(m, "POST");
    return Checkout(request, s[1]);
  }
  if (is({"streams"})) {
    route = "/streams";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return ListStreams(target);
  }
  if (is({"streams", nullptr})) {
    route = "/streams/{id}";
    if (auto invalid = CheckPathStreamId(s[1])) return std::move(*invalid);
    if (m == "GET") return ReadStream(target, s[1]);
    if (m == "POST") return AppendToStream(request, s[1]);
    if (m == "DELETE") return DeleteStream(request, target, s[1]);
    return MethodNotAllowed(m, "GET, POST, DELETE");
  }
  if (is({"streams", nullptr, "metadata"})) {
    route = "/streams/{id}/metadata";
    if (auto invalid = CheckPathStreamId(s[1])) return std::move(*invalid);
    if (m == "GET") return GetStreamMetadata(s[1]);
    if (m == "PUT") return PutStreamMetadata(request, s[1]);
    return MethodNotAllowed(m, "GET, PUT");
  }
  if (is({"admin", "scavenge"})) {
    route = "/admin/scavenge";
    if (m == "GET") return GetScavenge();
    if (m == "POST") return StartScavenge(target);
    return MethodNotAllowed(m, "GET, POST");
  }
  if (is({"subjects", nullptr, "forget"})) {
    route = "/subjects/{id}/forget";
    if (m != "POST") return MethodNotAllowed(m, "POST");
    return ForgetSubject(s[1]);
  }
  if (is({"log"})) {
    route = "/log";
    if (m != "GET") return MethodNotAllowed(m, "GET");
    return ReadLog(target);
  }
  return Problem(404, "no_route", "no such resource: " + request.method + " " + request.target);
}

Response Api::RenderMetrics() {
  Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.Render(store_.Stats(), store_.HeadPosition().ok() ? *store_.HeadPosition() : 0);
  return r;
}

}  // namespace evs::http
