// The cart over HTTP: its routes, added to an evs::http::Api through the same public interface
// any domain uses (evs/http/routes.h).
//
//   POST   /carts                       {customer_id?, email?} -> 201 {cart_id, version}
//   GET    /carts/{id}                  the cart, ETag "<version>"; ?version=N: the cart as it
//                                       stood after its event N (time travel; 400 past the end)
//   POST   /carts/{id}/items            {name, quantity?, unit_price_cents?, currency?} -> the cart
//   DELETE /carts/{id}/items/{name}     ?quantity=N (default 1)                          -> the
//   cart POST   /carts/{id}/checkout                                                          ->
//   the cart GET    /carts                       ?status=open|checked_out&limit=&after=  (read
//   model) GET    /reports/top-items           ?limit=  (read model)
//
// Cart writes with If-Match: "<version>" are conditional (412 when the cart is at another
// version, and nothing is written); without it, conflicts are retried. Unknown carts (ids are
// UUIDs) are 404; a cart rule broken is 422.
#pragma once

#include <memory>
#include <string>

#include "cart/cart.h"
#include "cart/cart_reports.h"
#include "evs/aggregate_cache.h"
#include "evs/event_store.h"
#include "evs/http/command_context.h"
#include "evs/http/request_reading.h"
#include "evs/http/routes.h"
#include "evs/personal_data.h"
#include "evs/repository.h"

namespace cart {

struct CartHttpOptions {
  // How carts are loaded and stored: a server keeps many in memory and runs commands on one
  // cart one after another.
  evs::RepositoryOptions repository{.cache_capacity = 100000,
                                    .max_conflict_retries = 10,
                                    .read_page_size = 1000,
                                    .command_lock_stripes = 4096,
                                    .upcaster = CartUpcaster()};
  // Seals and reveals the carts' emails; null: a cart opened with an email is 501.
  std::shared_ptr<evs::PersonalData> personal_data;
  // The cart-summary read model for GET /carts and GET /reports/top-items; null: those answer
  // 503. Must outlive this.
  CartReports* reports = nullptr;
};

class CartHttp {
 public:
  // `store` must outlive this.
  explicit CartHttp(evs::EventStore& store, CartHttpOptions options = {});

  // Adds the routes; their handlers run on this object, which must outlive serving.
  evs::Status Register(evs::http::Routes& routes);

 private:
  using Request = evs::http::Request;
  using Response = evs::http::Response;
  using Params = evs::http::Params;

  using Respond = evs::http::Respond;
  using CommandContext = evs::http::CommandContext;

  // The commands are asynchronous routes: they respond once their events are durable.
  void OpenCart(const Request& request, const Params&, Respond respond);
  Response GetCart(const Request&, const Params& params);
  void AddItem(const Request& request, const Params& params, Respond respond);
  void RemoveItem(const Request& request, const Params& params, Respond respond);
  void Checkout(const Request& request, const Params& params, Respond respond);
  Response ListCarts(const Request&, const Params& params);
  Response TopItems(const Request&, const Params& params);
  // Runs a cart command: conditional on If-Match when the request has one; its events carry
  // `context`'s ids. `decide` is copied and may run again after the handler has returned.
  template <class Decide>
  void CartCommand(const Request& request, const CommandContext& context, const std::string& id,
                   Decide decide, Respond respond);

  struct NewItem;
  static evs::http::Parsed<NewItem> ReadNewItem(const Request& request);

  // A serialized cart at one version: GET /carts/{id} answers from it while the cart's stream is
  // still at that version (the store answers that from memory), without rebuilding the JSON.
  struct CartBody {
    std::string cart_id;
    int64_t cart_version = 0;
    std::string json;
    const std::string& id() const { return cart_id; }
    int64_t version() const { return cart_version; }
  };
  Response CartResponse(const Cart& cart, int status = 200);

  evs::EventStore& store_;
  const CartHttpOptions options_;
  evs::Repository<Cart> carts_;
  evs::AggregateCache<CartBody> cart_bodies_;
};

}  // namespace cart
