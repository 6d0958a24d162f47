// POST /subjects/{id}/forget: crypto-shredding (evs/personal_data.h) over HTTP.
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "http/event_store_routes.h"
#include "http/request_parsing.h"

namespace evs::http {

Response EventStoreRoutes::ForgetSubject(const Request&, const Params& params) {
  const std::string& subject = params.path.at("id");
  if (!options_.personal_data) {
    return Problem(503, "no_key_store", "this server has no key store for personal data");
  }
  auto forgotten = options_.personal_data->Forget(subject);
  if (!forgotten.ok()) return ProblemFor(forgotten.error());
  Response r;
  r.body =
      nlohmann::ordered_json{
          {"subject", subject}, {"forgotten", true}, {"already_forgotten", !*forgotten}}
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace evs::http
