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

#include "evs/read_model.h"
#include "evs/status.h"

namespace cart {

// Thread-safe: one connection, one query at a time.
class CartReports {
 public:
  // Opens the read model's file read-only (it must exist: the projection creates it);
  // kIOError when it cannot be opened.
  static evs::Result<std::unique_ptr<CartReports>> Open(const std::string& path);
  // Queries the read model through `model` (e.g. evs::OpenPostgresReadModel: the projection's
  // read model in PostgreSQL, shared by every server of the store). The same SQL runs on both.
  static std::unique_ptr<CartReports> Open(std::unique_ptr<evs::ReadModel> model);
  ~CartReports();

  // Carts by id, after `after`, optionally of one status, at most `limit`:
  // {"carts": [{"cart_id", "status", "item_count", "total_cents", "version"}], "next_after"}.
  evs::Result<nlohmann::ordered_json> ListCarts(const std::optional<std::string>& status,
                                                const std::string& after, int64_t limit);
  // Items by quantity added, most first: {"items": [{"name", "quantity_added",
  // "quantity_removed", "times_added"}]}.
  evs::Result<nlohmann::ordered_json> TopItems(int64_t limit);

 private:
  CartReports(sqlite3* db, std::unique_ptr<evs::ReadModel> model)
      : db_(db), model_(std::move(model)) {}
  // Every row of `sql` with `params` bound, from whichever database the reports read.
  evs::Result<std::vector<evs::SqlRow>> Query(const char* sql,
                                              const std::vector<evs::SqlValue>& params);
  evs::Result<std::vector<evs::SqlRow>> QuerySqlite(const char* sql,
                                                    const std::vector<evs::SqlValue>& params);

  std::mutex mu_;
  sqlite3* db_;                            // the SQLite file, or null
  std::unique_ptr<evs::ReadModel> model_;  // or this
};

}  // namespace cart
