// The HTTP API of an event store: the store's own routes, and the routes a domain adds
// (routes.h). Transport-neutral: the embedded server (server.h) and a Lambda function hand it
// the same Requests.
//
// Its own routes:
//   GET    /streams                     ?after=&limit=&prefix=  (ids that start with prefix)
//   GET    /streams/{id}                ?from=&limit=&direction=forward|backward&upcast=
//   GET    /streams/$ce-{category}      ?from=&limit=&upcast=  the events of the streams
//                                       "{category}-..." as a page of the log (as GET /log)
//   GET    /streams/$et-{type}          ?from=&limit=&upcast=  the events of that type, likewise
//   POST   /streams/{id}                [{id?, type, data, metadata?}], ES-Expected-Version;
//                                        a command: its events carry correlation and causation
//                                        ids, echoed in its responses (command_context.h)
//   DELETE /streams/{id}                ?hard=true for a tombstone; ES-Expected-Version -> 204
//   GET    /streams/{id}/metadata       the metadata and state (404 unknown, 410 never: shown)
//   PUT    /streams/{id}/metadata       {max_count?, max_age_seconds?, truncate_before?, custom?}
//   POST   /admin/scavenge              ?step=N: scavenge in the background -> 202 (409: one runs)
//   GET    /admin/scavenge              its state and progress
//   GET    /log                         ?from=&limit=&upcast=&category=&type=  (events after
//                                       position `from`; the filters take comma lists)
//   GET    /log/live                    ?from=&category=&type=  Server-Sent Events, live
//                                       (Last-Event-ID resumes)
//   GET    /subscriptions               each subscription's checkpoint, head, lag, parked, state
//   PUT    /subscriptions/{name}        create (201) or update (200) a persistent subscription
//   GET    /subscriptions/{name}        its settings and state; DELETE removes it (204)
//   GET    /subscriptions/{name}/events ?max=&wait_ms=  lease events (long poll)
//   POST   /subscriptions/{name}/ack    {positions}; /nack {positions, action?, reason?}
//   GET    /subscriptions/{name}/parked ?after=&limit=; POST .../parked/retry {ids?}
//   POST   /subjects/{id}/forget        destroy a data subject's key (personal_data.h)
//   GET    /healthz, GET /metrics       liveness; Prometheus text
//
// Every request, to these routes and to added ones alike: with a bearer token
// (ApiOptions::bearer_token), every method other than GET and HEAD needs
// "Authorization: Bearer <token>" (401, code "unauthorized", otherwise); reads stay open. A body
// over max_body_bytes is 413. A target that is not a path with valid percent escapes, or has a
// "." or ".." segment, is 400 ("malformed_target"). Stream ids in paths never look like paths
// that leave a folder (400, "invalid_stream_id"). Errors are problem documents (responses.h).
// Each request is counted in GET /metrics by route pattern, method and status.
//
// Category and type streams ($ce-..., $et-...) are virtual: made of other streams' events, read
// only (writes to them, their metadata included, are 405 "read_only_stream"). A category is the
// part of a stream id before its first '-'; one that holds no stream yet is an empty page, not a
// 404. Filtered reads (those and ?category=, ?type=) examine at most 10,000 events or 16 MiB of
// the log per request and answer the position they reached as next_from, matches or not; a
// filtered live tail sends that position at most once a second as a block with an id and no data
// (": checkpoint" then "id: <position>"), which moves an EventSource's Last-Event-ID without an
// event. Scavenged markers never match a filter.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "evs/event_store.h"
#include "evs/http/message.h"
#include "evs/http/routes.h"
#include "evs/persistent_subscriptions.h"
#include "evs/personal_data.h"
#include "evs/subscription.h"
#include "evs/upcasting.h"

namespace evs::http {

struct ApiOptions {
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  size_t max_page = 1000;           // the largest `limit` a list accepts (Params::max_page)
  size_t default_page = 100;        // `limit` when absent (Params::default_page)
  // When not empty, requests other than GET and HEAD need "Authorization: Bearer <token>" and
  // get 401 without it (or with another token). Empty: no authentication.
  std::string bearer_token;
  // Upcasts the events of GET /streams/{id} and GET /log when asked (?upcast=true); null: those
  // answer the stored events either way.
  std::shared_ptr<const Upcaster> upcaster;
  // Forgets subjects (POST /subjects/{id}/forget); null: that answers 503.
  std::shared_ptr<PersonalData> personal_data;
};

// The read side that runs beside the store; absent parts answer 503.
struct ApiFeeds {
  // The subscriptions for GET /subscriptions; called on a request's thread.
  std::function<std::vector<SubscriptionStatus>()> subscriptions;
  // The persistent subscriptions (persistent_subscriptions.h) served under
  // /subscriptions/{name} and listed in GET /subscriptions; null: those routes answer 503.
  // Shutdown() shuts it down, which answers the leases waiting in long polls.
  std::shared_ptr<PersistentSubscriptions> persistent_subscriptions;
};

// A route the Api serves: a method and the pattern it was added with (routes.h).
struct RouteInfo {
  std::string method;   // upper case, like "POST"
  std::string pattern;  // like "/streams/{id}", its parameters named as when first added
};

class Metrics;  // internal: the request metrics

class Api {
 public:
  // `store` must outlive the Api.
  explicit Api(EventStore& store, ApiOptions options = {}, ApiFeeds feeds = {});
  // Waits for a scavenge started through the API to finish.
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Where a domain adds its routes, before the Api serves (routes.h).
  Routes& routes();

  // Every route served: the Api's own and the added ones, each pattern in the order it was first
  // added and its methods in the order added (the order of a 405's Allow). For documents and
  // tests that must list what a server serves (an OpenAPI document); like adding, not safe while
  // routes are being added.
  std::vector<RouteInfo> ListRoutes() const;

  // Runs a task that may block (a synchronous handler) on a transport's threads for such work.
  using Executor = std::function<void(std::function<void()> task)>;

  // Answers one request through `respond`, called exactly once, on the thread that finishes it
  // (perhaps before HandleAsync returns): a synchronous handler (Routes::Add) runs through
  // `blocking`, or on the calling thread when that is null; an asynchronous one
  // (Routes::AddAsync) starts on the calling thread and responds from wherever its work
  // completes. Refusals that need no handler (401, 404, 405, 413, malformed targets) respond on
  // the calling thread. Never throws: any failure is a problem response. Thread-safe: a
  // transport calls it on any number of threads at once, and keeps the Api alive until every
  // `respond` has been called.
  void HandleAsync(Request request, Respond respond, const Executor& blocking = nullptr);

  // Answers one request and waits for its response (HandleAsync with no executor); for
  // transports that serve a request per call, like a Lambda function, and for tests.
  Response Handle(const Request& request);

  // Ends live streams (GET /log/live) soon and answers waiting leases of persistent
  // subscriptions (with no events); the server calls it when it stops.
  void Shutdown();

  // The request metrics, for responses a transport answers itself (server.h).
  Metrics& metrics();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace evs::http
