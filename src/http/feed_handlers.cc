// The read side's endpoints: the subscriptions, the live tail.
#include <charconv>
#include <chrono>

#include "common/event_json.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "http/event_store_routes.h"
#include "http/log_filter_params.h"
#include "http/request_parsing.h"

namespace evs::http {

namespace {

constexpr auto kHeartbeat = std::chrono::seconds(15);
// How often, at most, a filtered live tail tells the client the position it has examined.
constexpr auto kCheckpointEvery = std::chrono::seconds(1);

}  // namespace

Response EventStoreRoutes::Subscriptions(const Request&, const Params&) {
  if (!feeds_.subscriptions && !feeds_.persistent_subscriptions) {
    return Problem(503, "unavailable", "no subscriptions run in this server");
  }
  const int64_t head = store_.HeadPosition().ok() ? *store_.HeadPosition() : 0;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  std::vector<SubscriptionStatus> running;
  if (feeds_.subscriptions) running = feeds_.subscriptions();
  for (const SubscriptionStatus& s : running) {
    nlohmann::ordered_json item = {{"name", s.name},
                                   {"state", StateName(s.state)},
                                   {"checkpoint", s.checkpoint},
                                   {"head", head},
                                   {"lag", std::max<int64_t>(0, head - s.checkpoint)},
                                   {"parked", s.parked},
                                   {"delivered", s.delivered}};
    if (!s.error.empty()) item["error"] = s.error;
    if (s.read_failures > 0) {
      item["read_failures"] = s.read_failures;
      item["retrying_since"] = FormatTimestamp(s.retrying_since_us);
    }
    list.push_back(std::move(item));
  }
  if (feeds_.persistent_subscriptions) {
    for (const PersistentSubscriptionInfo& p : feeds_.persistent_subscriptions->List()) {
      list.push_back(PersistentSubscriptionJson(p));
    }
  }
  return JsonResponse({{"subscriptions", list}});
}

Response EventStoreRoutes::LiveLog(const Request& request, const Params& params) {
  auto from = QueryInt(params, "from", -1, 0, INT64_MAX);
  if (!from) return from.problem();
  auto filter = LogFilterParams(params);
  if (!filter) return filter.problem();
  int64_t start = *from;
  // A reconnecting EventSource sends the last id it saw.
  if (auto last = request.Header("Last-Event-ID"); last && start < 0) {
    int64_t id = 0;
    auto [end, ec] = std::from_chars(last->data(), last->data() + last->size(), id);
    if (ec == std::errc() && end == last->data() + last->size() && id >= 0) start = id;
  }
  if (start < 0) start = store_.HeadPosition().ok() ? *store_.HeadPosition() : 0;  // from now
  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.stream = [this, start,
              filter = std::move(*filter)](const std::function<bool(std::string_view)>& write) {
    using Clock = std::chrono::steady_clock;
    int64_t position = start;  // examined up to here
    int64_t sent = start;      // the last id the client has
    auto quiet_since = Clock::now();
    auto sent_at = Clock::now();
    if (!write(": evs live tail after position " + std::to_string(start) + "\n\n")) return;
    while (!stopping_) {
      auto page = feed::ReadFilteredLog(store_, position, 256, filter, kFilteredReadBudget);
      if (!page.ok()) {
        write("event: error\ndata: " + page.error().message + "\n\n");
        return;
      }
      position = page->next_position;
      const auto now = Clock::now();
      std::string chunk;
      for (const RecordedEvent& e : page->events) {
        chunk += "id: " + std::to_string(e.position) + "\nevent: " + e.type + "\ndata: " +
                 EventToJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                 "\n\n";
        sent = e.position;
        sent_at = now;
      }
      // Past events a filter left out: an id with no data moves the client's Last-Event-ID
      // without dispatching an event, so that a reconnect resumes past them.
      if (position > sent && now - sent_at >= kCheckpointEvery) {
        chunk += ": checkpoint\nid: " + std::to_string(position) + "\n\n";
        sent = position;
        sent_at = now;
      }
      if (!chunk.empty()) {
        if (!write(chunk)) return;
        quiet_since = now;
      }
      if (position < page->head_position) continue;  // more to examine
      (void)store_.WaitForHead(position, std::chrono::milliseconds(250));
      if (Clock::now() - quiet_since > kHeartbeat) {
        if (!write(": keep-alive\n\n")) return;  // also finds clients that left
        quiet_since = Clock::now();
      }
    }
  };
  return r;
}

}  // namespace evs::http
