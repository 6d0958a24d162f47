// The cart-summary read model: one row per cart (status, item count, total) and totals per
// item, for `GET /carts?status=` and `GET /reports/top-items`. Built only on the public API.
#pragma once

#include "evs/projection.h"

namespace cart {

class CartSummaryProjection : public evs::Projection {
 public:
  std::string Name() const override { return "cart_summary"; }
  // cart_summaries(cart_id, status, item_count, total_cents, version, updated_at_us);
  // cart_lines(cart_id, name, quantity, unit_price_cents);
  // item_totals(name, quantity_added, quantity_removed, times_added).
  std::vector<std::string> Tables() const override {
    return {"cart_summaries", "cart_lines", "item_totals"};
  }
  evs::Status CreateTables(evs::ReadModel& model) override;
  evs::Status Apply(evs::ReadModel& model, const evs::RecordedEvent& event) override;
};

}  // namespace cart
