#include "cart/cart.h"

#include <algorithm>
#include <type_traits>

#include "evs/text.h"

namespace cart {

void to_json(nlohmann::json& j, const CartOpened& e) {
  j = nlohmann::json::object();
  if (!e.customer_id.empty()) j["customer_id"] = e.customer_id;
  if (e.email) j["email"] = *e.email;
}
void from_json(const nlohmann::json& j, CartOpened& e) {
  e.customer_id = j.value("customer_id", std::string());
  if (auto email = j.find("email"); email != j.end()) {
    e.email = email->get<evs::SealedField>();
    if (e.email->subject != e.customer_id) {
      throw nlohmann::json::out_of_range::create(
          406, "the email is sealed for another subject than the customer", &j);
    }
  }
}
void to_json(nlohmann::json& j, const ItemAdded& e) {
  j = {{"name", e.name},
       {"quantity", e.quantity},
       {"unit_price", {{"cents", e.unit_price.cents}, {"currency", e.unit_price.currency}}}};
}

namespace {

bool IsCurrencyCode(const std::string& code) {
  return code.size() == 3 &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// The integer `name` of `j` when it is within [min, max]; otherwise throws as nlohmann::json does
// for data that does not fit, so that decoding the event is kCorruption.
int64_t InRange(const nlohmann::json& j, const char* name, int64_t min, int64_t max) {
  const nlohmann::json& value = j.at(name);
  if (!value.is_number_integer()) {
    throw nlohmann::json::type_error::create(302, std::string(name) + " is not an integer", &j);
  }
  // Non-negative integers parse as unsigned: those past INT64_MAX must not wrap.
  const bool too_large =
      value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max);
  const int64_t number = too_large ? max : value.get<int64_t>();
  if (too_large || number < min || number > max) {
    throw nlohmann::json::out_of_range::create(
        406, std::string(name) + " " + value.dump() + " is outside the cart's limits", &j);
  }
  return number;
}

}  // namespace

void from_json(const nlohmann::json& j, ItemAdded& e) {
  j.at("name").get_to(e.name);
  e.quantity = InRange(j, "quantity", 1, kMaxQuantity);
  const nlohmann::json& price = j.at("unit_price");
  e.unit_price.cents = InRange(price, "cents", 0, kMaxUnitPriceCents);
  price.at("currency").get_to(e.unit_price.currency);
  if (!IsCurrencyCode(e.unit_price.currency)) {
    throw nlohmann::json::out_of_range::create(
        406, "currency '" + e.unit_price.currency + "' is not an ISO 4217 code", &j);
  }
}
void to_json(nlohmann::json& j, const ItemRemoved& e) {
  j = {{"name", e.name}, {"quantity", e.quantity}};
}
void from_json(const nlohmann::json& j, ItemRemoved& e) {
  j.at("name").get_to(e.name);
  e.quantity = InRange(j, "quantity", 1, kMaxQuantity);
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

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

int64_t SaturatingLineTotal(const Line& line) {
  int64_t total;
  if (__builtin_mul_overflow(line.quantity, line.unit_price_cents, &total)) {
    return (line.quantity < 0) != (line.unit_price_cents < 0) ? INT64_MIN : INT64_MAX;
  }
  return total;
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

evs::Result<Customer> MakeCustomer(evs::PersonalData* personal, const std::string& customer_id,
                                   const std::string& email) {
  Customer customer{customer_id, std::nullopt};
  if (!customer_id.empty()) {
    if (evs::Status s = evs::ValidateSubject(customer_id); !s.ok()) {
      return Invalid("customer id: " + s.error().message);
    }
  }
  if (email.empty()) return customer;
  if (customer_id.empty()) {
    return Invalid("an email needs a customer id: it is sealed under the customer's key");
  }
  const bool has_space = std::any_of(email.begin(), email.end(),
                                     [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
  if (email.size() > kMaxEmailBytes || has_space || email.find('@') == std::string::npos ||
      !evs::IsValidUtf8(email)) {
    return Invalid("the email must be an address with an '@', without spaces, of at most " +
                   std::to_string(kMaxEmailBytes) + " bytes");
  }
  if (personal == nullptr) {
    return evs::Error::Make(evs::ErrorCode::kUnsupported,
                            "this store has no key store, so it cannot keep an email");
  }
  auto sealed = personal->Seal(customer_id, email);
  if (!sealed.ok()) return sealed.error();
  customer.email = std::move(sealed).value();
  return customer;
}

evs::Status Cart::Open(Customer customer) {
  if (status_ != Status::kNew) return Rule("cart " + id() + " is already open");
  if (customer.email && customer.email->subject != customer.id) {
    return Invalid("the email is sealed for another customer");
  }
  Raise(CartOpened{std::move(customer.id), std::move(customer.email)});
  return evs::OkStatus();
}

evs::Status Cart::AddItem(const std::string& name, int64_t quantity,
                          std::optional<int64_t> unit_price_cents, const std::string& currency) {
  if (auto s = CheckOpen(); !s) return s;
  if (auto s = CheckItemName(name); !s) return s;
  if (auto s = CheckQuantity(quantity); !s) return s;
  const std::string cart_currency = this->currency();
  if (!currency.empty() && !IsCurrencyCode(currency)) {
    return Invalid("currency '" + currency + "' is not an ISO 4217 code (three capital letters)");
  }
  if (!currency.empty() && !items_.empty() && currency != cart_currency) {
    return Rule("cart " + id() + " is priced in " + cart_currency + ", not " + currency);
  }
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
    if (quantity > kMaxQuantity - it->second.quantity) {
      return Invalid("item '" + name + "' would exceed the quantity limit of " +
                     std::to_string(kMaxQuantity));
    }
  }
  // At most kMaxQuantity * kMaxUnitPriceCents (checked above), below kMaxTotalCents: neither the
  // product nor the difference can overflow.
  const int64_t added = quantity * price;
  if (const int64_t total = total_cents(); total > kMaxTotalCents - added) {
    return Invalid("adding " + std::to_string(quantity) + " of '" + name +
                   "' would take the cart's total past the limit of " +
                   std::to_string(kMaxTotalCents) + " cents");
  }
  Raise(ItemAdded{name, quantity, Price{price, currency.empty() ? cart_currency : currency}});
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
          customer_ = Customer{e.customer_id, e.email};
        } else if constexpr (std::is_same_v<E, ItemAdded>) {
          Line& line = items_[e.name];
          line.quantity = SaturatingAdd(line.quantity, e.quantity);
          line.unit_price_cents = e.unit_price.cents;
          line.currency = e.unit_price.currency;
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
  for (const auto& [name, line] : items_) total = SaturatingAdd(total, SaturatingLineTotal(line));
  return total;
}

std::string Cart::currency() const {
  return items_.empty() ? std::string(kDefaultCurrency) : items_.begin()->second.currency;
}

nlohmann::ordered_json Cart::ToJson() const {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const auto& [name, line] : items_) {
    items.push_back({{"name", name},
                     {"quantity", line.quantity},
                     {"unit_price_cents", line.unit_price_cents},
                     {"line_total_cents", SaturatingLineTotal(line)}});
  }
  nlohmann::ordered_json out = {{"cart_id", id()}};
  if (!customer_.id.empty()) out["customer_id"] = customer_.id;
  out["status"] = StatusName(status_);
  out["items"] = std::move(items);
  out["total_cents"] = total_cents();
  out["currency"] = currency();
  out["version"] = version();
  return out;
}

evs::Result<nlohmann::ordered_json> Cart::ToJson(evs::PersonalData* personal) const {
  nlohmann::ordered_json out = ToJson();
  if (!customer_.email) return out;
  if (personal == nullptr) {
    return evs::Error::Make(evs::ErrorCode::kUnsupported,
                            "cart " + id() + " has an email, and there is no key store to read it");
  }
  auto email = personal->Reveal(*customer_.email);
  if (!email.ok()) return email.error();
  out["email"] = std::move(email).value();
  return out;
}

nlohmann::json Cart::SnapshotState() const {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& [name, line] : items_) {
    items.push_back({{"name", name},
                     {"quantity", line.quantity},
                     {"unit_price_cents", line.unit_price_cents},
                     {"currency", line.currency}});
  }
  nlohmann::json state = {{"status", StatusName(status_)}, {"items", std::move(items)}};
  if (!customer_.id.empty()) state["customer_id"] = customer_.id;
  if (customer_.email) state["email"] = *customer_.email;  // sealed, as in the event
  return state;
}

evs::Status Cart::LoadSnapshotState(const nlohmann::json& state) {
  try {
    const std::string status = state.at("status").get<std::string>();
    if (status == StatusName(Status::kOpen)) {
      status_ = Status::kOpen;
    } else if (status == StatusName(Status::kCheckedOut)) {
      status_ = Status::kCheckedOut;
    } else {
      return evs::Error::Make(evs::ErrorCode::kCorruption, "snapshot status '" + status + "'");
    }
    customer_.id = state.value("customer_id", std::string());
    customer_.email.reset();
    if (auto email = state.find("email"); email != state.end()) {
      customer_.email = email->get<evs::SealedField>();
    }
    items_.clear();
    for (const nlohmann::json& item : state.at("items")) {
      Line& line = items_[item.at("name").get<std::string>()];
      line.quantity = item.at("quantity").get<int64_t>();
      line.unit_price_cents = item.at("unit_price_cents").get<int64_t>();
      line.currency = item.at("currency").get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    return evs::Error::Make(evs::ErrorCode::kCorruption,
                            std::string("the snapshot does not fit a cart: ") + e.what());
  }
  return evs::OkStatus();
}

evs::Result<std::shared_ptr<const evs::Upcaster>> BuildCartUpcaster() {
  evs::UpcasterBuilder schemas;
  schemas.Declare<CartEvents>().Step("ItemAdded", 1, [](nlohmann::json& data) {
    // Version 1 priced in US dollars: {"unit_price_cents": N} becomes {"unit_price": {...}}.
    auto cents = data.find("unit_price_cents");
    if (cents == data.end()) {
      return evs::Status(
          evs::Error::Make(evs::ErrorCode::kCorruption, "unit_price_cents is missing"));
    }
    nlohmann::json price = {{"cents", *cents}, {"currency", std::string(kDefaultCurrency)}};
    data.erase(cents);
    data["unit_price"] = std::move(price);
    return evs::OkStatus();
  });
  return schemas.Build();
}

std::shared_ptr<const evs::Upcaster> CartUpcaster() {
  static const std::shared_ptr<const evs::Upcaster> upcaster = [] {
    auto built = BuildCartUpcaster();
    if (!built.ok()) std::abort();  // a programming error, caught by CartSchemas.CheckOut
    return std::move(built).value();
  }();
  return upcaster;
}

}  // namespace cart
