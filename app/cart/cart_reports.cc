#include "cart/cart_reports.h"

namespace cart {

namespace {

evs::Error ReadModelError(sqlite3* db, const std::string& what) {
  return evs::Error::Make(evs::ErrorCode::kIOError,
                          "cart summary: " + what + ": " + (db ? sqlite3_errmsg(db) : "no memory"));
}

std::string Text(const evs::SqlValue& value) {
  const auto* text = std::get_if<std::string>(&value);
  return text ? *text : "";
}

int64_t Int(const evs::SqlValue& value) {
  const auto* n = std::get_if<int64_t>(&value);
  return n ? *n : 0;
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
  return std::unique_ptr<CartReports>(new CartReports(db, nullptr));
}

std::unique_ptr<CartReports> CartReports::Open(std::unique_ptr<evs::ReadModel> model) {
  return std::unique_ptr<CartReports>(new CartReports(nullptr, std::move(model)));
}

CartReports::~CartReports() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

evs::Result<std::vector<evs::SqlRow>> CartReports::Query(const char* sql,
                                                         const std::vector<evs::SqlValue>& params) {
  std::lock_guard guard(mu_);
  if (db_ != nullptr) return QuerySqlite(sql, params);
  auto rows = model_->Query(sql, params);
  if (!rows.ok()) {
    evs::Error error = rows.error();
    error.message = "cart summary: query failed: " + error.message;
    return error;
  }
  return rows;
}

evs::Result<std::vector<evs::SqlRow>> CartReports::QuerySqlite(
    const char* sql, const std::vector<evs::SqlValue>& params) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return ReadModelError(db_, "cannot prepare a query");
  }
  for (int i = 0; i < static_cast<int>(params.size()); ++i) {
    if (const auto* text = std::get_if<std::string>(&params[i])) {
      sqlite3_bind_text(stmt, i + 1, text->data(), static_cast<int>(text->size()), SQLITE_STATIC);
    } else if (const auto* n = std::get_if<int64_t>(&params[i])) {
      sqlite3_bind_int64(stmt, i + 1, *n);
    }  // NULL: unbound parameters are NULL
  }
  std::vector<evs::SqlRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    evs::SqlRow& row = rows.emplace_back();
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      if (sqlite3_column_type(stmt, c) == SQLITE_INTEGER) {
        row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
      } else {
        const unsigned char* text = sqlite3_column_text(stmt, c);
        row.emplace_back(std::string(text ? reinterpret_cast<const char*>(text) : ""));
      }
    }
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return ReadModelError(db_, "query failed");
  return rows;
}

evs::Result<nlohmann::ordered_json> CartReports::ListCarts(const std::optional<std::string>& status,
                                                           const std::string& after,
                                                           int64_t limit) {
  auto rows = Query(
      "SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries "
      // The CAST tells PostgreSQL the parameter's type (nothing else around IS NULL does).
      "WHERE cart_id > ?1 AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) ORDER BY cart_id "
      "LIMIT ?3",
      {after, status ? evs::SqlValue(*status) : evs::SqlValue(nullptr), limit});
  if (!rows.ok()) return rows.error();
  nlohmann::ordered_json carts = nlohmann::ordered_json::array();
  for (const evs::SqlRow& row : *rows) {
    carts.push_back({{"cart_id", Text(row[0])},
                     {"status", Text(row[1])},
                     {"item_count", Int(row[2])},
                     {"total_cents", Int(row[3])},
                     {"version", Int(row[4])}});
  }
  nlohmann::ordered_json body = {{"carts", carts}};
  body["next_after"] = static_cast<int64_t>(carts.size()) == limit && limit > 0
                           ? nlohmann::ordered_json(carts.back()["cart_id"])
                           : nlohmann::ordered_json(nullptr);
  return body;
}

evs::Result<nlohmann::ordered_json> CartReports::TopItems(int64_t limit) {
  auto rows = Query(
      "SELECT name, quantity_added, quantity_removed, times_added FROM item_totals "
      "ORDER BY quantity_added DESC, name LIMIT ?",
      {limit});
  if (!rows.ok()) return rows.error();
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const evs::SqlRow& row : *rows) {
    items.push_back({{"name", Text(row[0])},
                     {"quantity_added", Int(row[1])},
                     {"quantity_removed", Int(row[2])},
                     {"times_added", Int(row[3])}});
  }
  return nlohmann::ordered_json{{"items", items}};
}

}  // namespace cart
