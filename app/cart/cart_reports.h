// Queries of the cart-summary read model (cart_summary_projection.h) for
// `GET /carts?status=&limit=&after=` and `GET /reports/top-items?limit=`.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "evs/status.h"

namespace cart {

// Thread-safe: one connection, one query at a time.
class CartReports {
 public:
  // Opens the read model's file read-only (it must exist: the projection creates it);
  // kIOError when it cannot be opened.
  static evs::Result<std::unique_ptr<CartReports>> Open(const std::string& path);
  ~CartReports();

  // Carts by id, after `after`, optionally of one status, at most `limit`:
  // {"carts": [{"cart_id", "status", "item_count", "total_cents", "version"}], "next_after"}.
  evs::Result<nlohmann::ordered_json> ListCarts(const std::optional<std::string>& status,
                                                const std::string& after, int64_t limit);
  // Items by quantity added, most first: {"items": [{"name", "quantity_added",
  // "quantity_removed", "times_added"}]}.
  evs::Result<nlohmann::ordered_json> TopItems(int64_t limit);

 private:
  explicit CartReports(sqlite3* db) : db_(db) {}
  // Runs `sql` with `bind` setting its parameters and `row` taking each row.
  evs::Status Query(const char* sql, const std::function<void(sqlite3_stmt*)>& bind,
                    const std::function<void(sqlite3_stmt*)>& row);

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace cart
