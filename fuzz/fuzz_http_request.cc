// Feeds: up to 16 HTTP requests, split from the input, to http::Api::Handle (the transport-
// neutral API behind `evs serve`) on an in-memory store that holds a cart and a stream:
//
//   [#auth]                       first line: the API takes writes only with a bearer token
//   METHOD TARGET                 e.g. "POST /streams/orders-1?x=%41"
//   Name: value                   headers, up to an empty line
//
//   body                          the rest, up to a line "===" that starts the next request
//
// "$cart" in a target or body stands for the seeded cart's id, "$new" for the cart that the last
// "POST /carts" opened, and a header value "$token" for "Bearer <the token>".
// Asserts: nothing crashes or throws; every response has a status in 200..599 and never 500
// (Handle answers 500 only for an exception, which is a bug); errors are problem documents (a
// JSON object with the same status and a code); JSON responses are valid JSON.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "fuzz_check.h"

namespace {

using evs::http::Request;
using evs::http::Response;
using nlohmann::json;

constexpr size_t kMaxRequests = 16;
constexpr const char* kCartId = "0f8fad5b-d9cb-469f-a165-70867728950e";
constexpr const char* kToken = "fuzz-token-0123456789abcdef";

std::string Replace(std::string text, std::string_view from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A store with a cart (an item in it) and a stream of two events, as the seeds expect.
void Seed(evs::EventStore& store) {
  std::vector<evs::EventData> cart(2);
  cart[0].type = "CartOpened";
  cart[1].type = "ItemAdded";
  cart[1].data = R"({"name":"apple","quantity":2,"unit_price_cents":50})";
  EVS_FUZZ_CHECK(
      store
          .Append(std::string("cart-") + kCartId, evs::ExpectedVersion::NoStream(), std::move(cart))
          .ok(),
      "seeding the cart");
  std::vector<evs::EventData> orders(2);
  orders[0].type = "OrderPlaced";
  orders[0].data = R"({"order":1,"lines":[{"sku":"a","n":2}]})";
  orders[1].type = "OrderShipped";
  orders[1].metadata = R"({"by":"fuzz"})";
  EVS_FUZZ_CHECK(store.Append("orders-1", evs::ExpectedVersion::Any(), std::move(orders)).ok(),
                 "seeding the stream");
}

// Splits one request's text into a Request.
Request ParseRequest(std::string_view text) {
  Request request;
  size_t end = text.find('\n');
  const std::string_view first = text.substr(0, end);
  const size_t space = first.find(' ');
  request.method = std::string(first.substr(0, space));
  if (space != std::string_view::npos) request.target = std::string(first.substr(space + 1));
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  while (!text.empty()) {
    end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(line.substr(0, colon), value);
  }
  request.body = std::string(text);
  return request;
}

void CheckResponse(const Request& request, const Response& response) {
  const std::string what = request.method + " " + request.target + " -> " +
                           std::to_string(response.status) + " " + response.body;
  EVS_FUZZ_CHECK(response.status >= 200 && response.status <= 599, what);
  EVS_FUZZ_CHECK(response.status != 500, what);
  EVS_FUZZ_CHECK(!response.route.empty(), what);
  if (response.stream) return;  // GET /log/live: not run here (it waits for commits)
  if (response.status >= 400) {
    EVS_FUZZ_CHECK(response.content_type == "application/problem+json", what);
    const json problem = json::parse(response.body, nullptr, false);
    EVS_FUZZ_CHECK(problem.is_object() && problem["status"] == response.status &&
                       problem["code"].is_string() && problem["detail"].is_string(),
                   what);
  } else if (response.content_type == "application/json") {
    EVS_FUZZ_CHECK(json::accept(response.body), what);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(bytes), size);
  evs::http::ApiOptions options;
  cart::CartHttpOptions cart_options;
  cart_options.repository.cache_capacity = 16;
  cart_options.repository.command_lock_stripes = 1;
  options.max_body_bytes = 4096;  // small, so that the fuzzer reaches the limit too
  if (input.starts_with("#auth\n")) {
    options.bearer_token = kToken;
    input.remove_prefix(6);
  }
  auto store = evs::NewMemoryEventStore();
  Seed(*store);
  evs::testing::CartApi api(*store, options, cart_options);

  std::string new_cart = kCartId;
  for (size_t n = 0; n < kMaxRequests && !input.empty(); ++n) {
    const size_t split = input.find("\n===\n");
    Request request = ParseRequest(input.substr(0, split));
    input = split == std::string_view::npos ? std::string_view() : input.substr(split + 5);
    for (std::string* text : {&request.target, &request.body}) {
      *text = Replace(Replace(std::move(*text), "$cart", kCartId), "$new", new_cart);
    }
    for (auto& [name, value] : request.headers) {
      if (value == "$token") value = std::string("Bearer ") + kToken;
    }
    const Response response = api.Handle(request);
    CheckResponse(request, response);
    if (request.method == "POST" && request.target == "/carts" && response.status == 201) {
      new_cart = json::parse(response.body)["cart_id"].get<std::string>();
    }
  }
  return 0;
}
