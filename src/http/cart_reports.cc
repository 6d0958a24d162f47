#include "http/cart_reports.h"

namespace evs::http {

Result<std::unique_ptr<CartReports>> CartReports::Open(const std::string& path) {
  auto db = store::Database::Open(path, /*read_only=*/true);
  if (!db) return db.error();
  return std::unique_ptr<CartReports>(new CartReports(std::move(db).value()));
}

Result<nlohmann::ordered_json> CartReports::ListCarts(const std::optional<std::string>& status,
                                                      const std::string& after, int64_t limit) {
  std::lock_guard guard(mu_);
  auto stmt = db_.Prepare(
      "SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries "
      "WHERE cart_id > ?1 AND (?2 IS NULL OR status = ?2) ORDER BY cart_id LIMIT ?3");
  if (!stmt) return stmt.error();
  stmt->Bind(1, after);
  if (status) stmt->Bind(2, *status);
  stmt->Bind(3, limit);
  nlohmann::ordered_json carts = nlohmann::ordered_json::array();
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) {
    carts.push_back({{"cart_id", std::string(stmt->Text(0))},
                     {"status", std::string(stmt->Text(1))},
                     {"item_count", stmt->Int(2)},
                     {"total_cents", stmt->Int(3)},
                     {"version", stmt->Int(4)}});
  }
  if (rc != SQLITE_DONE) return stmt->LastError("listing carts");
  nlohmann::ordered_json body = {{"carts", carts}};
  body["next_after"] = static_cast<int64_t>(carts.size()) == limit && limit > 0
                           ? nlohmann::ordered_json(carts.back()["cart_id"])
                           : nlohmann::ordered_json(nullptr);
  return body;
}

Result<nlohmann::ordered_json> CartReports::TopItems(int64_t limit) {
  std::lock_guard guard(mu_);
  auto stmt = db_.Prepare(
      "SELECT name, quantity_added, quantity_removed, times_added FROM item_totals "
      "ORDER BY quantity_added DESC, name LIMIT ?");
  if (!stmt) return stmt.error();
  stmt->Bind(1, limit);
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) {
    items.push_back({{"name", std::string(stmt->Text(0))},
                     {"quantity_added", stmt->Int(1)},
                     {"quantity_removed", stmt->Int(2)},
                     {"times_added", stmt->Int(3)}});
  }
  if (rc != SQLITE_DONE) return stmt->LastError("listing top items");
  return nlohmann::ordered_json{{"items", items}};
}

}  // namespace evs::http
