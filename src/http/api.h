// The HTTP API of `evs serve`: the shopping cart, the event store, and operations.
//
//   POST   /carts                       {customer_id?, email?} -> 201 {cart_id, version}
//   GET    /carts/{id}                  the cart, ETag "<version>"
//   POST   /carts/{id}/items            {name, quantity?, unit_price_cents?} -> the cart
//   DELETE /carts/{id}/items/{name}     ?quantity=N (default 1)               -> the cart
//   POST   /carts/{id}/checkout                                               -> the cart
//   GET    /streams                     ?after=&limit=
//   GET    /streams/{id}                ?from=&limit=&direction=forward|backward
//   POST   /streams/{id}                [{id?, type, data, metadata?}], ES-Expected-Version
//   DELETE /streams/{id}                ?hard=true for a tombstone; ES-Expected-Version -> 204
//   GET    /streams/{id}/metadata       the metadata and state (404 unknown, 410 never: shown)
//   PUT    /streams/{id}/metadata       {max_count?, max_age_seconds?, truncate_before?, custom?}
//   POST   /admin/scavenge              ?step=N: scavenge in the background -> 202 (409: one runs)
//   GET    /admin/scavenge              its state and progress
//   GET    /log                         ?from=&limit=  (events after position `from`)
//   GET    /log/live                    ?from=  Server-Sent Events, live (Last-Event-ID resumes)
//   GET    /carts                       ?status=open|checked_out&limit=&after=  (read model)
//   GET    /reports/top-items           ?limit=  (read model)
//   GET    /subscriptions               each subscription's checkpoint, head, lag, parked, state
//   POST   /subjects/{id}/forget        destroy a data subject's key (personal_data.h)
//   GET    /healthz, GET /metrics
//
// Cart writes with If-Match: "<version>" are conditional (412 when the cart is elsewhere);
// without it, conflicts are retried. Errors are problem documents (problem.h).
//
// With a bearer token (ApiOptions::bearer_token), every request other than GET and HEAD needs
// "Authorization: Bearer <token>" (401 otherwise); reads stay open. Path segments are never "."
// or "..", and stream ids in paths never look like paths that leave a folder (400).
//
// Transport-neutral: Handle() serves the embedded HTTP server and Lambda alike. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cart/cart.h"
#include "evs/event_store.h"
#include "evs/personal_data.h"
#include "evs/repository.h"
#include "evs/subscription.h"
#include "http/auth.h"
#include "http/cart_reports.h"
#include "http/message.h"
#include "http/metrics.h"
#include "http/request_parsing.h"

namespace evs::http {

// The read side that `evs serve` runs beside the store; each part may be absent (its endpoints
// then answer 503).
struct ApiFeeds {
  CartReports* cart_reports = nullptr;
  std::function<std::vector<SubscriptionStatus>()> subscriptions;
};

struct ApiOptions {
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  size_t max_page = 1000;           // the largest `limit` a list accepts
  size_t default_page = 100;        // `limit` when absent
  // When not empty, requests other than GET and HEAD need "Authorization: Bearer <token>" and
  // get 401 without it (or with another token). Empty: no authentication.
  std::string bearer_token;
  RepositoryOptions repository{.cache_capacity = 100000,
                               .max_conflict_retries = 10,
                               .read_page_size = 1000,
                               .command_lock_stripes = 4096,
                               .upcaster = cart::CartUpcaster()};
  // Seals and reveals the carts' emails and forgets subjects; null: carts cannot have an email
  // (501) and POST /subjects/{id}/forget answers 503.
  std::shared_ptr<PersonalData> personal_data;
};

// The last scavenge started through the API.
struct ScavengeState {
  std::string state = "idle";  // idle, running, done, failed
  ScavengeProgress progress;
  std::optional<ScavengeReport> report;  // done
  std::string error;                     // failed
};

class Api {
 public:
  Api(EventStore& store, ApiOptions options = {}, ApiFeeds feeds = {});
  ~Api() { JoinScavenge(); }

  // Ends live streams (GET /log/live) soon; called when the server stops.
  void Shutdown() { stopping_ = true; }

  // Never throws; any failure is a problem response.
  Response Handle(const Request& request);

  Metrics& metrics() { return metrics_; }

 private:
  Response Route(const Request& request, const Target& target, std::string& route);

  Response OpenCart(const Request& request);
  Response GetCart(const std::string& id);
  Response AddItem(const Request& request, const std::string& id);
  Response RemoveItem(const Request& request, const Target& target, const std::string& id,
                      const std::string& name);
  Response Checkout(const Request& request, const std::string& id);
  Response ForgetSubject(const std::string& subject);
  // Runs a cart command: conditional on If-Match when the request has one.
  template <class Decide>
  Response CartCommand(const Request& request, const std::string& id, Decide&& decide);

  Response ListStreams(const Target& target);
  Response ReadStream(const Target& target, const std::string& stream);
  Response AppendToStream(const Request& request, const std::string& stream);
  Response ReadLog(const Target& target);
  Response GetStreamMetadata(const std::string& stream);
  Response PutStreamMetadata(const Request& request, const std::string& stream);
  Response DeleteStream(const Request& request, const Target& target, const std::string& stream);
  Response StartScavenge(const Target& target);
  Response GetScavenge();
  ScavengeState ScavengeStatus();
  void JoinScavenge();
  // Upcasts `events` in place when `asked` (?upcast=true) and the API has an upcaster.
  Status UpcastIfAsked(bool asked, std::vector<RecordedEvent>& events) const;
  Response LiveLog(const Request& request, const Target& target);
  Response ListCarts(const Target& target);
  Response TopItems(const Target& target);
  Response Subscriptions();
  Response RenderMetrics();

  // A serialized cart at one version: GET /carts/{id} answers from it while the cart's stream is
  // still at that version (the store answers that from memory), without rebuilding the JSON.
  struct CartBody {
    std::string cart_id;
    int64_t cart_version = 0;
    std::string json;
    const std::string& id() const { return cart_id; }
    int64_t version() const { return cart_version; }
  };
  Response CartResponse(const cart::Cart& cart, int status = 200);

  EventStore& store_;
  const ApiOptions options_;
  Repository<cart::Cart> carts_;
  AggregateCache<CartBody> cart_bodies_;
  ApiFeeds feeds_;
  std::optional<BearerAuth> auth_;  // when a token is set
  Metrics metrics_;
  std::atomic<bool> stopping_{false};

  std::mutex scavenge_mu_;
  ScavengeState scavenge_;
  std::thread scavenge_thread_;
};

}  // namespace evs::http
