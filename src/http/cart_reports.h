// Queries of the cart-summary read model (app/cart/cart_summary_projection.h) for
// `GET /carts?status=&limit=&after=` and `GET /reports/top-items?limit=`.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "evs/status.h"
#include "store/sqlite.h"

namespace evs::http {

class CartReports {
 public:
  // Opens the read model's file read-only (it must exist: the projection creates it).
  static Result<std::unique_ptr<CartReports>> Open(const std::string& path);

  // Carts by id, after `after`, optionally of one status, at most `limit`:
  // {"carts": [{"cart_id", "status", "item_count", "total_cents", "version"}], "next_after"}.
  Result<nlohmann::ordered_json> ListCarts(const std::optional<std::string>& status,
                                           const std::string& after, int64_t limit);
  // Items by quantity added, most first: {"items": [{"name", "quantity_added",
  // "quantity_removed", "times_added"}]}.
  Result<nlohmann::ordered_json> TopItems(int64_t limit);

 private:
  explicit CartReports(store::Database db) : db_(std::move(db)) {}
  std::mutex mu_;  // one connection, one query at a time
  store::Database db_;
};

}  // namespace evs::http
