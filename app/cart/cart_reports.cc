#include "cart/cart_reports.h"

namespace cart {

namespace {

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

evs::Error ReadModelError(sqlite3* db, const std::string& what) {
  return evs::Error::Make(evs::ErrorCode::kIOError,
                          "cart summary: " + what + ": " + (db ? sqlite3_errmsg(db) : "no memory"));
}

}  // namespace

evs::Result<std::unique_ptr<CartReports>> CartReports::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    evs::Error error = ReadModelError(db, "cannot open " + path);
    sqlite3_close_v2(db);
    return error;
  }
  // The projection writes while reports read: wait for its transactions rather than fail.
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<CartReports>(new CartReports(db));
}

CartReports::~CartReports() { sqlite3_close_v2(db_); }

evs::Status CartReports::Query(const char* sql, const std::function<void(sqlite3_stmt*)>& bind,
                               const std::function<void(sqlite3_stmt*)>& row) {
  std::lock_guard guard(mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return ReadModelError(db_, "cannot prepare a query");
  }
  bind(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) row(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return ReadModelError(db_, "query failed");
  return evs::OkStatus();
}

evs::Result<nlohmann::ordered_json> CartReports::ListCarts(const std::optional<std::string>& status,
                                                           const std::string& after,
                                                           int64_t limit) {
  nlohmann::ordered_json carts = nlohmann::ordered_json::array();
  evs::Status s = Query(
      "SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries "
      "WHERE cart_id > ?1 AND (?2 IS NULL OR status = ?2) ORDER BY cart_id LIMIT ?3",
      [&](sqlite3_stmt* stmt) {
        sqlite3_bind_text(stmt, 1, after.data(), static_cast<int>(after.size()), SQLITE_STATIC);
        if (status) {
          sqlite3_bind_text(stmt, 2, status->data(), static_cast<int>(status->size()),
                            SQLITE_STATIC);
        }
        sqlite3_bind_int64(stmt, 3, limit);
      },
      [&](sqlite3_stmt* stmt) {
        carts.push_back({{"cart_id", Text(stmt, 0)},
                         {"status", Text(stmt, 1)},
                         {"item_count", sqlite3_column_int64(stmt, 2)},
                         {"total_cents", sqlite3_column_int64(stmt, 3)},
                         {"version", sqlite3_column_int64(stmt, 4)}});
      });
  if (!s.ok()) return s.error();
  nlohmann::ordered_json body = {{"carts", carts}};
  body["next_after"] = static_cast<int64_t>(carts.size()) == limit && limit > 0
                           ? nlohmann::ordered_json(carts.back()["cart_id"])
                           : nlohmann::ordered_json(nullptr);
  return body;
}

evs::Result<nlohmann::ordered_json> CartReports::TopItems(int64_t limit) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  evs::Status s = Query(
      "SELECT name, quantity_added, quantity_removed, times_added FROM item_totals "
      "ORDER BY quantity_added DESC, name LIMIT ?",
      [&](sqlite3_stmt* stmt) { sqlite3_bind_int64(stmt, 1, limit); },
      [&](sqlite3_stmt* stmt) {
        items.push_back({{"name", Text(stmt, 0)},
                         {"quantity_added", sqlite3_column_int64(stmt, 1)},
                         {"quantity_removed", sqlite3_column_int64(stmt, 2)},
                         {"times_added", sqlite3_column_int64(stmt, 3)}});
      });
  if (!s.ok()) return s.error();
  return nlohmann::ordered_json{{"items", items}};
}

}  // namespace cart
