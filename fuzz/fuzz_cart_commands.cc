// Feeds: a script of cart commands, one a line, run through the HTTP API (http::Api on an
// in-memory store) on one open cart:
//   add <JSON body of POST /carts/{id}/items>
//   remove <item name> [<quantity text>]      DELETE /carts/{id}/items/{name}?quantity=...
//   checkout                                  POST /carts/{id}/checkout
//   if-match <text>                           If-Match on the next command
// so the command bodies, query parameters and If-Match are parsed by the API and applied to the
// Cart aggregate.
// Asserts: nothing crashes, throws or answers 500; every answer is 200 or a problem document;
// after each command the cart keeps the domain rules (quantities 1..kMaxQuantity, prices
// 0..kMaxUnitPriceCents, line totals quantity * price, the total their sum, one version per
// accepted command, nothing changes after checkout) and equals the cart rebuilt from its stored
// events, and a fresh API (no cache) serves the same cart.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cart/cart.h"
#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "fuzz_check.h"

namespace {

using evs::http::Request;
using evs::http::Response;
using nlohmann::json;

constexpr size_t kMaxCommands = 64;

cart::CartHttpOptions SmallCarts() {
  cart::CartHttpOptions options;
  options.repository.cache_capacity = 16;
  options.repository.command_lock_stripes = 1;
  return options;
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Response Send(evs::http::Api& api, std::string method, std::string target, std::string body = {},
              const std::string* if_match = nullptr) {
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  if (!request.body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  if (if_match) request.headers.emplace_back("If-Match", *if_match);
  Response response = api.Handle(request);
  EVS_FUZZ_CHECK(response.status != 500, response.body);
  if (response.status != 200 && response.status != 201) {
    EVS_FUZZ_CHECK(response.status >= 400 && response.status <= 599, response.body);
    EVS_FUZZ_CHECK(response.content_type == "application/problem+json", response.body);
    const json problem = json::parse(response.body, nullptr, false);
    EVS_FUZZ_CHECK(problem.is_object() && problem["status"] == response.status, response.body);
  }
  return response;
}

json GetCart(evs::http::Api& api, const std::string& id) {
  const Response response = Send(api, "GET", "/carts/" + id);
  EVS_FUZZ_CHECK(response.status == 200, response.body);
  json cart = json::parse(response.body, nullptr, false);
  EVS_FUZZ_CHECK(cart.is_object(), response.body);
  return cart;
}

// The domain rules on the cart's JSON.
void CheckRules(const json& cart) {
  EVS_FUZZ_CHECK(cart["status"] == "open" || cart["status"] == "checked_out", Dump(cart));
  EVS_FUZZ_CHECK(cart["items"].is_array() && cart["total_cents"].is_number_integer(), Dump(cart));
  int64_t total = 0;
  std::string previous;
  for (const json& item : cart["items"]) {
    const int64_t quantity = item["quantity"].get<int64_t>();
    const int64_t price = item["unit_price_cents"].get<int64_t>();
    EVS_FUZZ_CHECK(quantity >= 1 && quantity <= cart::kMaxQuantity, Dump(item));
    EVS_FUZZ_CHECK(price >= 0 && price <= cart::kMaxUnitPriceCents, Dump(item));
    EVS_FUZZ_CHECK(item["line_total_cents"] == quantity * price, Dump(item));
    const std::string name = item["name"].get<std::string>();
    EVS_FUZZ_CHECK(!name.empty() && name.size() <= cart::kMaxItemNameBytes, Dump(item));
    EVS_FUZZ_CHECK(previous.empty() || previous < name, Dump(cart));
    previous = name;
    EVS_FUZZ_CHECK(!__builtin_add_overflow(total, quantity * price, &total), Dump(cart));
  }
  EVS_FUZZ_CHECK(cart["total_cents"] == total, Dump(cart));
}

// The cart rebuilt from its stored events by decoding and applying each, as JSON.
json Replay(evs::EventStore& store, const std::string& id) {
  cart::Cart rebuilt(id);
  evs::ReadStreamOptions read;
  read.limit = 1000;
  auto page = store.ReadStream(cart::Cart::StreamIdFor(id), read);
  EVS_FUZZ_CHECK(page.ok(), page.ok() ? "" : page.error().message);
  for (const evs::RecordedEvent& recorded : page->events) {
    auto event = cart::CartEvents::Decode(recorded);
    EVS_FUZZ_CHECK(event.ok(), event.ok() ? "" : event.error().message);
    rebuilt.Apply(*event);
  }
  json out = rebuilt.ToJson();
  out["version"] = page->stream_version;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  auto store = evs::NewMemoryEventStore();
  evs::testing::CartApi api(*store, {}, SmallCarts());
  const Response opened = Send(api, "POST", "/carts");
  EVS_FUZZ_CHECK(opened.status == 201, opened.body);
  const std::string id = json::parse(opened.body)["cart_id"].get<std::string>();
  const std::string base = "/carts/" + id;

  json cart = GetCart(api, id);
  std::optional<std::string> if_match;
  size_t commands = 0;
  for (size_t start = 0; start < input.size() && commands < kMaxCommands; ++commands) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    start = end + 1;
    const size_t space = line.find(' ');
    const std::string_view verb = line.substr(0, space);
    const std::string_view rest =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);

    Response response;
    const std::string* condition = if_match ? &*if_match : nullptr;
    if (verb == "if-match") {
      if_match = std::string(rest);
      continue;
    } else if (verb == "add") {
      response = Send(api, "POST", base + "/items", std::string(rest), condition);
    } else if (verb == "remove") {
      const size_t gap = rest.rfind(' ');
      std::string target = base + "/items/" + PercentEncode(rest.substr(0, gap));
      if (gap != std::string_view::npos)
        target += "?quantity=" + PercentEncode(rest.substr(gap + 1));
      response = Send(api, "DELETE", target, {}, condition);
    } else if (verb == "checkout") {
      response = Send(api, "POST", base + "/checkout", {}, condition);
    } else {
      continue;
    }
    if_match.reset();

    const json now = GetCart(api, id);
    CheckRules(now);
    const int64_t before = cart["version"].get<int64_t>();
    if (response.status == 200) {
      EVS_FUZZ_CHECK(cart["status"] == "open", Dump(cart) + " changed after checkout");
      EVS_FUZZ_CHECK(now["version"] == before + 1, Dump(now));
      EVS_FUZZ_CHECK(json::parse(response.body) == now, response.body + " vs " + Dump(now));
    } else {
      EVS_FUZZ_CHECK(now == cart, Dump(now) + " changed by a refused command: " + response.body);
    }
    if (verb == "checkout" && response.status == 200) {
      EVS_FUZZ_CHECK(now["status"] == "checked_out" && !now["items"].empty(), Dump(now));
    }
    cart = now;
  }
  EVS_FUZZ_CHECK(Replay(*store, id) == cart, Dump(Replay(*store, id)) + " vs " + Dump(cart));
  evs::testing::CartApi fresh(*store, {}, SmallCarts());
  EVS_FUZZ_CHECK(GetCart(fresh, id) == cart, Dump(cart));
  return 0;
}
