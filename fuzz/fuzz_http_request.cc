// Feeds: up to 16 HTTP requests, split from the input, through the server's request parser
// (src/http/request_parser.h: Boost.Beast within the server's limits, bytes given in pieces) to
// http::Api::Handle (the transport-neutral API behind `evs serve`) on an in-memory store that
// holds a cart and a stream:
//
//   [#raw]                        first line: the rest is the raw bytes of a connection
//                                 (pipelined requests), parsed as they come
//   [#auth]                       first line: the API takes writes only with a bearer token
//   METHOD TARGET                 e.g. "POST /streams/orders-1?x=%41"
//   Name: value                   headers, up to an empty line
//
//   body                          the rest, up to a line "===" that starts the next request
//
// "$cart" in a target or body stands for the seeded cart's id, "$new" for the cart that the last
// "POST /carts" opened, and a header value "$token" for "Bearer <the token>". Each request is
// written as HTTP/1.1 (with a Content-Length for its body unless it has one, or a
// Transfer-Encoding) and parsed back.
// Asserts: nothing crashes or throws; the parser never takes more bytes than it is given, and its
// refusals are problem documents of 400, 408, 413, 414, 415, 431 or 501; every response has a
// status in 200..599 and never 500 (Handle answers 500 only for an exception, which is a bug);
// errors are problem documents (a JSON object with the same status and a code); JSON responses are
// valid JSON.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "fuzz_check.h"
#include "http/request_parser.h"

namespace {

using evs::http::Request;
using evs::http::Response;
using nlohmann::json;

constexpr size_t kMaxRequests = 16;
const evs::http::RequestLimits kLimits{
    .max_body_bytes = 4096, .max_header_bytes = 2048, .max_header_count = 20};
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

// Request in the wire format of HTTP/1.1.
std::string ToWire(const Request& request) {
  std::string wire = request.method + " " + request.target + " HTTP/1.1\r\n";
  bool framed = false;
  for (const auto& [name, value] : request.headers) {
    wire += name + ": " + value + "\r\n";
    framed = framed || name == "Content-Length" || name == "Transfer-Encoding";
  }
  if (!framed && !request.body.empty()) {
    wire += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  return wire + "\r\n" + request.body;
}

void CheckProblem(const Response& problem) {
  const std::string what = std::to_string(problem.status) + " " + problem.body;
  EVS_FUZZ_CHECK(problem.status == 400 || problem.status == 408 || problem.status == 413 ||
                     problem.status == 414 || problem.status == 415 || problem.status == 431 ||
                     problem.status == 501,
                 what);
  EVS_FUZZ_CHECK(problem.content_type == "application/problem+json", what);
  const json body = json::parse(problem.body, nullptr, false);
  EVS_FUZZ_CHECK(body.is_object() && body["status"] == problem.status && body["code"].is_string(),
                 what);
}

// Parses one request from the front of `bytes`, given in pieces of `piece` bytes (at least 1), as
// a connection's reads would; consumes what the request used. nullopt: more is needed, or the
// request was refused (checked here).
std::optional<Request> ParseWire(std::string_view& bytes, size_t piece) {
  evs::http::RequestParser parser(kLimits);
  std::string pending;
  while (parser.state() == evs::http::RequestParser::State::kNeedMore && !bytes.empty()) {
    const size_t take = std::min(piece, bytes.size());
    pending.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    const size_t used = parser.Feed(pending);
    EVS_FUZZ_CHECK(used <= pending.size(), "the parser took more than it was given");
    pending.erase(0, used);
  }
  // What the request did not use goes back to the front, for the next one.
  const size_t unused = pending.size();
  bytes = std::string_view(bytes.data() - unused, bytes.size() + unused);
  switch (parser.state()) {
    case evs::http::RequestParser::State::kDone: {
      Request request = std::move(parser.request());
      if (request.method == "HEAD") request.method = "GET";
      return request;
    }
    case evs::http::RequestParser::State::kRefused:
      CheckProblem(parser.problem());
      bytes = {};  // a refused request ends the connection
      return std::nullopt;
    case evs::http::RequestParser::State::kNeedMore:
      bytes = {};
      return std::nullopt;
  }
  return std::nullopt;
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
  const bool raw = input.starts_with("#raw\n");
  if (raw) input.remove_prefix(5);
  const size_t piece = 1 + (size % 97);  // the reads' size varies with the input
  if (input.starts_with("#auth\n")) {
    options.bearer_token = kToken;
    input.remove_prefix(6);
  }
  auto store = evs::NewMemoryEventStore();
  Seed(*store);
  evs::testing::CartApi api(*store, options, cart_options);

  std::string new_cart = kCartId;
  for (size_t n = 0; n < kMaxRequests && !input.empty(); ++n) {
    std::optional<Request> parsed;
    if (raw) {
      parsed = ParseWire(input, piece);
    } else {
      const size_t split = input.find("\n===\n");
      const std::string wire = ToWire(ParseRequest(input.substr(0, split)));
      input = split == std::string_view::npos ? std::string_view() : input.substr(split + 5);
      std::string_view bytes = wire;
      parsed = ParseWire(bytes, piece);
    }
    if (!parsed) continue;
    Request request = std::move(*parsed);
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
