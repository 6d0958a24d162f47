// The persistent subscriptions' endpoints (README.md, "Persistent subscriptions"): define,
// lease (a long poll answered from the manager's thread), ack, nack, parked events.
#include <set>

#include "common/event_json.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "http/event_store_routes.h"

namespace evs::http {

namespace {

constexpr size_t kMaxReasonBytes = 1024;

Response Unavailable() {
  return Problem(503, "unavailable", "no persistent subscriptions run in this server");
}

// The manager's refusals as problems: bad input is 400, an unknown subscription 404.
Response SubscriptionProblem(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
      return Problem(400, "invalid_parameter", error.message);
    case ErrorCode::kLimitExceeded:
      return Problem(400, "limit_exceeded", error.message);
    case ErrorCode::kNotFound:
      return Problem(404, "subscription_not_found", error.message);
    default:
      return ProblemFor(error);
  }
}

Response InvalidField(const std::string& detail) { return Problem(400, "invalid_field", detail); }

// The subscription's name from the path, or the 400 that refuses it.
Parsed<std::string> NameParam(const Params& params) {
  const std::string& name = params.path.at("name");
  if (Status s = ValidatePersistentSubscriptionName(name); !s.ok()) {
    return Problem(400, "invalid_subscription_name", s.error().message);
  }
  return name;
}

// An integer member of `body` within [min, max], `fallback` when absent.
Parsed<int64_t> IntField(const nlohmann::json& body, const char* key, int64_t fallback, int64_t min,
                         int64_t max) {
  auto it = body.find(key);
  if (it == body.end()) return fallback;
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX) ||
      it->get<int64_t>() < min || it->get<int64_t>() > max) {
    return InvalidField(std::string(key) + " must be an integer from " + std::to_string(min) +
                        " to " + std::to_string(max));
  }
  return it->get<int64_t>();
}

// An array of integers, `key` of `body`; absent is an empty array unless `required`.
Parsed<std::vector<int64_t>> IntArrayField(const nlohmann::json& body, const char* key,
                                           bool required) {
  auto it = body.find(key);
  if (it == body.end()) {
    if (required) return InvalidField(std::string(key) + " is required");
    return std::vector<int64_t>{};
  }
  if (!it->is_array()) return InvalidField(std::string(key) + " must be an array of integers");
  std::vector<int64_t> out;
  for (const auto& item : *it) {
    if (!item.is_number_integer() ||
        (item.is_number_unsigned() && item.get<uint64_t>() > INT64_MAX)) {
      return InvalidField(std::string(key) + " must be an array of integers");
    }
    out.push_back(item.get<int64_t>());
  }
  return out;
}

// A JSON object body with only the members in `allowed`.
Parsed<nlohmann::json> ObjectBody(const Request& request, const std::set<std::string>& allowed) {
  auto body = JsonBody(request);
  if (!body) return body.problem();
  if (!body->is_object()) return InvalidField("the body must be a JSON object");
  for (const auto& [key, value] : body->items()) {
    if (!allowed.count(key)) return InvalidField("unknown member '" + key + "'");
  }
  return std::move(*body);
}

Parsed<PersistentSubscriptionSettings> SettingsBody(const Request& request) {
  auto body =
      ObjectBody(request, {"from", "category", "event_types", "ack_timeout_ms", "max_deliveries"});
  if (!body) return body.problem();
  PersistentSubscriptionSettings s;
  auto from = IntField(*body, "from", 0, 0, INT64_MAX);
  if (!from) return from.problem();
  s.from = *from;
  auto timeout = IntField(*body, "ack_timeout_ms", s.ack_timeout_ms, 1, 3600000);
  if (!timeout) return timeout.problem();
  s.ack_timeout_ms = *timeout;
  auto deliveries = IntField(*body, "max_deliveries", s.max_deliveries, 1, 1000);
  if (!deliveries) return deliveries.problem();
  s.max_deliveries = *deliveries;
  if (auto it = body->find("category"); it != body->end()) {
    if (!it->is_string()) return InvalidField("category must be a string");
    s.category = it->get<std::string>();
  }
  if (auto it = body->find("event_types"); it != body->end()) {
    if (!it->is_array()) return InvalidField("event_types must be an array of strings");
    for (const auto& type : *it) {
      if (!type.is_string()) return InvalidField("event_types must be an array of strings");
      s.event_types.push_back(type.get<std::string>());
    }
  }
  if (Status valid = ValidatePersistentSubscriptionSettings(s); !valid.ok()) {
    return InvalidField(valid.error().message);
  }
  return s;
}

}  // namespace

nlohmann::ordered_json PersistentSubscriptionJson(const PersistentSubscriptionInfo& info) {
  const PersistentSubscriptionSettings& s = info.settings;
  return {{"name", info.name},
          {"kind", "persistent"},
          {"from", s.from},
          {"category", s.category},
          {"event_types", s.event_types},
          {"ack_timeout_ms", s.ack_timeout_ms},
          {"max_deliveries", s.max_deliveries},
          {"checkpoint", info.checkpoint},
          {"head", info.head},
          {"lag", std::max<int64_t>(0, info.head - info.checkpoint)},
          {"in_flight", info.in_flight},
          {"parked", info.parked}};
}

Status EventStoreRoutes::RegisterPersistentSubscriptions(Routes& routes) {
  using R = EventStoreRoutes;
  Status added =
      AddMemberRoutes<R>(routes, *this,
                         {
                             {"GET", "/subscriptions/{name}", &R::GetPersistent},
                             {"PUT", "/subscriptions/{name}", &R::PutPersistent},
                             {"DELETE", "/subscriptions/{name}", &R::DeletePersistent},
                             {"POST", "/subscriptions/{name}/ack", &R::AckEvents},
                             {"POST", "/subscriptions/{name}/nack", &R::NackEvents},
                             {"GET", "/subscriptions/{name}/parked", &R::ListParked},
                             {"POST", "/subscriptions/{name}/parked/retry", &R::RetryParked},
                         });
  if (!added.ok()) return added;
  return routes.AddAsync("GET", "/subscriptions/{name}/events",
                         [this](const Request& request, const Params& params, Respond respond) {
                           LeaseEvents(request, params, std::move(respond));
                         });
}

Response EventStoreRoutes::PutPersistent(const Request& request, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  auto settings = SettingsBody(request);
  if (!settings) return settings.problem();
  auto created = manager->Put(*name, *settings);
  if (!created.ok()) return SubscriptionProblem(created.error());
  auto info = manager->Get(*name);
  if (!info.ok()) return SubscriptionProblem(info.error());
  return JsonResponse(PersistentSubscriptionJson(*info), *created ? 201 : 200);
}

Response EventStoreRoutes::GetPersistent(const Request&, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  auto info = manager->Get(*name);
  if (!info.ok()) return SubscriptionProblem(info.error());
  return JsonResponse(PersistentSubscriptionJson(*info));
}

Response EventStoreRoutes::DeletePersistent(const Request&, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  if (Status s = manager->Delete(*name); !s.ok()) return SubscriptionProblem(s.error());
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

void EventStoreRoutes::LeaseEvents(const Request&, const Params& params, Respond respond) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return respond(Unavailable());
  auto name = NameParam(params);
  if (!name) return respond(name.problem());
  // The manager checks the upper bounds (its options: max_lease, max_wait).
  auto max = QueryInt(params, "max", 10, 1, INT32_MAX);
  if (!max) return respond(max.problem());
  auto wait = QueryInt(params, "wait_ms", 0, 0, INT32_MAX);
  if (!wait) return respond(wait.problem());
  manager->Lease(*name, static_cast<size_t>(*max), std::chrono::milliseconds(*wait),
                 [respond](Result<std::vector<LeasedEvent>> leased) {
                   if (!leased.ok()) return respond(SubscriptionProblem(leased.error()));
                   nlohmann::json events = nlohmann::json::array();
                   for (const LeasedEvent& l : *leased) {
                     nlohmann::json e = EventToJson(l.event);
                     e["delivery_count"] = l.deliveries;
                     events.push_back(std::move(e));
                   }
                   respond(JsonResponse({{"events", std::move(events)}}));
                 });
}

Response EventStoreRoutes::AckEvents(const Request& request, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  auto body = ObjectBody(request, {"positions"});
  if (!body) return body.problem();
  auto positions = IntArrayField(*body, "positions", /*required=*/true);
  if (!positions) return positions.problem();
  auto outcome = manager->Ack(*name, *positions);
  if (!outcome.ok()) return SubscriptionProblem(outcome.error());
  return JsonResponse({{"acked", outcome->acked},
                       {"ignored", outcome->ignored},
                       {"checkpoint", outcome->checkpoint}});
}

Response EventStoreRoutes::NackEvents(const Request& request, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  auto body = ObjectBody(request, {"positions", "action", "reason"});
  if (!body) return body.problem();
  auto positions = IntArrayField(*body, "positions", /*required=*/true);
  if (!positions) return positions.problem();
  NackAction action = NackAction::kRetry;
  if (auto it = body->find("action"); it != body->end()) {
    if (*it == "park") {
      action = NackAction::kPark;
    } else if (*it != "retry") {
      return InvalidField("action must be \"retry\" or \"park\"");
    }
  }
  std::string reason;
  if (auto it = body->find("reason"); it != body->end()) {
    if (!it->is_string() || it->get<std::string>().size() > kMaxReasonBytes) {
      return InvalidField("reason must be a string of at most " + std::to_string(kMaxReasonBytes) +
                          " bytes");
    }
    reason = it->get<std::string>();
  }
  auto outcome = manager->Nack(*name, *positions, action, reason);
  if (!outcome.ok()) return SubscriptionProblem(outcome.error());
  return JsonResponse({{"retried", outcome->retried},
                       {"parked", outcome->parked},
                       {"ignored", outcome->ignored},
                       {"checkpoint", outcome->checkpoint}});
}

Response EventStoreRoutes::ListParked(const Request&, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  auto limit = QueryLimit(params);
  if (!limit) return limit.problem();
  auto after = QueryInt(params, "after", 0, 0, INT64_MAX);
  if (!after) return after.problem();
  auto parked = manager->ListParked(*name, *after, static_cast<size_t>(*limit));
  if (!parked.ok()) return SubscriptionProblem(parked.error());
  nlohmann::json list = nlohmann::json::array();
  for (const ParkedEvent& p : *parked) {
    list.push_back({{"id", p.id},
                    {"event", EventToJson(p.event)},
                    {"reason", p.error},
                    {"delivery_count", p.attempts},
                    {"parked_at", FormatTimestamp(p.parked_at_us)},
                    {"retry_requested", p.retry_requested}});
  }
  nlohmann::ordered_json body = {{"parked", list}};
  body["next_after"] = parked->size() == static_cast<size_t>(*limit)
                           ? nlohmann::json(parked->back().id)
                           : nlohmann::json(nullptr);
  return JsonResponse(body);
}

Response EventStoreRoutes::RetryParked(const Request& request, const Params& params) {
  auto& manager = feeds_.persistent_subscriptions;
  if (!manager) return Unavailable();
  auto name = NameParam(params);
  if (!name) return name.problem();
  std::vector<int64_t> ids;
  if (!request.body.empty()) {
    auto body = ObjectBody(request, {"ids"});
    if (!body) return body.problem();
    auto listed = IntArrayField(*body, "ids", /*required=*/false);
    if (!listed) return listed.problem();
    ids = std::move(*listed);
  }
  auto retrying = manager->RetryParked(*name, ids);
  if (!retrying.ok()) return SubscriptionProblem(retrying.error());
  return JsonResponse({{"retrying", *retrying}});
}

}  // namespace evs::http
