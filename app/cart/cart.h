// The reference application: an event-sourced shopping cart, built only on evs's public API.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "evs/aggregate.h"
#include "evs/event_types.h"
#include "evs/personal_data.h"
#include "evs/status.h"
#include "evs/upcasting.h"

namespace cart {

// {} for a cart of nobody in particular (as every CartOpened before customers existed), or
// {"customer_id"?, "email"?}: the email is personal data, sealed under the customer's key
// (evs/personal_data.h), so it never appears in clear and reads as evs::kRedacted once the
// customer is forgotten. Optional fields: no new schema version.
struct CartOpened {
  static constexpr std::string_view kType = "CartOpened";
  std::string customer_id;
  std::optional<evs::SealedField> email;
};
// A price in cents of a currency (an ISO 4217 code such as "USD").
struct Price {
  int64_t cents = 0;
  std::string currency = "USD";
};
// Schema version 2: {"name", "quantity", "unit_price": {"cents", "currency"}}. Version 1 had
// {"name", "quantity", "unit_price_cents"}, always in US dollars; CartUpcaster() reads it.
struct ItemAdded {
  static constexpr std::string_view kType = "ItemAdded";
  static constexpr int kSchemaVersion = 2;
  std::string name;
  int64_t quantity = 1;
  Price unit_price;
};
struct ItemRemoved {
  static constexpr std::string_view kType = "ItemRemoved";
  std::string name;
  int64_t quantity = 1;
};
struct CartCheckedOut {
  static constexpr std::string_view kType = "CartCheckedOut";
};

void to_json(nlohmann::json& j, const CartOpened&);
void from_json(const nlohmann::json& j, CartOpened&);
void to_json(nlohmann::json& j, const ItemAdded& e);
void from_json(const nlohmann::json& j, ItemAdded& e);
void to_json(nlohmann::json& j, const ItemRemoved& e);
void from_json(const nlohmann::json& j, ItemRemoved& e);
void to_json(nlohmann::json& j, const CartCheckedOut&);
void from_json(const nlohmann::json& j, CartCheckedOut&);

using CartEvents = evs::EventTypes<CartOpened, ItemAdded, ItemRemoved, CartCheckedOut>;

// The cart's event schemas: every type at its current version and the step from ItemAdded version
// 1 (the price gets its currency, "USD"). Checked once; every reader of cart events uses it.
evs::Result<std::shared_ptr<const evs::Upcaster>> BuildCartUpcaster();
// The same, built on first use (it checks out: a test builds it).
std::shared_ptr<const evs::Upcaster> CartUpcaster();

// The currency of a cart with no priced item yet, and of every version-1 event.
inline constexpr std::string_view kDefaultCurrency = "USD";

struct Line {
  int64_t quantity = 0;
  int64_t unit_price_cents = 0;
  std::string currency{kDefaultCurrency};
};

enum class Status { kNew, kOpen, kCheckedOut };

// Who a cart is for.
struct Customer {
  std::string id;                         // empty: nobody in particular
  std::optional<evs::SealedField> email;  // sealed under `id`'s key
};
inline constexpr size_t kMaxEmailBytes = 254;
// Checks a customer id (a subject id, evs/personal_data.h) and an email (an address with an '@',
// at most kMaxEmailBytes, no spaces or control characters; it needs a customer id, whose key it
// is sealed under), and seals the email with `personal`. Both may be empty. kInvalidArgument for
// bad input; kUnsupported for an email without `personal` (null).
evs::Result<Customer> MakeCustomer(evs::PersonalData* personal, const std::string& customer_id,
                                   const std::string& email);

// Limits of the domain, checked by the commands.
inline constexpr size_t kMaxItemNameBytes = 200;
inline constexpr int64_t kMaxQuantity = 1'000'000;
inline constexpr int64_t kMaxUnitPriceCents = 100'000'000'000;  // a billion in currency units
// The largest total of a cart (ten quadrillion currency units): with it no sum of lines, each at
// most kMaxQuantity * kMaxUnitPriceCents, can overflow.
inline constexpr int64_t kMaxTotalCents = 1'000'000'000'000'000'000;

class Cart : public evs::Aggregate<Cart, CartEvents> {
 public:
  static constexpr std::string_view kCategory = "cart";

  explicit Cart(std::string id) : Aggregate(std::move(id)) {}

  // Commands: each checks the rules and raises events, or returns kDomainRule (kInvalidArgument
  // for malformed input) with nothing raised.
  // Opens the cart, for `customer` when given (see MakeCustomer).
  evs::Status Open(Customer customer = {});
  // Adds `quantity` of an item. `unit_price_cents` may be omitted for an item already in the
  // cart (its price stays); a different price for an item in the cart is refused, and so is a
  // total past kMaxTotalCents.
  // The cart has one currency: `currency` (an ISO 4217 code; empty: the cart's, "USD" for an
  // empty cart) must be the one of the items in it.
  evs::Status AddItem(const std::string& name, int64_t quantity,
                      std::optional<int64_t> unit_price_cents, const std::string& currency = "");
  evs::Status RemoveItem(const std::string& name, int64_t quantity);
  evs::Status Checkout();

  // Events decode only with the quantities and prices that the commands allow (kCorruption
  // otherwise). Arithmetic on a stream that the commands did not write saturates: quantities and
  // totals that would pass INT64_MAX stay at it.
  void Apply(const Event& event);

  Status status() const { return status_; }
  const std::map<std::string, Line>& items() const { return items_; }
  int64_t total_cents() const;
  // The currency of the items in the cart (kDefaultCurrency when it has none).
  std::string currency() const;
  // The customer the cart was opened for; the email stays sealed in the state (and snapshots).
  const Customer& customer() const { return customer_; }

  // {"cart_id", "status": "open"|"checked_out", "items": [{"name", "quantity",
  //  "unit_price_cents", "line_total_cents"}], "total_cents", "currency", "version"}, and
  // "customer_id" for a cart opened for a customer.
  nlohmann::ordered_json ToJson() const;
  // The same with "email" when the cart has one: revealed through `personal`, evs::kRedacted
  // once the customer is forgotten. Errors of PersonalData::Reveal (kCorruption for an altered
  // field or a key store that is not the store's); kUnsupported when `personal` is null.
  evs::Result<nlohmann::ordered_json> ToJson(evs::PersonalData* personal) const;

  // Snapshots (evs/aggregate.h): {"status", "items": [{"name", "quantity", "unit_price_cents",
  // "currency"}], "customer_id"?, "email"? (sealed)}. Version 2 added the customer.
  static constexpr int kSnapshotVersion = 2;
  nlohmann::json SnapshotState() const;
  evs::Status LoadSnapshotState(const nlohmann::json& state);

 private:
  evs::Status CheckOpen() const;

  Status status_ = Status::kNew;
  Customer customer_;
  std::map<std::string, Line> items_;
};

const char* StatusName(Status status);

}  // namespace cart
