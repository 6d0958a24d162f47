// The cart endpoints: the original's OpenCart, AddItem and GetCart, and the rest of the cart.
#include <charconv>

#include "evs/uuid.h"
#include "http/api.h"
#include "http/problem.h"

namespace evs::http {

namespace {

Response CartBodyResponse(std::string body, int64_t version, int status = 200) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("ETag", "\"" + std::to_string(version) + "\"");
  return r;
}

// Cart ids are UUIDs, in their canonical lower-case form.
std::optional<std::string> CartId(const std::string& text) {
  auto uuid = Uuid::Parse(text);
  if (!uuid) return std::nullopt;
  return uuid->ToString();
}

Response UnknownCart(const std::string& id) {
  return Problem(404, "not_found", "cart '" + id + "' not found (cart ids are UUIDs)");
}

// If-Match: "<version>" (a bare number is accepted too). nullopt when absent; a 400 when it
// is not a version.
std::variant<std::optional<int64_t>, Response> IfMatch(const Request& request) {
  auto header = request.Header("If-Match");
  if (!header) return std::optional<int64_t>();
  std::string_view text = *header;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || version < 0) {
    return Problem(400, "invalid_if_match",
                   "If-Match must be a cart version in quotes, like \"3\" (the ETag of GET "
                   "/carts/{id}), got '" +
                       std::string(*header) + "'");
  }
  return std::optional<int64_t>(version);
}

Response PreconditionFailed(const std::string& id, int64_t expected, int64_t actual) {
  return Problem(412, "precondition_failed",
                 "cart '" + id + "' is at version " + std::to_string(actual) +
                     ", not the If-Match version " + std::to_string(expected) +
                     "; nothing was written",
                 {{"expected", expected}, {"actual", actual}});
}

}  // namespace

Response Api::CartResponse(const cart::Cart& cart, int status) {
  auto json = cart.ToJson(options_.personal_data.get());
  if (!json.ok()) return ProblemFor(json.error());
  std::string body = json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // A body with an email is not kept: the text must not outlive a forget of its customer, and
  // the stream's version (the cache's check) does not change when that happens.
  if (!cart.customer().email) cart_bodies_.Put(CartBody{cart.id(), cart.version(), body});
  return CartBodyResponse(std::move(body), cart.version(), status);
}

Response Api::OpenCart(const Request& request) {
  std::string customer_id;
  std::string email;
  if (!request.body.empty()) {
    auto parsed = JsonBody(request);
    if (auto* problem = std::get_if<Response>(&parsed)) return std::move(*problem);
    const nlohmann::json& body = std::get<nlohmann::json>(parsed);
    if (!body.is_object()) {
      return Problem(400, "invalid_body",
                     R"(the body must be an object like {"customer_id": "c-1", "email": "a@b.c"})");
    }
    for (const auto& [key, value] : body.items()) {
      std::string* field = key == "customer_id" ? &customer_id : key == "email" ? &email : nullptr;
      if (field == nullptr) {
        return Problem(400, "invalid_body",
                       "unknown field '" + key + "'; expected customer_id, email");
      }
      if (!value.is_string()) return Problem(400, "invalid_body", "'" + key + "' must be a string");
      *field = value.get<std::string>();
    }
  }
  // The email is sealed, its key durable, before the cart's first event is appended.
  auto customer = cart::MakeCustomer(options_.personal_data.get(), customer_id, email);
  if (!customer.ok()) return ProblemFor(customer.error());
  const std::string id = Uuid::Random().ToString();
  auto cart = carts_.Create(id, [&](cart::Cart& c) { return c.Open(*customer); });
  if (!cart.ok()) return ProblemFor(cart.error());
  nlohmann::ordered_json body = {{"cart_id", id}, {"version", cart->version()}};
  Response r = CartResponse(*cart, 201);
  r.body = body.dump();
  r.headers.emplace_back("Location", "/carts/" + id);
  return r;
}

Response Api::GetCart(const std::string& raw_id) {
  auto id = CartId(raw_id);
  if (!id) return UnknownCart(raw_id);
  auto version = store_.StreamVersion(cart::Cart::StreamIdFor(*id));
  if (version.ok() && *version > 0) {
    auto cached = cart_bodies_.Get(*id);
    if (cached && cached->version() == *version) {
      return CartBodyResponse(std::move(cached->json), *version);
    }
  }
  auto cart = carts_.Fetch(*id);
  if (!cart.ok()) return ProblemFor(cart.error());
  return CartResponse(*cart);
}

template <class Decide>
Response Api::CartCommand(const Request& request, const std::string& raw_id, Decide&& decide) {
  auto id = CartId(raw_id);
  if (!id) return UnknownCart(raw_id);
  auto if_match = IfMatch(request);
  if (auto* problem = std::get_if<Response>(&if_match)) return std::move(*problem);
  const std::optional<int64_t> expected = std::get<std::optional<int64_t>>(if_match);
  if (!expected) {
    auto cart = carts_.Execute(*id, decide);
    if (!cart.ok()) return ProblemFor(cart.error());
    return CartResponse(*cart);
  }
  // Conditional: one attempt, at the version the client saw, or nothing.
  auto cart = carts_.Fetch(*id);
  if (!cart.ok()) return ProblemFor(cart.error());
  if (cart->version() != *expected) return PreconditionFailed(*id, *expected, cart->version());
  if (Status s = decide(*cart); !s.ok()) return ProblemFor(s.error());
  auto stored = carts_.Store(std::move(cart).value());
  if (!stored.ok()) {
    if (stored.error().code == ErrorCode::kWrongExpectedVersion) {
      return PreconditionFailed(*id, *expected, stored.error().conflict->actual);
    }
    return ProblemFor(stored.error());
  }
  return CartResponse(*stored);
}

Response Api::AddItem(const Request& request, const std::string& id) {
  auto parsed = JsonBody(request);
  if (auto* problem = std::get_if<Response>(&parsed)) return std::move(*problem);
  const nlohmann::json& body = std::get<nlohmann::json>(parsed);
  if (!body.is_object()) {
    return Problem(400, "invalid_body",
                   R"(the body must be an object like {"name": "apple", "quantity": 2})");
  }
  std::string name;
  int64_t quantity = 1;
  std::optional<int64_t> price;
  std::string currency;
  for (const auto& [key, value] : body.items()) {
    if (key == "name") {
      if (!value.is_string()) return Problem(400, "invalid_body", "'name' must be a string");
      name = value.get<std::string>();
    } else if (key == "quantity") {
      if (!value.is_number_integer()) {
        return Problem(400, "invalid_body", "'quantity' must be an integer");
      }
      quantity = value.get<int64_t>();
    } else if (key == "unit_price_cents") {
      if (!value.is_number_integer()) {
        return Problem(400, "invalid_body", "'unit_price_cents' must be an integer");
      }
      price = value.get<int64_t>();
    } else if (key == "currency") {
      if (!value.is_string()) return Problem(400, "invalid_body", "'currency' must be a string");
      currency = value.get<std::string>();
    } else {
      return Problem(
          400, "invalid_body",
          "unknown field '" + key + "'; expected name, quantity, unit_price_cents, currency");
    }
  }
  if (!body.contains("name")) return Problem(400, "invalid_body", "'name' is required");
  return CartCommand(request, id,
                     [&](cart::Cart& c) { return c.AddItem(name, quantity, price, currency); });
}

Response Api::RemoveItem(const Request& request, const Target& target, const std::string& id,
                         const std::string& name) {
  auto quantity = IntParam(target, "quantity", 1, 1, cart::kMaxQuantity);
  if (auto* problem = std::get_if<Response>(&quantity)) return std::move(*problem);
  const int64_t n = std::get<int64_t>(quantity);
  return CartCommand(request, id, [&](cart::Cart& c) { return c.RemoveItem(name, n); });
}

Response Api::Checkout(const Request& request, const std::string& id) {
  return CartCommand(request, id, [](cart::Cart& c) { return c.Checkout(); });
}

}  // namespace evs::http
