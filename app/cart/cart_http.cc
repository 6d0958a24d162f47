// The cart endpoints: the original's OpenCart, AddItem and GetCart, and the rest of the cart.
#include "cart/cart_http.h"

#include <cstdint>

#include "evs/http/command_context.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "evs/uuid.h"

namespace cart {

using evs::ErrorCode;
using evs::http::BeginCommand;
using evs::http::CommandContext;
using evs::http::JsonBody;
using evs::http::Params;
using evs::http::Problem;
using evs::http::ProblemFor;
using evs::http::Request;
using evs::http::Respond;
using evs::http::Response;

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
  auto uuid = evs::Uuid::Parse(text);
  if (!uuid) return std::nullopt;
  return uuid->ToString();
}

Response NoReadModel() {
  return Problem(503, "unavailable", "the cart read model is not running in this server");
}

Response UnknownCart(const std::string& id) {
  return Problem(404, "not_found", "cart '" + id + "' not found (cart ids are UUIDs)");
}

Response PreconditionFailed(const std::string& id, int64_t expected, int64_t actual) {
  return Problem(412, "precondition_failed",
                 "cart '" + id + "' is at version " + std::to_string(actual) +
                     ", not the If-Match version " + std::to_string(expected) +
                     "; nothing was written",
                 {{"expected", expected}, {"actual", actual}});
}

}  // namespace

Response CartHttp::CartResponse(const Cart& cart, int status) {
  auto json = cart.ToJson(options_.personal_data.get());
  if (!json.ok()) return ProblemFor(json.error());
  std::string body = json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // A body with an email is not kept: the text must not outlive a forget of its customer, and
  // the stream's version (the cache's check) does not change when that happens.
  if (!cart.customer().email) cart_bodies_.Put(CartBody{cart.id(), cart.version(), body});
  return CartBodyResponse(std::move(body), cart.version(), status);
}

void CartHttp::OpenCart(const Request& request, const Params&, Respond respond) {
  auto context = BeginCommand(request, respond);
  if (!context) return;
  std::string customer_id;
  std::string email;
  if (!request.body.empty()) {
    auto parsed = JsonBody(request);
    if (!parsed) return respond(parsed.problem());
    const nlohmann::json& body = *parsed;
    if (!body.is_object()) {
      return respond(
          Problem(400, "invalid_body",
                  R"(the body must be an object like {"customer_id": "c-1", "email": "a@b.c"})"));
    }
    for (const auto& [key, value] : body.items()) {
      std::string* field = key == "customer_id" ? &customer_id : key == "email" ? &email : nullptr;
      if (field == nullptr) {
        return respond(Problem(400, "invalid_body",
                               "unknown field '" + key + "'; expected customer_id, email"));
      }
      if (!value.is_string()) {
        return respond(Problem(400, "invalid_body", "'" + key + "' must be a string"));
      }
      *field = value.get<std::string>();
    }
  }
  // The email is sealed, its key durable, before the cart's first event is appended.
  auto customer = MakeCustomer(options_.personal_data.get(), customer_id, email);
  if (!customer.ok()) return respond(ProblemFor(customer.error()));
  const std::string id = evs::Uuid::Random().ToString();
  carts_.CreateAsync(
      id, [&](Cart& c) { return c.Open(*customer); },
      [this, id, respond](evs::Result<Cart> cart) {
        if (!cart.ok()) return respond(ProblemFor(cart.error()));
        nlohmann::ordered_json body = {{"cart_id", id}, {"version", cart->version()}};
        Response r = CartResponse(*cart, 201);
        r.body = body.dump();
        r.headers.emplace_back("Location", "/carts/" + id);
        respond(std::move(r));
      },
      context->Stamp());
}

Response CartHttp::GetCart(const Request&, const Params& params) {
  const std::string& raw_id = params.path.at("id");
  auto id = CartId(raw_id);
  if (!id) return UnknownCart(raw_id);
  if (params.query.count("version")) {
    // Time travel: the cart as it stood after that version, folded from its events up to it.
    auto at = evs::http::QueryInt(params, "version", 0, 1, INT64_MAX);
    if (!at) return at.problem();
    auto cart = carts_.FetchAt(*id, *at);
    if (!cart.ok()) return ProblemFor(cart.error());
    auto json = cart->ToJson(options_.personal_data.get());
    if (!json.ok()) return ProblemFor(json.error());
    return CartBodyResponse(json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                            cart->version());
  }
  auto version = store_.StreamVersion(Cart::StreamIdFor(*id));
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
void CartHttp::CartCommand(const Request& request, const CommandContext& context,
                           const std::string& raw_id, Decide decide, Respond respond) {
  auto id = CartId(raw_id);
  if (!id) return respond(UnknownCart(raw_id));
  auto if_match = evs::http::IfMatchVersion(request);
  if (!if_match) return respond(if_match.problem());
  const std::optional<int64_t> expected = *if_match;
  const std::string metadata = context.Stamp();
  if (!expected) {
    carts_.ExecuteAsync(
        *id, std::move(decide),
        [this, respond](evs::Result<Cart> cart) {
          respond(cart.ok() ? CartResponse(*cart) : ProblemFor(cart.error()));
        },
        metadata);
    return;
  }
  // Conditional: one attempt, at the version the client saw, or nothing.
  auto cart = carts_.Fetch(*id);
  if (!cart.ok()) return respond(ProblemFor(cart.error()));
  if (cart->version() != *expected) {
    return respond(PreconditionFailed(*id, *expected, cart->version()));
  }
  if (evs::Status s = decide(*cart); !s.ok()) return respond(ProblemFor(s.error()));
  carts_.StoreAsync(
      std::move(cart).value(),
      [this, id = *id, expected = *expected, respond](evs::Result<Cart> stored) {
        if (stored.ok()) return respond(CartResponse(*stored));
        if (stored.error().code == ErrorCode::kWrongExpectedVersion) {
          return respond(PreconditionFailed(id, expected, stored.error().conflict->actual));
        }
        respond(ProblemFor(stored.error()));
      },
      metadata);
}

// The item a POST /carts/{id}/items adds.
struct CartHttp::NewItem {
  std::string name;
  int64_t quantity = 1;
  std::optional<int64_t> price;
  std::string currency;
};

evs::http::Parsed<CartHttp::NewItem> CartHttp::ReadNewItem(const Request& request) {
  auto parsed = JsonBody(request);
  if (!parsed) return parsed.problem();
  const nlohmann::json& body = *parsed;
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
  return NewItem{std::move(name), quantity, price, std::move(currency)};
}

void CartHttp::AddItem(const Request& request, const Params& params, Respond respond) {
  auto context = BeginCommand(request, respond);
  if (!context) return;
  auto item = ReadNewItem(request);
  if (!item) return respond(item.problem());
  // By value: the decision may run again (a retry) after this handler has returned.
  CartCommand(
      request, *context, params.path.at("id"),
      [item = std::move(*item)](Cart& c) {
        return c.AddItem(item.name, item.quantity, item.price, item.currency);
      },
      std::move(respond));
}

void CartHttp::RemoveItem(const Request& request, const Params& params, Respond respond) {
  auto context = BeginCommand(request, respond);
  if (!context) return;
  auto quantity = evs::http::QueryInt(params, "quantity", 1, 1, kMaxQuantity);
  if (!quantity) return respond(quantity.problem());
  CartCommand(
      request, *context, params.path.at("id"),
      [n = *quantity, name = params.path.at("name")](Cart& c) { return c.RemoveItem(name, n); },
      std::move(respond));
}

void CartHttp::Checkout(const Request& request, const Params& params, Respond respond) {
  auto context = BeginCommand(request, respond);
  if (!context) return;
  CartCommand(
      request, *context, params.path.at("id"), [](Cart& c) { return c.Checkout(); },
      std::move(respond));
}

Response CartHttp::ListCarts(const Request&, const Params& params) {
  if (!options_.reports) return NoReadModel();
  auto limit = evs::http::QueryLimit(params);
  if (!limit) return limit.problem();
  std::optional<std::string> status;
  if (auto it = params.query.find("status"); it != params.query.end()) {
    if (it->second != "open" && it->second != "checked_out") {
      return Problem(400, "invalid_parameter",
                     "status must be open or checked_out, got '" + it->second + "'");
    }
    status = it->second;
  }
  auto after = params.query.find("after");
  auto body =
      options_.reports->ListCarts(status, after == params.query.end() ? "" : after->second, *limit);
  if (!body.ok()) return ProblemFor(body.error());
  return evs::http::JsonResponse(*body);
}

Response CartHttp::TopItems(const Request&, const Params& params) {
  if (!options_.reports) return NoReadModel();
  auto limit = evs::http::QueryInt(params, "limit", 10, 1, static_cast<int64_t>(params.max_page));
  if (!limit) return limit.problem();
  auto body = options_.reports->TopItems(*limit);
  if (!body.ok()) return ProblemFor(body.error());
  return evs::http::JsonResponse(*body);
}

CartHttp::CartHttp(evs::EventStore& store, CartHttpOptions options)
    : store_(store),
      options_(std::move(options)),
      carts_(store, options_.repository),
      cart_bodies_(options_.repository.cache_capacity) {}

evs::Status CartHttp::Register(evs::http::Routes& routes) {
  // For each pattern its methods in the order that 405's Allow lists them.
  return evs::http::AddMemberRoutes<CartHttp>(
      routes, *this,
      {
          {"GET", "/carts", &CartHttp::ListCarts},
          {"POST", "/carts", &CartHttp::OpenCart},
          {"GET", "/carts/{id}", &CartHttp::GetCart},
          {"POST", "/carts/{id}/items", &CartHttp::AddItem},
          {"DELETE", "/carts/{id}/items/{name}", &CartHttp::RemoveItem},
          {"POST", "/carts/{id}/checkout", &CartHttp::Checkout},
          {"GET", "/reports/top-items", &CartHttp::TopItems},
      });
}

}  // namespace cart
