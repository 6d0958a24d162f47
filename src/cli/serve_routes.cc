#include "cli/serve_routes.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cli/console_routes.h"
#include "common/event_json.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"

namespace evs::cli {
namespace {

// The read side's checkpoint stores and what is parked in them (the routes in serve_routes.h).
class CheckpointRoutes {
 public:
  explicit CheckpointRoutes(CheckpointStores stores) : stores_(std::move(stores)) {}

  // GET /checkpoints
  http::Response List(const http::Request&, const http::Params&) const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [name, store] : stores_) {
      auto parked = store->CountParked("");
      if (!parked.ok()) return http::ProblemFor(parked.error());
      list.push_back({{"name", name}, {"parked", *parked}});
    }
    return http::JsonResponse({{"stores", std::move(list)}});
  }

  // GET /checkpoints/{store}/parked?subscription=&after=&limit=
  http::Response Parked(const http::Request&, const http::Params& params) const {
    CheckpointStore* store = Find(params);
    if (!store) return UnknownStore(params);
    auto limit = http::QueryLimit(params);
    if (!limit) return limit.problem();
    auto after = http::QueryInt(params, "after", 0, 0, INT64_MAX);
    if (!after) return after.problem();
    auto name = params.query.find("subscription");
    auto parked = store->ListParked(name == params.query.end() ? "" : name->second, *after,
                                    static_cast<size_t>(*limit));
    if (!parked.ok()) return http::ProblemFor(parked.error());
    nlohmann::json list = nlohmann::json::array();
    for (const ParkedEvent& p : *parked) {
      list.push_back({{"id", p.id},
                      {"subscription", p.subscription},
                      {"event", EventToJson(p.event)},
                      {"reason", p.error},
                      {"attempts", p.attempts},
                      {"parked_at", FormatTimestamp(p.parked_at_us)},
                      {"retry_requested", p.retry_requested}});
    }
    nlohmann::ordered_json body = {{"parked", list}};
    body["next_after"] = parked->size() == static_cast<size_t>(*limit)
                             ? nlohmann::json(parked->back().id)
                             : nlohmann::json(nullptr);
    return http::JsonResponse(body);
  }

  // POST /checkpoints/{store}/parked/{id}/retry
  http::Response Retry(const http::Request&, const http::Params& params) const {
    CheckpointStore* store = Find(params);
    if (!store) return UnknownStore(params);
    const std::string& text = params.path.at("id");
    int64_t id = 0;
    try {
      size_t used = 0;
      id = std::stoll(text, &used);
      if (used != text.size() || id < 1) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      return http::Problem(400, "invalid_parameter",
                           "a parked event's id is a positive integer, not '" + text + "'");
    }
    if (Status s = store->RequestRetry(id); !s.ok()) return http::ProblemFor(s.error());
    return http::JsonResponse({{"id", id}, {"retry_requested", true}});
  }

 private:
  CheckpointStore* Find(const http::Params& params) const {
    auto it = stores_.find(params.path.at("store"));
    return it == stores_.end() ? nullptr : it->second;
  }
  static http::Response UnknownStore(const http::Params& params) {
    return http::Problem(404, "not_found",
                         "no checkpoint store '" + params.path.at("store") +
                             "' in this server (GET /checkpoints lists them)");
  }

  const CheckpointStores stores_;
};

}  // namespace

Status AddServeRoutes(http::Api& api, cart::CartHttp& cart, CheckpointStores checkpoints) {
  if (Status s = cart.Register(api.routes()); !s.ok()) return s;
  // Shared by the handlers, which the Api keeps as long as it serves.
  auto routes = std::make_shared<const CheckpointRoutes>(std::move(checkpoints));
  const auto bind = [routes](http::Response (CheckpointRoutes::*handler)(
                        const http::Request&, const http::Params&) const) {
    return [routes, handler](const http::Request& request, const http::Params& params) {
      return ((*routes).*handler)(request, params);
    };
  };
  if (Status s = api.routes().Add("GET", "/checkpoints", bind(&CheckpointRoutes::List)); !s.ok()) {
    return s;
  }
  if (Status s =
          api.routes().Add("GET", "/checkpoints/{store}/parked", bind(&CheckpointRoutes::Parked));
      !s.ok()) {
    return s;
  }
  if (Status s = api.routes().Add("POST", "/checkpoints/{store}/parked/{id}/retry",
                                  bind(&CheckpointRoutes::Retry));
      !s.ok()) {
    return s;
  }
  if (Status s = AddConsoleRoutes(api.routes()); !s.ok()) return s;
  return api.routes().Add("GET", "/openapi.json", [](const http::Request&, const http::Params&) {
    http::Response r;
    r.content_type = "application/json";
    r.body = std::string(OpenApiDocument());
    return r;
  });
}

}  // namespace evs::cli
