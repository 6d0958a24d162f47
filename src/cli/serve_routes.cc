#include "cli/serve_routes.h"

#include "cli/console_routes.h"

namespace evs::cli {

Status AddServeRoutes(http::Api& api, cart::CartHttp& cart) {
  if (Status s = cart.Register(api.routes()); !s.ok()) return s;
  if (Status s = AddConsoleRoutes(api.routes()); !s.ok()) return s;
  return api.routes().Add("GET", "/openapi.json", [](const http::Request&, const http::Params&) {
    http::Response r;
    r.content_type = "application/json";
    r.body = std::string(OpenApiDocument());
    return r;
  });
}

}  // namespace evs::cli
