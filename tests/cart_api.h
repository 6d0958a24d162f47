// The Api as `evs serve` runs it for the HTTP tests: the store's own routes and the cart's
// (app/cart/cart_http.h), with the cart's upcaster for ?upcast=true and the API's personal data
// for the carts' emails. Used by the HTTP tests and the HTTP fuzz targets.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "cart/cart_http.h"
#include "evs/http/api.h"

namespace evs::testing {

class CartApi : public http::Api {
 public:
  explicit CartApi(EventStore& store, http::ApiOptions options = {},
                   cart::CartHttpOptions cart_options = {})
      : http::Api(store, WithCartUpcaster(options)),
        cart_(store, WithPersonalData(std::move(cart_options), options)) {
    // The cart's routes are fixed: a refusal is a bug in them.
    if (const Status registered = cart_.Register(routes()); !registered.ok()) {
      std::fprintf(stderr, "cart routes refused: %s\n", registered.error().message.c_str());
      std::abort();
    }
  }

 private:
  static http::ApiOptions WithCartUpcaster(http::ApiOptions options) {
    options.upcaster = cart::CartUpcaster();
    return options;
  }
  static cart::CartHttpOptions WithPersonalData(cart::CartHttpOptions cart_options,
                                                const http::ApiOptions& options) {
    cart_options.personal_data = options.personal_data;
    return cart_options;
  }
  cart::CartHttp cart_;
};

}  // namespace evs::testing
