// What `evs serve` serves beyond the store's own routes (evs/http/api.h): the cart's routes
// (app/cart/cart_http.h), the checkpoint stores of the server's own read side (the cart
// projection's, the event log's) with their parked events, the web console (console_routes.h)
// and GET /openapi.json, the OpenAPI document of all of them.
//
//   GET  /checkpoints                            {"stores": [{"name", "parked"}]}
//   GET  /checkpoints/{store}/parked             ?subscription=&after=&limit=  {"parked": [{id,
//                                                subscription, event, reason, attempts,
//                                                parked_at, retry_requested}], "next_after"}
//   POST /checkpoints/{store}/parked/{id}/retry  the running subscription delivers it again
//                                                (as `evs parked --retry ID`); 404 unknown id
//
// The document is docs/openapi.json, embedded into the program at build time
// (cmake/embed_file.cmake); it lives with the program that serves it because it describes the
// store's routes and the cart's together, and the library knows no cart. Tests keep it true:
// tests/openapi_test.cc compares it with ListRoutes() of an Api built by AddServeRoutes, both
// ways, and with the README's route table; tools/openapi/validate.js validates it.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "cart/cart_http.h"
#include "evs/http/api.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs::cli {

// The OpenAPI document of `evs serve`: the bytes of docs/openapi.json at build time (JSON).
std::string_view OpenApiDocument();

// The read side's checkpoint stores by name, like "cart_summary" and "feed" (the files of the
// data folder); each must outlive serving.
using CheckpointStores = std::map<std::string, CheckpointStore*>;

// Adds the cart's routes (handled by `cart`, which must outlive serving), the checkpoint routes
// over `checkpoints` (none: GET /checkpoints lists no store), the console's and GET /openapi.json
// to `api`, which serves the store's own routes already: every route `evs serve` serves. Fails
// as Routes::Add does.
Status AddServeRoutes(http::Api& api, cart::CartHttp& cart, CheckpointStores checkpoints = {});

}  // namespace evs::cli
