// The Api as `evs serve` runs it for the HTTP tests: the store's own routes and the cart's
// (app/cart/cart_http.h), with the cart's upcaster for ?upcast=true and the API's personal data
// for the carts' emails.
#pragma once

#include <gtest/gtest.h>

#include "cart/cart_http.h"
#include "evs/http/api.h"

namespace evs::testing {

class CartApi : public http::Api {
 public:
  explicit CartApi(EventStore& store, http::ApiOptions options = {}, http::ApiFeeds feeds = {},
                   cart::CartReports* reports = nullptr)
      : http::Api(store, WithCartUpcaster(options), std::move(feeds)),
        cart_(store, CartOptions(options, reports)) {
    const Status registered = cart_.Register(routes());
    EXPECT_TRUE(registered.ok()) << registered.error().message;
  }

 private:
  static http::ApiOptions WithCartUpcaster(http::ApiOptions options) {
    options.upcaster = cart::CartUpcaster();
    return options;
  }
  static cart::CartHttpOptions CartOptions(const http::ApiOptions& options,
                                           cart::CartReports* reports) {
    cart::CartHttpOptions cart_options;
    cart_options.personal_data = options.personal_data;
    cart_options.reports = reports;
    return cart_options;
  }
  cart::CartHttp cart_;
};

}  // namespace evs::testing
