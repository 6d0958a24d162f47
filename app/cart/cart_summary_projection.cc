#include "cart/cart_summary_projection.h"

#include "cart/cart.h"

namespace cart {

evs::Status CartSummaryProjection::CreateTables(evs::ReadModel& m) {
  const std::string& s = m.Suffix();
  for (const std::string& sql : {
           "CREATE TABLE IF NOT EXISTS cart_summaries" + s +
               " (cart_id TEXT PRIMARY KEY, status TEXT NOT NULL, item_count BIGINT NOT NULL, "
               "total_cents BIGINT NOT NULL, version BIGINT NOT NULL, "
               "updated_at_us BIGINT NOT NULL)",
           "CREATE INDEX IF NOT EXISTS cart_summaries_by_status" + s + " ON cart_summaries" + s +
               " (status, cart_id)",
           "CREATE TABLE IF NOT EXISTS cart_lines" + s +
               " (cart_id TEXT NOT NULL, name TEXT NOT NULL, quantity BIGINT NOT NULL, "
               "unit_price_cents BIGINT NOT NULL, PRIMARY KEY (cart_id, name))",
           "CREATE TABLE IF NOT EXISTS item_totals" + s +
               " (name TEXT PRIMARY KEY, quantity_added BIGINT NOT NULL, "
               "quantity_removed BIGINT NOT NULL, times_added BIGINT NOT NULL)",
       }) {
    if (auto r = m.Execute(sql); !r) return r;
  }
  return evs::OkStatus();
}

evs::Status CartSummaryProjection::Apply(evs::ReadModel& m, const evs::RecordedEvent& event) {
  const std::string prefix = std::string(Cart::kCategory) + "-";
  if (event.stream_id.rfind(prefix, 0) != 0 || !CartEvents::Knows(event.type)) {
    return evs::OkStatus();
  }
  auto decoded = CartEvents::Decode(event);
  if (!decoded.ok()) return decoded.error();
  const std::string& s = m.Suffix();
  const std::string id = event.stream_id.substr(prefix.size());
  const int64_t at = event.recorded_at_us;
  const int64_t v = event.version;
  auto touch = [&]() {
    return m.Execute(
        "UPDATE cart_summaries" + s +
            " SET item_count = (SELECT COALESCE(SUM(quantity), 0) FROM cart_lines" + s +
            " WHERE cart_id = ?1), total_cents = (SELECT COALESCE(SUM(quantity * "
            "unit_price_cents), 0) FROM cart_lines" +
            s + " WHERE cart_id = ?1), version = ?2, updated_at_us = ?3 WHERE cart_id = ?1",
        {id, v, at});
  };
  return std::visit(
      [&](const auto& e) -> evs::Status {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, CartOpened>) {
          return m.Execute(
              "INSERT INTO cart_summaries" + s +
                  " (cart_id, status, item_count, total_cents, version, updated_at_us) "
                  "VALUES (?, 'open', 0, 0, ?, ?) ON CONFLICT (cart_id) DO UPDATE SET "
                  "status = excluded.status, item_count = excluded.item_count, "
                  "total_cents = excluded.total_cents, version = excluded.version, "
                  "updated_at_us = excluded.updated_at_us",
              {id, v, at});
        } else if constexpr (std::is_same_v<E, ItemAdded>) {
          if (auto r =
                  m.Execute("INSERT INTO cart_lines" + s +
                                " (cart_id, name, quantity, unit_price_cents) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT (cart_id, name) DO UPDATE SET quantity = cart_lines" +
                                s +
                                ".quantity + excluded.quantity, unit_price_cents = "
                                "excluded.unit_price_cents",
                            {id, e.name, e.quantity, e.unit_price.cents});
              !r) {
            return r;
          }
          if (auto r = m.Execute(
                  "INSERT INTO item_totals" + s +
                      " (name, quantity_added, quantity_removed, times_added) VALUES "
                      "(?, ?, 0, 1) ON CONFLICT (name) DO UPDATE SET quantity_added = item_totals" +
                      s + ".quantity_added + excluded.quantity_added, times_added = item_totals" +
                      s + ".times_added + 1",
                  {e.name, e.quantity});
              !r) {
            return r;
          }
          return touch();
        } else if constexpr (std::is_same_v<E, ItemRemoved>) {
          if (auto r = m.Execute("UPDATE cart_lines" + s +
                                     " SET quantity = quantity - ? WHERE cart_id = ? AND name = ?",
                                 {e.quantity, id, e.name});
              !r) {
            return r;
          }
          if (auto r = m.Execute(
                  "DELETE FROM cart_lines" + s + " WHERE quantity <= 0 AND cart_id = ?", {id});
              !r) {
            return r;
          }
          if (auto r = m.Execute("UPDATE item_totals" + s +
                                     " SET quantity_removed = quantity_removed + ? WHERE name = ?",
                                 {e.quantity, e.name});
              !r) {
            return r;
          }
          return touch();
        } else {
          return m.Execute("UPDATE cart_summaries" + s +
                               " SET status = 'checked_out', version = ?, updated_at_us = ? "
                               "WHERE cart_id = ?",
                           {v, at, id});
        }
      },
      *decoded);
}

}  // namespace cart
