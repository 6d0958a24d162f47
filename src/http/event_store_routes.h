// The Api's own routes (evs/http/api.h lists them): the event store, the read side's status and
// operations. Registered into the Api's routes like a domain's, so that they are served alike.
#pragma once

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "evs/event_store.h"
#include "evs/http/api.h"
#include "feed/log_filter.h"
#include "http/metrics.h"

namespace evs::http {

// The last scavenge started through the API.
struct ScavengeState {
  std::string state = "idle";  // idle, running, done, failed
  ScavengeProgress progress;
  std::optional<ScavengeReport> report;  // done
  std::string error;                     // failed
};

// A persistent subscription as GET /subscriptions and /subscriptions/{name} show it.
nlohmann::ordered_json PersistentSubscriptionJson(const PersistentSubscriptionInfo& info);
// How much of the log one filtered read examines (GET /log?category=&type=, GET /streams/$ce-...,
// each read of GET /log/live with filters) before it answers with the position it reached.
inline constexpr feed::ScanBudget kFilteredReadBudget{
    .max_events = 10000, .max_bytes = 16u << 20, .events_per_read = 256};

class EventStoreRoutes {
 public:
  EventStoreRoutes(EventStore& store, const ApiOptions& options, ApiFeeds feeds,
                   const Metrics& metrics)
      : store_(store), options_(options), feeds_(std::move(feeds)), metrics_(metrics) {}
  // Waits for a scavenge started through the API.
  ~EventStoreRoutes() { JoinScavenge(); }

  // Adds every route; each handler runs on this object, which must outlive serving.
  Status Register(Routes& routes);

  // Ends live streams (GET /log/live) soon, and answers waiting leases.
  void Shutdown() {
    stopping_ = true;
    if (feeds_.persistent_subscriptions) feeds_.persistent_subscriptions->Shutdown();
  }

 private:
  Response Healthz(const Request&, const Params&);
  Response RenderMetrics(const Request&, const Params&);
  Response ListStreams(const Request&, const Params& params);
  Response ReadStream(const Request&, const Params& params);
  // Asynchronous: responds once the append is durable.
  void AppendToStream(const Request& request, const Params& params, Respond respond);
  Response DeleteStream(const Request& request, const Params& params);
  Response GetStreamMetadata(const Request&, const Params& params);
  Response PutStreamMetadata(const Request& request, const Params& params);
  Response StartScavenge(const Request&, const Params& params);
  Response GetScavenge(const Request&, const Params&);
  Response ReadLog(const Request&, const Params& params);
  Response LiveLog(const Request& request, const Params& params);
  Response Subscriptions(const Request&, const Params&);
  Response ForgetSubject(const Request&, const Params& params);
  // Persistent subscriptions (persistent_subscription_handlers.cc).
  Status RegisterPersistentSubscriptions(Routes& routes);
  Response PutPersistent(const Request& request, const Params& params);
  Response GetPersistent(const Request&, const Params& params);
  Response DeletePersistent(const Request&, const Params& params);
  void LeaseEvents(const Request&, const Params& params, Respond respond);
  Response AckEvents(const Request& request, const Params& params);
  Response NackEvents(const Request& request, const Params& params);
  Response ListParked(const Request&, const Params& params);
  Response RetryParked(const Request& request, const Params& params);

  // A virtual stream ($ce-..., $et-...): its events as a page of the log.
  Response ReadVirtualStream(const std::string& stream, const Params& params);
  // A page of the log that `filter` keeps (?from=&limit=&upcast=), as GET /log answers; with
  // "stream_id" first when `stream` is not empty.
  Response ReadLogPage(const Params& params, const feed::LogFilter& filter,
                       const std::string& stream);
  Response StreamMetadata(const std::string& stream);
  ScavengeState ScavengeStatus();
  void JoinScavenge();
  // Upcasts `events` in place when `asked` (?upcast=true) and the API has an upcaster.
  Status UpcastIfAsked(bool asked, std::vector<RecordedEvent>& events) const;

  EventStore& store_;
  const ApiOptions& options_;
  ApiFeeds feeds_;
  const Metrics& metrics_;
  std::atomic<bool> stopping_{false};

  std::mutex scavenge_mu_;
  ScavengeState scavenge_;
  std::thread scavenge_thread_;
};

}  // namespace evs::http
