#include "cart/cart.h"

#include <type_traits>

#include "evs/text.h"

namespace cart {

void to_json(nlohmann::json& j, const CartOpened&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, CartOpened&) {}
void to_json(nlohmann::json& j, const ItemAdded& e) {
  j = {{"name", e.name}, {"quantity", e.quantity}, {"unit_price_cents", e.unit_price_cents}};
}
void from_json(const nlohmann::json& j, ItemAdded& e) {
  j.at("name").get_to(e.name);
  j.at("quantity").get_to(e.quantity);
  j.at("unit_price_cents").get_to(e.unit_price_cents);
}
void to_json(nlohmann::json& j, const ItemRemoved& e) {
  j = {{"name", e.name}, {"quantity", e.quantity}};
}
void from_json(const nlohmann::json& j, ItemRemoved& e) {
  j.at("name").get_to(e.name);
  j.at("quantity").get_to(e.quantity);
}
void to_json(nlohmann::json& j, const CartCheckedOut&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, CartCheckedOut&) {}

namespace {

evs::Error Rule(std::string message) {
  return evs::Error::Make(evs::ErrorCode::kDomainRule, std::move(message));
}
evs::Error Invalid(std::string message) {
  return evs::Error::Make(evs::ErrorCode::kInvalidArgument, std::move(message));
}

evs::Status CheckItemName(const std::string& name) {
  if (name.empty()) return Invalid("item name is empty");
  if (!evs::IsValidUtf8(name)) return Invalid("item name is not valid UTF-8");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return Invalid("item name contains a control character");
  }
  if (name.size() > kMaxItemNameBytes) {
    return Invalid("item name is " + std::to_string(name.size()) + " bytes; the limit is " +
                   std::to_string(kMaxItemNameBytes));
  }
  return evs::OkStatus();
}

evs::Status CheckQuantity(int64_t quantity) {
  if (quantity < 1) return Invalid("quantity must be at least 1, got " + std::to_string(quantity));
  if (quantity > kMaxQuantity) {
    return Invalid("quantity must be at most " + std::to_string(kMaxQuantity));
  }
  return evs::OkStatus();
}

}  // namespace

const char* StatusName(Status status) {
  switch (status) {
    case Status::kNew:
      return "new";
    case Status::kOpen:
      return "open";
    case Status::kCheckedOut:
      return "checked_out";
  }
  return "unknown";
}

evs::Status Cart::CheckOpen() const {
  if (status_ == Status::kNew) return Rule("cart " + id() + " is not open");
  if (status_ == Status::kCheckedOut) {
    return Rule("cart " + id() + " is checked out; it cannot change any more");
  }
  return evs::OkStatus();
}

evs::Status Cart::Open() {
  if (status_ != Status::kNew) return Rule("cart " + id() + " is already open");
  Raise(CartOpened{});
  return evs::OkStatus();
}

evs::Status Cart::AddItem(const std::string& name, int64_t quantity,
                          std::optional<int64_t> unit_price_cents) {
  if (auto s = CheckOpen(); !s) return s;
  if (auto s = CheckItemName(name); !s) return s;
  if (auto s = CheckQuantity(quantity); !s) return s;
  auto it = items_.find(name);
  int64_t price = unit_price_cents.value_or(it != items_.end() ? it->second.unit_price_cents : 0);
  if (price < 0 || price > kMaxUnitPriceCents) {
    return Invalid("unit price must be between 0 and " + std::to_string(kMaxUnitPriceCents) +
                   " cents");
  }
  if (it != items_.end()) {
    if (it->second.unit_price_cents != price) {
      return Rule("item '" + name + "' is in the cart at " +
                  std::to_string(it->second.unit_price_cents) +
                  " cents; remove it first to change its price");
    }
    if (it->second.quantity + quantity > kMaxQuantity) {
      return Invalid("item '" + name + "' would exceed the quantity limit of " +
                     std::to_string(kMaxQuantity));
    }
  }
  Raise(ItemAdded{name, quantity, price});
  return evs::OkStatus();
}

evs::Status Cart::RemoveItem(const std::string& name, int64_t quantity) {
  if (auto s = CheckOpen(); !s) return s;
  if (auto s = CheckItemName(name); !s) return s;
  if (auto s = CheckQuantity(quantity); !s) return s;
  auto it = items_.find(name);
  int64_t in_cart = it == items_.end() ? 0 : it->second.quantity;
  if (quantity > in_cart) {
    return Rule("cannot remove " + std::to_string(quantity) + " of '" + name + "': the cart has " +
                std::to_string(in_cart));
  }
  Raise(ItemRemoved{name, quantity});
  return evs::OkStatus();
}

evs::Status Cart::Checkout() {
  if (auto s = CheckOpen(); !s) return s;
  if (items_.empty())
    return Rule("cart " + id() + " is empty; an empty cart cannot be checked out");
  Raise(CartCheckedOut{});
  return evs::OkStatus();
}

void Cart::Apply(const Event& event) {
  std::visit(
      [this](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, CartOpened>) {
          status_ = Status::kOpen;
        } else if constexpr (std::is_same_v<E, ItemAdded>) {
          Line& line = items_[e.name];
          line.quantity += e.quantity;
          line.unit_price_cents = e.unit_price_cents;
        } else if constexpr (std::is_same_v<E, ItemRemoved>) {
          auto it = items_.find(e.name);
          if (it != items_.end() && (it->second.quantity -= e.quantity) <= 0) items_.erase(it);
        } else if constexpr (std::is_same_v<E, CartCheckedOut>) {
          status_ = Status::kCheckedOut;
        }
      },
      event);
}

int64_t Cart::total_cents() const {
  int64_t total = 0;
  for (const auto& [name, line] : items_) total += line.quantity * line.unit_price_cents;
  return total;
}

nlohmann::ordered_json Cart::ToJson() const {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const auto& [name, line] : items_) {
    items.push_back({{"name", name},
                     {"quantity", line.quantity},
                     {"unit_price_cents", line.unit_price_cents},
                     {"line_total_cents", line.quantity * line.unit_price_cents}});
  }
  return {{"cart_id", id()},
          {"status", StatusName(status_)},
          {"items", std::move(items)},
          {"total_cents", total_cents()},
          {"version", version()}};
}

}  // namespace cart
