// What `evs serve` serves beyond the store's own routes (evs/http/api.h): the cart's routes
// (app/cart/cart_http.h), the web console (console_routes.h) and GET /openapi.json, the OpenAPI
// document of all of them.
//
// The document is docs/openapi.json, embedded into the program at build time
// (cmake/embed_file.cmake); it lives with the program that serves it because it describes the
// store's routes and the cart's together, and the library knows no cart. Tests keep it true:
// tests/openapi_test.cc compares it with ListRoutes() of an Api built by AddServeRoutes, both
// ways, and with the README's route table; tools/openapi/validate.js validates it.
#pragma once

#include <string_view>

#include "cart/cart_http.h"
#include "evs/http/api.h"
#include "evs/status.h"

namespace evs::cli {

// The OpenAPI document of `evs serve`: the bytes of docs/openapi.json at build time (JSON).
std::string_view OpenApiDocument();

// Adds the cart's routes (handled by `cart`, which must outlive serving), the console's and
// GET /openapi.json to `api`, which serves the store's own routes already: every route
// `evs serve` serves. Fails as Routes::Add does.
Status AddServeRoutes(http::Api& api, cart::CartHttp& cart);

}  // namespace evs::cli
