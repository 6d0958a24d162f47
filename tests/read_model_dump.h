// Compares read models of the cart-summary projection by their content, and with the carts.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "cart/cart.h"
#include "evs/repository.h"

namespace evs::testing {

// Every row of the cart read model's views, as text, in a stable order: two read models are
// equal when their dumps are.
inline std::string DumpCartReadModel(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::string out;
  for (const char* sql :
       {"SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries ORDER BY 1",
        "SELECT cart_id, name, quantity, unit_price_cents FROM cart_lines ORDER BY 1, 2",
        "SELECT name, quantity_added, quantity_removed, times_added FROM item_totals ORDER BY 1"}) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        out += text ? reinterpret_cast<const char*>(text) : "NULL";
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(stmt);
    out += "--\n";
  }
  sqlite3_close(db);
  return out;
}

// Each cart's row in the read model at `path` has the status, total and version of the cart as
// `repo` fetches it.
inline void ExpectReadModelMatchesCarts(const std::string& path, Repository<cart::Cart>& repo,
                                        const std::vector<std::string>& ids) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(
                db, "SELECT status, total_cents, version FROM cart_summaries WHERE cart_id = ?", -1,
                &stmt, nullptr),
            SQLITE_OK);
  for (const std::string& id : ids) {
    auto cart = repo.Fetch(id);
    ASSERT_TRUE(cart.ok()) << cart.error().message;
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW) << "no row for cart " << id;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))),
              cart::StatusName(cart->status()))
        << id;
    EXPECT_EQ(sqlite3_column_int64(stmt, 1), cart->total_cents()) << id;
    EXPECT_EQ(sqlite3_column_int64(stmt, 2), cart->version()) << id;
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace evs::testing
