#include "http/event_store_routes.h"

#include "evs/http/responses.h"

namespace evs::http {

Status EventStoreRoutes::Register(Routes& routes) {
  // For each pattern its methods in the order that 405's Allow lists them.
  using R = EventStoreRoutes;
  Status added = AddMemberRoutes<R>(routes, *this,
                                    {
                                        {"GET", "/healthz", &R::Healthz},
                                        {"GET", "/metrics", &R::RenderMetrics},
                                        {"GET", "/streams", &R::ListStreams},
                                        {"GET", "/streams/{id}", &R::ReadStream},
                                        {"POST", "/streams/{id}", &R::AppendToStream},
                                        {"DELETE", "/streams/{id}", &R::DeleteStream},
                                        {"GET", "/streams/{id}/metadata", &R::GetStreamMetadata},
                                        {"PUT", "/streams/{id}/metadata", &R::PutStreamMetadata},
                                        {"GET", "/admin/scavenge", &R::GetScavenge},
                                        {"POST", "/admin/scavenge", &R::StartScavenge},
                                        {"GET", "/log", &R::ReadLog},
                                        {"GET", "/log/live", &R::LiveLog},
                                        {"GET", "/subscriptions", &R::Subscriptions},
                                        {"POST", "/subjects/{id}/forget", &R::ForgetSubject},
                                    });
  if (!added.ok()) return added;
  return RegisterPersistentSubscriptions(routes);
}

Response EventStoreRoutes::Healthz(const Request&, const Params&) {
  Response r;
  r.body = R"({"status":"ok"})";
  return r;
}

Response EventStoreRoutes::RenderMetrics(const Request&, const Params&) {
  Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.Render(store_.Stats(), store_.HeadPosition().ok() ? *store_.HeadPosition() : 0);
  return r;
}

}  // namespace evs::http
