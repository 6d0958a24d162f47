// The HTTP API through the real server: an embedded SQLite store in a temp folder, http::Api and
// http::Server on an ephemeral loopback port, and real HTTP requests from httplib::Client. Every
// endpoint, every error status with its problem document, paging, percent-encoded names, and
// concurrent writers with and without If-Match.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/command_context.h"
#include "evs/http/server.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs::http {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr const char* kProblem = "application/problem+json";

using testing::NewClient;
using testing::Reply;
using testing::ToReply;

// Checks a problem document: its status, media type, stable code, and the RFC 9457 members.
json ExpectProblem(const Reply& reply, int status, const std::string& code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_EQ(reply.ContentType(), kProblem) << reply.body;
  json body = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    ADD_FAILURE() << "the problem is not a JSON object: " << reply.body;
    return json::object();
  }
  EXPECT_EQ(body.value("status", 0), status) << reply.body;
  EXPECT_EQ(body.value("code", ""), code) << reply.body;
  EXPECT_EQ(body.value("type", ""), "https://evs.dev/problems/" + code) << reply.body;
  EXPECT_FALSE(body.value("title", "").empty()) << reply.body;
  EXPECT_FALSE(body.value("detail", "").empty()) << reply.body;
  return body;
}

// Sends raw bytes on a new connection and returns the response: its head and as much body as
// its Content-Length says (or all until the server closes, or 10 s pass without data).
std::string RawExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n;
    while (reply.size() < (1 << 20) && (n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
      reply.append(buffer, static_cast<size_t>(n));
      const size_t head_end = reply.find("\r\n\r\n");
      const size_t length_at = reply.find("\r\nContent-Length: ");
      if (head_end != std::string::npos && length_at != std::string::npos && length_at < head_end &&
          reply.size() >= head_end + 4 + std::stoul(reply.substr(length_at + 18))) {
        break;
      }
    }
  }
  close(fd);
  return reply;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteStoreOptions store_options;
    store_options.path = dir_.File("events.sqlite");
    auto store = OpenSqliteEventStore(store_options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    api_ = std::make_unique<testing::CartApi>(*store_);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.blocking_threads = 64;
    options.access_log = false;
    server_ = std::make_unique<Server>(*api_, options);
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.error().message;
    ASSERT_GT(*port, 0);
    port_ = *port;
    server_thread_ = std::thread([this] { server_->Run(); });
    client_ = NewClient(port_);
    // Wait, bounded, until the accept loop answers.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Get("/healthz").status != 200) {
      ASSERT_LT(Clock::now(), deadline) << "the server never answered /healthz";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void TearDown() override {
    client_.reset();  // close keep-alive connections first: Run() waits for them
    if (server_thread_.joinable()) {
      server_->Stop();
      server_thread_.join();
    }
    server_.reset();
    api_.reset();
    store_.reset();
  }

  Reply Get(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Get(target, headers));
  }
  Reply Post(const std::string& target, const std::string& body,
             const std::string& content_type = kJson, const httplib::Headers& headers = {}) {
    return ToReply(client_->Post(target, headers, body, content_type));
  }
  Reply PostEmpty(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Post(target, headers));
  }
  Reply Delete(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Delete(target, headers));
  }

  // Opens a cart; returns its id.
  std::string OpenCart() {
    Reply reply = PostEmpty("/carts");
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json().value("cart_id", "");
  }
  Reply AddItem(const std::string& id, const json& item, const httplib::Headers& headers = {}) {
    return Post("/carts/" + id + "/items", item.dump(), kJson, headers);
  }
  json GetCart(const std::string& id) {
    Reply reply = Get("/carts/" + id);
    EXPECT_EQ(reply.status, 200) << reply.body;
    json cart = reply.Json();
    EXPECT_EQ(reply.Header("ETag"), "\"" + std::to_string(cart.value("version", -1)) + "\"");
    return cart;
  }
  int64_t CartVersion(const std::string& id) { return GetCart(id).value("version", int64_t{-1}); }
  // name -> quantity
  std::map<std::string, int64_t> Items(const json& cart) {
    std::map<std::string, int64_t> out;
    for (const auto& item : cart.value("items", json::array())) {
      out[item.value("name", "")] = item.value("quantity", int64_t{0});
    }
    return out;
  }
  Reply Append(const std::string& stream, const json& events, const std::string& expected = "") {
    httplib::Headers headers;
    if (!expected.empty()) headers.emplace("ES-Expected-Version", expected);
    return Post("/streams/" + stream, events.dump(), kJson, headers);
  }
  // Appends `n` events {"n": i} to a stream.
  void AppendN(const std::string& stream, int n) {
    json events = json::array();
    for (int i = 1; i <= n; ++i) events.push_back({{"type", "Counted"}, {"data", {{"n", i}}}});
    Reply reply = Append(stream, events);
    ASSERT_EQ(reply.status, 201) << reply.body;
  }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<testing::CartApi> api_;
  std::unique_ptr<Server> server_;
  std::thread server_thread_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApiTest, Healthz) {
  Reply reply = Get("/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.ContentType(), kJson);
  EXPECT_EQ(reply.Json(), json({{"status", "ok"}}));
}

TEST_F(HttpApiTest, HeadIsGetWithoutABody) {
  const std::string id = OpenCart();
  Reply health = ToReply(client_->Head("/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "");
  Reply cart = ToReply(client_->Head("/carts/" + id));
  EXPECT_EQ(cart.status, 200);
  EXPECT_EQ(cart.Header("ETag"), "\"1\"");
  EXPECT_EQ(cart.body, "");
  Reply checkout = ToReply(client_->Head("/carts/" + id + "/checkout"));
  EXPECT_EQ(checkout.status, 405);
  EXPECT_EQ(checkout.Header("Allow"), "POST");
  EXPECT_EQ(ToReply(client_->Head("/carts/" + id)).status, 200);  // the connection still works
}

// Without Content-Length (and Transfer-Encoding) a request has no body: it is answered at once,
// not after the server gives up waiting for a body.
TEST_F(HttpApiTest, PostWithoutContentLengthHasAnEmptyBody) {
  const auto start = Clock::now();
  const std::string opened =
      RawExchange(port_, "POST /carts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(opened.rfind("HTTP/1.1 201 ", 0), 0u) << opened;
  EXPECT_NE(opened.find("Location: /carts/"), std::string::npos) << opened;
  const std::string id = OpenCart();
  const std::string checkout =
      RawExchange(port_, "POST /carts/" + id +
                             "/checkout HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(checkout.rfind("HTTP/1.1 422 ", 0), 0u) << checkout;  // an empty cart
  const std::string items =
      RawExchange(port_, "POST /carts/" + id +
                             "/items HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(items.rfind("HTTP/1.1 415 ", 0), 0u) << items;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpApiTest, RequestsThatAreNotHttpAre400Problems) {
  for (const std::string& raw :
       {std::string("GARBAGE\r\n\r\n"),
        std::string("POST /carts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\n")}) {
    const std::string reply = RawExchange(port_, raw);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply;
    EXPECT_NE(reply.find("Content-Type: application/problem+json"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"code\":\"bad_request\""), std::string::npos) << reply;
  }
  // A method the server does not know is not implemented (a known one without a route is 405).
  const std::string brew = RawExchange(port_, "BREW /carts HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(brew.rfind("HTTP/1.1 501 ", 0), 0u) << brew;
  EXPECT_NE(brew.find("\"code\":\"not_implemented\""), std::string::npos) << brew;
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HttpApiTest, OpenCartAnswers201WithLocationAndGetHasTheEtag) {
  Reply opened = PostEmpty("/carts");
  ASSERT_EQ(opened.status, 201) << opened.body;
  EXPECT_EQ(opened.ContentType(), kJson);
  json body = opened.Json();
  const std::string id = body.value("cart_id", "");
  ASSERT_EQ(id.size(), 36u) << opened.body;
  EXPECT_EQ(body.value("version", 0), 1);
  EXPECT_EQ(opened.Header("Location"), "/carts/" + id);
  EXPECT_EQ(opened.Header("ETag"), "\"1\"");

  Reply got = Get(opened.Header("Location"));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.ContentType(), kJson);
  EXPECT_EQ(got.Header("ETag"), "\"1\"");
  json cart = got.Json();
  EXPECT_EQ(cart.value("cart_id", ""), id);
  EXPECT_EQ(cart.value("status", ""), "open");
  EXPECT_EQ(cart.value("items", json()), json::array());
  EXPECT_EQ(cart.value("total_cents", -1), 0);
  EXPECT_EQ(cart.value("version", 0), 1);

  // Upper-case ids name the same cart (ids are canonicalized).
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Get("/carts/" + upper).status, 200);

  // Two carts never share an id.
  EXPECT_NE(OpenCart(), id);
}

TEST_F(HttpApiTest, CartLifecycleAddRemoveCheckout) {
  const std::string id = OpenCart();
  Reply added = AddItem(id, {{"name", "apple"}, {"quantity", 2}, {"unit_price_cents", 150}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.Header("ETag"), "\"2\"");
  json cart = added.Json();
  EXPECT_EQ(cart.value("version", 0), 2);
  ASSERT_EQ(cart["items"].size(), 1u);
  EXPECT_EQ(cart["items"][0].value("name", ""), "apple");
  EXPECT_EQ(cart["items"][0].value("quantity", 0), 2);
  EXPECT_EQ(cart["items"][0].value("unit_price_cents", 0), 150);
  EXPECT_EQ(cart["items"][0].value("line_total_cents", 0), 300);
  EXPECT_EQ(cart.value("total_cents", 0), 300);

  // The price may be left out for an item already in the cart; quantity defaults to 1.
  Reply again = AddItem(id, {{"name", "apple"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Items(again.Json())["apple"], 3);
  ASSERT_EQ(AddItem(id, {{"name", "pear"}, {"quantity", 1}, {"unit_price_cents", 99}}).status, 200);

  Reply removed = Delete("/carts/" + id + "/items/apple?quantity=2");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(Items(removed.Json())["apple"], 1);
  Reply removed_default = Delete("/carts/" + id + "/items/apple");  // quantity 1
  ASSERT_EQ(removed_default.status, 200) << removed_default.body;
  EXPECT_EQ(Items(removed_default.Json()), (std::map<std::string, int64_t>{{"pear", 1}}));
  EXPECT_EQ(removed_default.Header("ETag"), "\"6\"");

  Reply checked_out = PostEmpty("/carts/" + id + "/checkout");
  ASSERT_EQ(checked_out.status, 200) << checked_out.body;
  EXPECT_EQ(checked_out.Json().value("status", ""), "checked_out");
  EXPECT_EQ(checked_out.Header("ETag"), "\"7\"");

  json final_cart = GetCart(id);
  EXPECT_EQ(final_cart.value("status", ""), "checked_out");
  EXPECT_EQ(final_cart.value("version", 0), 7);
  EXPECT_EQ(final_cart.value("total_cents", 0), 99);

  // The cart's events are in its stream, in order.
  Reply stream = Get("/streams/cart-" + id);
  ASSERT_EQ(stream.status, 200) << stream.body;
  std::vector<std::string> types;
  const json events = stream.Json();
  for (const auto& e : events["events"]) types.push_back(e.value("type", ""));
  EXPECT_EQ(types, (std::vector<std::string>{"CartOpened", "ItemAdded", "ItemAdded", "ItemAdded",
                                             "ItemRemoved", "ItemRemoved", "CartCheckedOut"}));
}

TEST_F(HttpApiTest, PercentEncodedItemNames) {
  const std::string id = OpenCart();
  for (const std::string name : {"green tea", "a/b", "caf\xC3\xA9", "50% off", "x?y#z"}) {
    ASSERT_EQ(AddItem(id, {{"name", name}, {"quantity", 3}}).status, 200) << name;
  }
  EXPECT_EQ(Items(GetCart(id)),
            (std::map<std::string, int64_t>{
                {"green tea", 3}, {"a/b", 3}, {"caf\xC3\xA9", 3}, {"50% off", 3}, {"x?y#z", 3}}));

  Reply tea = Delete("/carts/" + id + "/items/green%20tea?quantity=2");
  ASSERT_EQ(tea.status, 200) << tea.body;
  EXPECT_EQ(Items(tea.Json())["green tea"], 1);
  Reply slash = Delete("/carts/" + id + "/items/a%2Fb?quantity=3");
  ASSERT_EQ(slash.status, 200) << slash.body;
  EXPECT_EQ(Items(slash.Json()).count("a/b"), 0u);
  Reply lower_hex = Delete("/carts/" + id + "/items/a%2fb");  // gone now: 422, not a route miss
  ExpectProblem(lower_hex, 422, "domain_rule");
  ASSERT_EQ(Delete("/carts/" + id + "/items/caf%C3%A9?quantity=3").status, 200);
  ASSERT_EQ(Delete("/carts/" + id + "/items/50%25%20off?quantity=3").status, 200);
  ASSERT_EQ(Delete("/carts/" + id + "/items/x%3Fy%23z?quantity=3").status, 200);
  // '+' in a path is a plus, not a space.
  ExpectProblem(Delete("/carts/" + id + "/items/green+tea"), 422, "domain_rule");
  EXPECT_EQ(Items(GetCart(id)), (std::map<std::string, int64_t>{{"green tea", 1}}));

  // An unescaped '/' in the name is another route; a broken escape is a 400.
  ExpectProblem(Delete("/carts/" + id + "/items/a/b"), 404, "no_route");
  ExpectProblem(Delete("/carts/" + id + "/items/green%2"), 400, "malformed_target");
  ExpectProblem(Delete("/carts/" + id + "/items/green%zztea"), 400, "malformed_target");
}

TEST_F(HttpApiTest, MalformedJsonAndWrongTypesAre400AndWriteNothing) {
  const std::string id = OpenCart();
  const std::string items = "/carts/" + id + "/items";
  ExpectProblem(Post(items, R"({"name": "apple", )"), 400, "malformed_json");
  ExpectProblem(Post(items, "{name: apple}"), 400, "malformed_json");
  ExpectProblem(Post(items, ""), 400, "malformed_json");
  ExpectProblem(Post(items, R"({"name": "apple", "quantity": "2"})"), 400, "invalid_body");
  ExpectProblem(Post(items, R"({"name": "apple", "quantity": 1.5})"), 400, "invalid_body");
  ExpectProblem(Post(items, R"({"name": 7})"), 400, "invalid_body");
  ExpectProblem(Post(items, R"({"name": "apple", "unit_price_cents": "1"})"), 400, "invalid_body");
  json unknown =
      ExpectProblem(Post(items, R"({"name": "apple", "colour": "red"})"), 400, "invalid_body");
  EXPECT_NE(unknown.value("detail", "").find("colour"), std::string::npos) << unknown;
  ExpectProblem(Post(items, R"({"quantity": 2})"), 400, "invalid_body");
  ExpectProblem(Post(items, R"(["apple"])"), 400, "invalid_body");
  ExpectProblem(Post(items, R"("apple")"), 400, "invalid_body");
  // Well-typed but invalid input is the domain's invalid_argument, also a 400.
  ExpectProblem(Post(items, R"({"name": "apple", "quantity": 0})"), 400, "invalid_argument");
  ExpectProblem(Post(items, R"({"name": "apple", "quantity": -1})"), 400, "invalid_argument");
  ExpectProblem(Post(items, R"({"name": ""})"), 400, "invalid_argument");
  ExpectProblem(Post(items, R"({"name": "apple", "unit_price_cents": -5})"), 400,
                "invalid_argument");
  // A charset parameter on the media type is fine.
  EXPECT_EQ(Post(items, R"({"name": "apple"})", "application/json; charset=utf-8").status, 200);
  EXPECT_EQ(CartVersion(id), 2);  // only the last request wrote
}

TEST_F(HttpApiTest, BodyThatIsNotJsonIs415) {
  const std::string id = OpenCart();
  json problem = ExpectProblem(Post("/carts/" + id + "/items", "apple", "text/plain"), 415,
                               "unsupported_media_type");
  EXPECT_NE(problem.value("detail", "").find("text/plain"), std::string::npos) << problem;
  ExpectProblem(Post("/carts/" + id + "/items", R"({"name": "apple"})", "text/plain"), 415,
                "unsupported_media_type");
  ExpectProblem(Post("/carts/" + id + "/items", "name=apple", "application/x-www-form-urlencoded"),
                415, "unsupported_media_type");
  ExpectProblem(Post("/streams/s", R"([{"type": "T", "data": {}}])", "text/plain"), 415,
                "unsupported_media_type");
  EXPECT_EQ(CartVersion(id), 1);
  ExpectProblem(Get("/streams/s"), 404, "not_found");
}

TEST_F(HttpApiTest, UnknownCartIs404) {
  const std::string never_opened = "3f0c5b8e-2a4d-4c1e-9b7a-5d6e7f809a1b";
  ExpectProblem(Get("/carts/" + never_opened), 404, "not_found");
  ExpectProblem(AddItem(never_opened, {{"name", "apple"}}), 404, "not_found");
  ExpectProblem(Delete("/carts/" + never_opened + "/items/apple"), 404, "not_found");
  ExpectProblem(PostEmpty("/carts/" + never_opened + "/checkout"), 404, "not_found");
  ExpectProblem(AddItem(never_opened, {{"name", "apple"}}, {{"If-Match", "\"1\""}}), 404,
                "not_found");
  for (const std::string bad : {"not-a-uuid", "42", "3f0c5b8e-2a4d-4c1e-9b7a-5d6e7f809a1"}) {
    ExpectProblem(Get("/carts/" + bad), 404, "not_found");
    ExpectProblem(AddItem(bad, {{"name", "apple"}}), 404, "not_found");
    ExpectProblem(Delete("/carts/" + bad + "/items/apple"), 404, "not_found");
    ExpectProblem(PostEmpty("/carts/" + bad + "/checkout"), 404, "not_found");
  }
  // Nothing was created by the attempts.
  ExpectProblem(Get("/streams/cart-" + never_opened), 404, "not_found");
  Reply streams = Get("/streams");
  ASSERT_EQ(streams.status, 200);
  EXPECT_EQ(streams.Json()["streams"], json::array());
}

TEST_F(HttpApiTest, UnknownStreamAndUnknownRouteAre404) {
  ExpectProblem(Get("/streams/never-written"), 404, "not_found");
  ExpectProblem(Get("/streams/never-written?direction=backward"), 404, "not_found");
  for (const std::string target : {"/", "/nope", "/carts/x/y", "/carts/x/items/y/z", "/streams/a/b",
                                   "/log/1", "/healthz/x", "/metricsx"}) {
    ExpectProblem(Get(target), 404, "no_route");
  }
  ExpectProblem(PostEmpty("/nope"), 404, "no_route");
  ExpectProblem(Delete("/carts/x/items"), 405, "method_not_allowed");
}

TEST_F(HttpApiTest, WrongMethodIs405WithAllow) {
  struct Case {
    std::string method, target, allow;
  };
  const std::vector<Case> cases = {
      {"DELETE", "/carts", "GET, POST"},
      {"POST", "/log/live", "GET"},
      {"POST", "/subscriptions", "GET"},
      {"DELETE", "/reports/top-items", "GET"},
      {"PUT", "/carts/x", "GET"},
      {"DELETE", "/carts/x", "GET"},
      {"GET", "/carts/x/items", "POST"},
      {"GET", "/carts/x/items/y", "DELETE"},
      {"GET", "/carts/x/checkout", "POST"},
      {"POST", "/streams", "GET"},
      {"PATCH", "/streams/s", "GET, POST, DELETE"},
      {"PUT", "/streams/s", "GET, POST, DELETE"},
      {"POST", "/streams/s/metadata", "GET, PUT"},
      {"PUT", "/admin/scavenge", "GET, POST"},
      {"POST", "/log", "GET"},
      {"POST", "/healthz", "GET"},
      {"DELETE", "/metrics", "GET"},
      {"PATCH", "/carts", "GET, POST"},
      {"OPTIONS", "/carts", "GET, POST"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target);
    httplib::Request request;
    request.method = c.method;
    request.path = c.target;
    if (c.method == "POST" || c.method == "PUT" || c.method == "PATCH") {
      request.body = "{}";
      request.set_header("Content-Type", kJson);
    }
    Reply reply = ToReply(client_->send(request));
    ExpectProblem(reply, 405, "method_not_allowed");
    EXPECT_EQ(reply.Header("Allow"), c.allow);
  }
}

TEST_F(HttpApiTest, AppendToStreamAndConflictIs409WithExpectedAndActual) {
  json two = json::array({{{"type", "A"}, {"data", {{"i", 1}}}},
                          {{"type", "B"}, {"data", {{"i", 2}}}, {"metadata", {{"by", "test"}}}}});
  Reply first = Append("orders-1", two, "no-stream");
  ASSERT_EQ(first.status, 201) << first.body;
  json result = first.Json();
  EXPECT_EQ(result.value("first_version", 0), 1);
  EXPECT_EQ(result.value("last_version", 0), 2);
  EXPECT_EQ(result.value("first_position", 0), 1);
  EXPECT_EQ(result.value("position", 0), 2);

  json conflict =
      ExpectProblem(Append("orders-1", two, "no-stream"), 409, "wrong_expected_version");
  EXPECT_EQ(conflict["expected"], "no-stream");
  EXPECT_EQ(conflict["actual"], 2);
  conflict = ExpectProblem(Append("orders-1", two, "1"), 409, "wrong_expected_version");
  EXPECT_EQ(conflict["expected"], "1");
  EXPECT_EQ(conflict["actual"], 2);
  conflict = ExpectProblem(Append("orders-2", two, "exists"), 409, "wrong_expected_version");
  EXPECT_EQ(conflict["expected"], "exists");
  EXPECT_EQ(conflict["actual"], 0);
  ExpectProblem(Append("orders-1", two, "banana"), 400, "invalid_expected_version");
  ExpectProblem(Append("orders-1", two, "-1"), 400, "invalid_expected_version");

  // Nothing of the refused appends was written.
  Reply stream = Get("/streams/orders-1");
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_EQ(stream.Json().value("version", 0), 2);
  ExpectProblem(Get("/streams/orders-2"), 404, "not_found");

  Reply next = Append("orders-1", json::array({{{"type", "C"}, {"data", nullptr}}}), "2");
  ASSERT_EQ(next.status, 201) << next.body;
  EXPECT_EQ(next.Json().value("last_version", 0), 3);
  Reply any = Append("orders-1", json::array({{{"type", "D"}, {"data", json::array()}}}), "any");
  ASSERT_EQ(any.status, 201) << any.body;
  EXPECT_EQ(any.Json().value("last_version", 0), 4);
  Reply exists = Append("orders-1", json::array({{{"type", "E"}, {"data", "x"}}}), "exists");
  ASSERT_EQ(exists.status, 201) << exists.body;
  Reply no_header = Append("orders-1", json::array({{{"type", "F"}, {"data", 1}}}));
  ASSERT_EQ(no_header.status, 201) << no_header.body;
  EXPECT_EQ(no_header.Json().value("last_version", 0), 6);

  json events = Get("/streams/orders-1").Json()["events"];
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[1].value("type", ""), "B");
  EXPECT_EQ(events[1]["data"], json({{"i", 2}}));
  // The client's metadata, with the command's correlation and causation ids beside it.
  EXPECT_EQ(events[1]["metadata"].value("by", ""), "test");
  EXPECT_EQ(events[1]["metadata"].size(), 3u) << events[1]["metadata"];
  EXPECT_TRUE(events[1]["metadata"].contains("correlation_id"));
  EXPECT_EQ(events[2]["data"], nullptr);
  EXPECT_EQ(events[3]["data"], json::array());
  EXPECT_EQ(events[4]["data"], "x");
  for (const char* member :
       {"stream_id", "version", "position", "id", "type", "data", "metadata", "recorded_at"}) {
    EXPECT_TRUE(events[0].contains(member)) << member;
  }
}

TEST_F(HttpApiTest, AppendWithEventIdsIsIdempotent) {
  json events = json::array({{{"id", "0b6a8f5e-3c2d-4e1f-8a9b-0c1d2e3f4a5b"},
                              {"type", "Paid"},
                              {"data", {{"cents", 100}}}}});
  Reply first = Append("payments-1", events, "no-stream");
  ASSERT_EQ(first.status, 201) << first.body;
  Reply retry = Append("payments-1", events, "no-stream");
  ASSERT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(retry.Json(), first.Json());
  Reply stream = Get("/streams/payments-1");
  ASSERT_EQ(stream.status, 200);
  EXPECT_EQ(stream.Json().value("version", 0), 1);
  EXPECT_EQ(stream.Json()["events"][0].value("id", ""), "0b6a8f5e-3c2d-4e1f-8a9b-0c1d2e3f4a5b");
  // The same id at another place is refused.
  ExpectProblem(Append("payments-2", events), 409, "duplicate_event_id");
}

TEST_F(HttpApiTest, AppendBodyErrorsAre400) {
  const std::string target = "/streams/s-1";
  ExpectProblem(Post(target, "[{"), 400, "malformed_json");
  ExpectProblem(Post(target, R"({"type": "T", "data": {}})"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([1])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"data": {}}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"type": "T"}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"type": 5, "data": {}}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"type": "T", "data": {}, "colour": 1}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"id": "nope", "type": "T", "data": {}}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([{"id": 1, "type": "T", "data": {}}])"), 400, "invalid_body");
  ExpectProblem(Post(target, R"([])"), 400, "invalid_argument");
  ExpectProblem(Post(target, R"([{"type": "", "data": {}}])"), 400, "invalid_argument");
  // A valid event next to an invalid one: nothing is written.
  ExpectProblem(Post(target, R"([{"type": "T", "data": {}}, {"type": "T"}])"), 400, "invalid_body");
  ExpectProblem(Get(target), 404, "not_found");
}

TEST_F(HttpApiTest, IfMatchMismatchIs412AndWritesNothing) {
  const std::string id = OpenCart();
  ASSERT_EQ(AddItem(id, {{"name", "apple"}, {"unit_price_cents", 10}}).status, 200);
  json before = GetCart(id);
  ASSERT_EQ(before.value("version", 0), 2);

  json problem = ExpectProblem(AddItem(id, {{"name", "pear"}}, {{"If-Match", "\"1\""}}), 412,
                               "precondition_failed");
  EXPECT_EQ(problem["expected"], 1);
  EXPECT_EQ(problem["actual"], 2);
  ExpectProblem(AddItem(id, {{"name", "pear"}}, {{"If-Match", "\"3\""}}), 412,
                "precondition_failed");
  ExpectProblem(Delete("/carts/" + id + "/items/apple", {{"If-Match", "\"1\""}}), 412,
                "precondition_failed");
  ExpectProblem(PostEmpty("/carts/" + id + "/checkout", {{"If-Match", "\"0\""}}), 412,
                "precondition_failed");
  EXPECT_EQ(GetCart(id), before);  // nothing was written

  for (const std::string bad : {"abc", "\"\"", "\"-1\"", "W/\"2\"", "*", "\"2"}) {
    ExpectProblem(AddItem(id, {{"name", "pear"}}, {{"If-Match", bad}}), 400, "invalid_if_match");
  }
  EXPECT_EQ(GetCart(id), before);

  // The matching version writes, and the new ETag is the next If-Match.
  Reply matched = AddItem(id, {{"name", "pear"}}, {{"If-Match", "\"2\""}});
  ASSERT_EQ(matched.status, 200) << matched.body;
  EXPECT_EQ(matched.Header("ETag"), "\"3\"");
  Reply bare = Delete("/carts/" + id + "/items/pear", {{"If-Match", "3"}});  // bare number too
  ASSERT_EQ(bare.status, 200) << bare.body;
  Reply checkout = PostEmpty("/carts/" + id + "/checkout", {{"If-Match", bare.Header("ETag")}});
  ASSERT_EQ(checkout.status, 200) << checkout.body;
  EXPECT_EQ(checkout.Json().value("status", ""), "checked_out");
  EXPECT_EQ(CartVersion(id), 5);

  // A domain rule under a matching If-Match is still a 422.
  ExpectProblem(AddItem(id, {{"name", "kiwi"}}, {{"If-Match", "\"5\""}}), 422, "domain_rule");
  EXPECT_EQ(CartVersion(id), 5);
}

TEST_F(HttpApiTest, BodyOverTheLimitIs413) {
  const std::string id = OpenCart();
  // 1.1 MiB of valid JSON: the size is the only thing wrong with it.
  const std::string big =
      json({{"name", std::string(static_cast<size_t>(1.1 * 1024 * 1024), 'x')}}).dump();
  ASSERT_GT(big.size(), size_t{1} << 20);
  json problem = ExpectProblem(Post("/carts/" + id + "/items", big), 413, "body_too_large");
  EXPECT_NE(problem.value("detail", "").find("1048576"), std::string::npos) << problem;

  json events = json::array({{{"type", "Big"}, {"data", std::string(1153434, 'y')}}});
  ExpectProblem(Post("/streams/big", events.dump()), 413, "body_too_large");
  ExpectProblem(Post("/carts", big), 413, "body_too_large");

  // Nothing was written, and the server (and this client) keep working.
  EXPECT_EQ(CartVersion(id), 1);
  ExpectProblem(Get("/streams/big"), 404, "not_found");
  EXPECT_EQ(Get("/healthz").status, 200);
  // Just under the limit is read (and refused by the domain's own name limit, not by size).
  const std::string under = json({{"name", std::string((1 << 20) - 100, 'x')}}).dump();
  ASSERT_LE(under.size(), size_t{1} << 20);
  ExpectProblem(Post("/carts/" + id + "/items", under), 400, "invalid_argument");
}

TEST_F(HttpApiTest, DomainRulesAre422AndWriteNothing) {
  const std::string empty = OpenCart();
  ExpectProblem(PostEmpty("/carts/" + empty + "/checkout"), 422, "domain_rule");
  EXPECT_EQ(CartVersion(empty), 1);

  const std::string id = OpenCart();
  ASSERT_EQ(AddItem(id, {{"name", "apple"}, {"quantity", 2}, {"unit_price_cents", 5}}).status, 200);
  ExpectProblem(Delete("/carts/" + id + "/items/apple?quantity=3"), 422, "domain_rule");
  ExpectProblem(Delete("/carts/" + id + "/items/banana"), 422, "domain_rule");
  // A different price for an item in the cart.
  ExpectProblem(AddItem(id, {{"name", "apple"}, {"unit_price_cents", 6}}), 422, "domain_rule");
  EXPECT_EQ(CartVersion(id), 2);

  ASSERT_EQ(PostEmpty("/carts/" + id + "/checkout").status, 200);
  ExpectProblem(AddItem(id, {{"name", "pear"}}), 422, "domain_rule");
  ExpectProblem(Delete("/carts/" + id + "/items/apple"), 422, "domain_rule");
  ExpectProblem(PostEmpty("/carts/" + id + "/checkout"), 422, "domain_rule");
  json cart = GetCart(id);
  EXPECT_EQ(cart.value("version", 0), 3);
  EXPECT_EQ(Items(cart), (std::map<std::string, int64_t>{{"apple", 2}}));
}

TEST_F(HttpApiTest, CartsHaveOneCurrency) {
  const std::string id = OpenCart();
  EXPECT_EQ(GetCart(id).value("currency", ""), "USD");
  ASSERT_EQ(AddItem(id, {{"name", "tea"}, {"unit_price_cents", 300}, {"currency", "EUR"}}).status,
            200);
  json cart = GetCart(id);
  EXPECT_EQ(cart.value("currency", ""), "EUR");
  EXPECT_EQ(cart.value("total_cents", 0), 300);
  ExpectProblem(AddItem(id, {{"name", "jam"}, {"unit_price_cents", 1}, {"currency", "USD"}}), 422,
                "domain_rule");
  ExpectProblem(AddItem(id, {{"name", "jam"}, {"currency", 5}}), 400, "invalid_body");
  ExpectProblem(AddItem(id, {{"name", "jam"}, {"currency", "eur"}}), 400, "invalid_argument");
  // Left out, the item takes the cart's currency.
  ASSERT_EQ(AddItem(id, {{"name", "jam"}, {"unit_price_cents", 1}}).status, 200);
  EXPECT_EQ(GetCart(id).value("total_cents", 0), 301);
}

// Events written before ItemAdded had a currency (schema version 1) read the same through the
// API; /streams and /log give the stored bytes unless asked with ?upcast=true.
TEST_F(HttpApiTest, OldEventsShowAsStoredUnlessUpcastIsAsked) {
  const std::string id = OpenCart();
  json old_item = {{"type", "ItemAdded"},
                   {"data", {{"name", "fig"}, {"quantity", 2}, {"unit_price_cents", 30}}}};
  ASSERT_EQ(Append("cart-" + id, json::array({old_item})).status, 201);
  json cart = GetCart(id);
  EXPECT_EQ(cart.value("total_cents", 0), 60);
  EXPECT_EQ(cart.value("currency", ""), "USD");

  json stored = Get("/streams/cart-" + id).Json();
  ASSERT_EQ(stored["events"].size(), 2u);
  EXPECT_EQ(stored["events"][1]["data"], old_item["data"]);
  json upcast = Get("/streams/cart-" + id + "?upcast=true").Json();
  EXPECT_EQ(upcast["events"][1]["data"]["unit_price"], (json{{"cents", 30}, {"currency", "USD"}}));
  EXPECT_EQ(upcast["events"][1]["metadata"]["schema_version"], 2);
  json log = Get("/log?upcast=true").Json();
  EXPECT_EQ(log["events"].back()["data"]["unit_price"]["currency"], "USD");
  EXPECT_EQ(Get("/log?upcast=false").Json()["events"].back()["data"], old_item["data"]);
  ExpectProblem(Get("/log?upcast=yes"), 400, "invalid_parameter");
}

TEST_F(HttpApiTest, ListStreamsPagesWithAfterAndLimit) {
  std::set<std::string> expected;
  for (const std::string s : {"b-2", "a-1", "c-3", "e-5", "d-4"}) {
    AppendN(s, 1);
    expected.insert(s);
  }
  expected.insert("cart-" + OpenCart());

  Reply first = Get("/streams?limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  json page = first.Json();
  ASSERT_EQ(page["streams"].size(), 2u);
  EXPECT_EQ(page["streams"][0], json({{"stream_id", "a-1"}, {"version", 1}}));
  EXPECT_EQ(page["streams"][1].value("stream_id", ""), "b-2");
  EXPECT_EQ(page["next_after"], "b-2");

  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 20) << "paging does not end";
    Reply reply = Get("/streams?limit=2" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(reply.status, 200) << reply.body;
    json body = reply.Json();
    EXPECT_LE(body["streams"].size(), 2u);
    for (const auto& s : body["streams"]) seen.push_back(s.value("stream_id", ""));
    if (body["next_after"].is_null()) break;
    after = body["next_after"].get<std::string>();
  }
  EXPECT_EQ(seen, std::vector<std::string>(expected.begin(), expected.end()));

  // The default page has them all; `after` past the end is an empty page.
  Reply all = Get("/streams");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.Json()["streams"].size(), expected.size());
  EXPECT_TRUE(all.Json()["next_after"].is_null());
  Reply past = Get("/streams?after=zzz");
  ASSERT_EQ(past.status, 200);
  EXPECT_EQ(past.Json()["streams"], json::array());
  EXPECT_TRUE(past.Json()["next_after"].is_null());
  Reply from_c = Get("/streams?after=c-3&limit=1");
  ASSERT_EQ(from_c.status, 200);
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(from_c.Json()["streams"][0].value("stream_id", ""), seen[3]);  // "cart-..."
}

TEST_F(HttpApiTest, ListStreamsWithAPrefixKeepsTheIdsThatStartWithIt) {
  for (const std::string s : {"a-1", "cart", "cart-1", "cart-2", "cartx", "d-1"}) AppendN(s, 1);
  const auto ids = [](const json& page) {
    std::vector<std::string> out;
    for (const auto& s : page["streams"]) out.push_back(s.value("stream_id", ""));
    return out;
  };
  Reply cart = Get("/streams?prefix=cart");
  ASSERT_EQ(cart.status, 200) << cart.body;
  EXPECT_EQ(ids(cart.Json()), (std::vector<std::string>{"cart", "cart-1", "cart-2", "cartx"}));
  EXPECT_TRUE(cart.Json()["next_after"].is_null());
  Reply dash = Get("/streams?prefix=cart-");
  ASSERT_EQ(dash.status, 200) << dash.body;
  EXPECT_EQ(ids(dash.Json()), (std::vector<std::string>{"cart-1", "cart-2"}));
  EXPECT_TRUE(dash.Json()["next_after"].is_null());
  // Paged one by one, the prefix's own stream first; the pages end with the prefix.
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10) << "paging does not end";
    Reply reply = Get("/streams?prefix=cart&limit=1" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(reply.status, 200) << reply.body;
    for (const std::string& id : ids(reply.Json())) seen.push_back(id);
    if (reply.Json()["next_after"].is_null()) break;
    after = reply.Json()["next_after"].get<std::string>();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"cart", "cart-1", "cart-2", "cartx"}));
  Reply none = Get("/streams?prefix=zz");
  ASSERT_EQ(none.status, 200);
  EXPECT_EQ(none.Json()["streams"], json::array());
  EXPECT_TRUE(none.Json()["next_after"].is_null());
  Reply b = Get("/streams?prefix=b");  // between a-1 and cart: nothing
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.Json()["streams"], json::array());
  // A prefix that is no valid stream id of its own still lists (here nothing).
  Reply virtual_prefix = Get("/streams?prefix=%24ce-");
  ASSERT_EQ(virtual_prefix.status, 200) << virtual_prefix.body;
  EXPECT_EQ(virtual_prefix.Json()["streams"], json::array());
}

TEST_F(HttpApiTest, GetCartAtAVersionIsTheCartAsItStoodThen) {
  const std::string id = OpenCart();
  ASSERT_EQ(AddItem(id, {{"name", "apple"}, {"quantity", 2}, {"unit_price_cents", 50}}).status,
            200);
  ASSERT_EQ(AddItem(id, {{"name", "pear"}, {"quantity", 1}, {"unit_price_cents", 80}}).status, 200);
  ASSERT_EQ(PostEmpty("/carts/" + id + "/checkout").status, 200);
  ASSERT_EQ(CartVersion(id), 4);

  Reply v1 = Get("/carts/" + id + "?version=1");
  ASSERT_EQ(v1.status, 200) << v1.body;
  EXPECT_EQ(v1.Json().value("version", 0), 1);
  EXPECT_EQ(v1.Json()["items"], json::array());
  EXPECT_EQ(v1.Json().value("status", ""), "open");
  EXPECT_EQ(v1.Header("ETag"), "\"1\"");
  Reply v2 = Get("/carts/" + id + "?version=2");
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_EQ(Items(v2.Json()), (std::map<std::string, int64_t>{{"apple", 2}}));
  EXPECT_EQ(v2.Json().value("total_cents", 0), 100);
  Reply v3 = Get("/carts/" + id + "?version=3");
  EXPECT_EQ(Items(v3.Json()), (std::map<std::string, int64_t>{{"apple", 2}, {"pear", 1}}));
  EXPECT_EQ(v3.Json().value("status", ""), "open");
  Reply v4 = Get("/carts/" + id + "?version=4");
  EXPECT_EQ(v4.Json().value("status", ""), "checked_out");
  EXPECT_EQ(v4.body, Get("/carts/" + id).body);  // the last version is the cart as it is

  ExpectProblem(Get("/carts/" + id + "?version=5"), 400, "invalid_argument");
  ExpectProblem(Get("/carts/" + id + "?version=0"), 400, "invalid_parameter");
  ExpectProblem(Get("/carts/" + id + "?version=x"), 400, "invalid_parameter");
  ExpectProblem(Get("/carts/00000000-0000-4000-8000-000000000000?version=1"), 404, "not_found");
  ExpectProblem(Get("/carts/not-a-uuid?version=1"), 404, "not_found");
  // The time travel reads history: the cart as it is stays what GET answers.
  EXPECT_EQ(CartVersion(id), 4);
}

TEST_F(HttpApiTest, ReadStreamForwardBackwardInPages) {
  AppendN("order-7", 5);
  auto versions = [](const json& page) {
    std::vector<int64_t> out;
    for (const auto& e : page["events"]) out.push_back(e.value("version", int64_t{0}));
    return out;
  };

  Reply all = Get("/streams/order-7");
  ASSERT_EQ(all.status, 200) << all.body;
  json body = all.Json();
  EXPECT_EQ(body.value("stream_id", ""), "order-7");
  EXPECT_EQ(body.value("version", 0), 5);
  EXPECT_EQ(versions(body), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(body.value("end_of_stream", false));
  EXPECT_TRUE(body["next_from"].is_null());
  EXPECT_EQ(body["events"][2]["data"], json({{"n", 3}}));

  body = Get("/streams/order-7?from=2&limit=2").Json();
  EXPECT_EQ(versions(body), (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(body.value("end_of_stream", true));
  EXPECT_EQ(body["next_from"], 4);
  body = Get("/streams/order-7?from=4&limit=2&direction=forward").Json();
  EXPECT_EQ(versions(body), (std::vector<int64_t>{4, 5}));
  EXPECT_TRUE(body.value("end_of_stream", false));
  EXPECT_TRUE(body["next_from"].is_null());

  body = Get("/streams/order-7?direction=backward&limit=2").Json();
  EXPECT_EQ(versions(body), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(body["next_from"], 3);
  body = Get("/streams/order-7?direction=backward&from=3&limit=2").Json();
  EXPECT_EQ(versions(body), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(body["next_from"], 1);
  body = Get("/streams/order-7?direction=backward&from=1").Json();
  EXPECT_EQ(versions(body), (std::vector<int64_t>{1}));
  EXPECT_TRUE(body.value("end_of_stream", false));
  EXPECT_TRUE(body["next_from"].is_null());

  // Following next_from visits every event once, in each direction.
  for (const std::string direction : {"forward", "backward"}) {
    std::vector<int64_t> seen;
    std::string from = direction == "forward" ? "1" : "0";
    for (int pages = 0;; ++pages) {
      ASSERT_LT(pages, 20) << "paging does not end";
      Reply reply = Get("/streams/order-7?limit=2&direction=" + direction + "&from=" + from);
      ASSERT_EQ(reply.status, 200) << reply.body;
      json page = reply.Json();
      for (int64_t v : versions(page)) seen.push_back(v);
      if (page["next_from"].is_null()) break;
      from = std::to_string(page["next_from"].get<int64_t>());
    }
    EXPECT_EQ(seen, direction == "forward" ? (std::vector<int64_t>{1, 2, 3, 4, 5})
                                           : (std::vector<int64_t>{5, 4, 3, 2, 1}))
        << direction;
  }
}

TEST_F(HttpApiTest, ReadLogInPages) {
  AppendN("x-1", 3);
  AppendN("x-2", 2);
  const std::string cart = OpenCart();
  ASSERT_EQ(AddItem(cart, {{"name", "apple"}}).status, 200);
  const int64_t head = 7;

  Reply first = Get("/log?from=0&limit=3");
  ASSERT_EQ(first.status, 200) << first.body;
  json page = first.Json();
  ASSERT_EQ(page["events"].size(), 3u);
  EXPECT_EQ(page["events"][0].value("position", 0), 1);
  EXPECT_EQ(page["events"][0].value("stream_id", ""), "x-1");
  EXPECT_EQ(page["next_from"], 3);
  EXPECT_EQ(page["head_position"], head);

  std::vector<int64_t> positions;
  std::vector<std::string> streams;
  int64_t from = 0;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 20) << "paging does not end";
    Reply reply = Get("/log?from=" + std::to_string(from) + "&limit=2");
    ASSERT_EQ(reply.status, 200) << reply.body;
    json body = reply.Json();
    if (body["events"].empty()) {
      EXPECT_EQ(body["next_from"], from);
      break;
    }
    for (const auto& e : body["events"]) {
      positions.push_back(e.value("position", int64_t{0}));
      streams.push_back(e.value("stream_id", ""));
    }
    from = body["next_from"].get<int64_t>();
  }
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(streams.back(), "cart-" + cart);
  // The default reads from the start.
  EXPECT_EQ(Get("/log").Json()["events"].size(), 7u);
}

TEST_F(HttpApiTest, BadQueryParametersAre400) {
  AppendN("q-1", 2);
  const std::string cart = OpenCart();
  for (const std::string target :
       {"/streams?limit=0", "/streams?limit=abc", "/streams?limit=1001", "/streams?limit=-1",
        "/streams?limit=", "/streams?limit=1.5", "/streams/q-1?limit=0", "/streams/q-1?limit=abc",
        "/streams/q-1?from=-1", "/streams/q-1?from=x", "/log?limit=0", "/log?limit=abc",
        "/log?from=-1", "/log?from=1e3"}) {
    SCOPED_TRACE(target);
    ExpectProblem(Get(target), 400, "invalid_parameter");
  }
  json problem = ExpectProblem(Get("/streams/q-1?direction=sideways"), 400, "invalid_parameter");
  EXPECT_NE(problem.value("detail", "").find("sideways"), std::string::npos) << problem;
  ExpectProblem(Delete("/carts/" + cart + "/items/apple?quantity=0"), 400, "invalid_parameter");
  ExpectProblem(Delete("/carts/" + cart + "/items/apple?quantity=two"), 400, "invalid_parameter");
  ExpectProblem(Get("/log?from=%zz"), 400, "malformed_target");
  EXPECT_EQ(Get("/streams?limit=1000").status, 200);  // the largest page
  EXPECT_EQ(CartVersion(cart), 1);
}

TEST_F(HttpApiTest, MetricsHaveRequestAndStoreSeries) {
  const std::string id = OpenCart();
  ASSERT_EQ(AddItem(id, {{"name", "apple"}}).status, 200);
  ExpectProblem(Get("/nope"), 404, "no_route");
  Reply reply = Get("/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.ContentType().rfind("text/plain", 0), 0u) << reply.ContentType();
  const std::string& text = reply.body;
  for (const char* needle :
       {"evs_http_requests_total", "evs_http_request_duration_seconds_bucket", "evs_appends_total",
        "evs_group_commit_appends_bucket", "evs_fsync_seconds_bucket", "evs_store_bytes",
        "evs_head_position 2",
        "evs_http_requests_total{route=\"/carts\",method=\"POST\",status=\"201\"} 1",
        "evs_http_requests_total{route=\"/carts/{id}/items\",method=\"POST\",status=\"200\"} 1",
        "evs_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1",
        "evs_http_request_duration_seconds_bucket{route=\"/carts\",le=\"+Inf\"} 1",
        "evs_appends_total 2"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
  // The store's size is a real number of bytes.
  const size_t at = text.find("\nevs_store_bytes ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stoll(text.substr(at + 17)), 0);
}

// 16 clients add to one cart at once without If-Match: conflicts are retried, so every request
// succeeds and every one of them counts.
TEST_F(HttpApiTest, ConcurrentAddsWithoutIfMatchAllSucceed) {
  const std::string id = OpenCart();
  constexpr int kClients = 16;
  constexpr int kRequestsEach = 8;
  std::atomic<int> ok{0}, failed{0}, ready{0};
  std::atomic<bool> go{false};
  std::vector<std::string> errors(kClients);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto client = NewClient(port_);
      client->Get("/healthz");  // connect before the start
      ++ready;
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (!go && Clock::now() < deadline) std::this_thread::yield();
      for (int i = 0; i < kRequestsEach; ++i) {
        Reply reply = ToReply(client->Post(
            "/carts/" + id + "/items", json({{"name", "apple"}, {"quantity", 1}}).dump(), kJson));
        if (reply.status == 200) {
          ++ok;
        } else {
          ++failed;
          errors[t] = std::to_string(reply.status) + " " + reply.body;
        }
      }
    });
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (ready < kClients && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  go = true;
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(ok, kClients * kRequestsEach);
  json cart = GetCart(id);
  EXPECT_EQ(Items(cart)["apple"], ok.load());
  EXPECT_EQ(cart.value("version", 0), 1 + ok.load());
}

// 16 clients send the same If-Match at once: exactly one wins, the others get 412 and write
// nothing. Several rounds, each from the version the last one left.
TEST_F(HttpApiTest, ConcurrentIfMatchExactlyOneWins) {
  const std::string id = OpenCart();
  constexpr int kClients = 16;
  constexpr int kRounds = 5;
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.push_back(NewClient(port_));
    ASSERT_EQ(ToReply(clients.back()->Get("/healthz")).status, 200);  // keep-alive, connected
  }
  int64_t version = CartVersion(id);
  ASSERT_EQ(version, 1);
  auto Name = [](int round, int t) {
    return "round-" + std::to_string(round) + "-client-" + std::to_string(t);
  };
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<Reply> replies(kClients);
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        const auto deadline = Clock::now() + std::chrono::seconds(30);
        while (!go && Clock::now() < deadline) std::this_thread::yield();
        replies[t] = ToReply(clients[t]->Post("/carts/" + id + "/items",
                                              {{"If-Match", "\"" + std::to_string(version) + "\""}},
                                              json({{"name", Name(round, t)}}).dump(), kJson));
      });
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (ready < kClients && Clock::now() < deadline) std::this_thread::yield();
    go = true;
    for (auto& t : threads) t.join();

    int winners = 0;
    std::string winner;
    for (int t = 0; t < kClients; ++t) {
      if (replies[t].status == 200) {
        ++winners;
        winner = Name(round, t);
        EXPECT_EQ(replies[t].Header("ETag"), "\"" + std::to_string(version + 1) + "\"");
      } else {
        json problem = ExpectProblem(replies[t], 412, "precondition_failed");
        EXPECT_EQ(problem["expected"], version);
        EXPECT_EQ(problem["actual"], version + 1);
      }
    }
    EXPECT_EQ(winners, 1);
    json cart = GetCart(id);
    EXPECT_EQ(cart.value("version", int64_t{0}), version + 1);
    EXPECT_EQ(Items(cart).count(winner), 1u);
    EXPECT_EQ(Items(cart).size(), static_cast<size_t>(round + 1));
    version = cart.value("version", int64_t{0});
  }
}

// Stop() right after Run() starts (or before it gets going) still ends Run().
TEST(HttpServer, StopRightAfterStartEndsRun) {
  auto store = NewMemoryEventStore();
  Api api(*store);
  for (int i = 0; i < 20; ++i) {
    ServerOptions options;
    options.port = 0;
    options.blocking_threads = 4;
    options.access_log = false;
    Server server(api, options);
    ASSERT_TRUE(server.Bind().ok());
    std::promise<void> done;
    auto finished = done.get_future();
    std::thread runner([&] {
      server.Run();
      done.set_value();
    });
    server.Stop();
    const bool ended = finished.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    EXPECT_TRUE(ended) << "Run() did not end after Stop() (iteration " << i << ")";
    // Rescue a stuck Run() so the test ends, bounded.
    for (int tries = 0; !ended && tries < 500; ++tries) {
      server.Stop();
      if (finished.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready) break;
    }
    runner.join();
    if (!ended) break;
  }
}

// GET /subscriptions shows a subscription's trouble: its state, the error, and for read errors
// how many in a row and since when.
TEST(HttpSubscriptions, ShowStateErrorAndReadRetries) {
  auto store = NewMemoryEventStore();
  ApiFeeds feeds;
  feeds.subscriptions = [] {
    SubscriptionStatus retrying;
    retrying.name = "reader";
    retrying.state = SubscriptionStatus::State::kRetrying;
    retrying.error = "the disk is busy";
    retrying.read_failures = 3;
    retrying.retrying_since_us = 1'700'000'000'000'000;
    retrying.parked = 2;
    SubscriptionStatus failed;
    failed.name = "saver";
    failed.state = SubscriptionStatus::State::kFailed;
    failed.error = "cannot save the checkpoint: disk gone";
    return std::vector<SubscriptionStatus>{retrying, failed};
  };
  Api api(*store, {}, feeds);
  Request request;
  request.method = "GET";
  request.target = "/subscriptions";
  Response response = api.Handle(request);
  ASSERT_EQ(response.status, 200) << response.body;
  json list = json::parse(response.body)["subscriptions"];
  ASSERT_EQ(list.size(), 2u) << response.body;
  EXPECT_EQ(list[0].value("state", ""), "retrying");
  EXPECT_EQ(list[0].value("error", ""), "the disk is busy");
  EXPECT_EQ(list[0].value("read_failures", 0), 3);
  EXPECT_EQ(list[0].value("retrying_since", ""), "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(list[0].value("parked", 0), 2);
  EXPECT_EQ(list[1].value("state", ""), "failed");
  EXPECT_EQ(list[1].value("error", ""), "cannot save the checkpoint: disk gone");
  EXPECT_FALSE(list[1].contains("read_failures")) << list[1];
  EXPECT_FALSE(list[1].contains("retrying_since")) << list[1];
}

// Header names with bytes past ASCII (the HTTP request fuzz target sends them): compared without
// handing std::tolower a negative char, which is undefined; only ASCII letters fold.
TEST(HttpRequest, HeaderNamesPastAsciiCompareByteForByte) {
  Request request;
  request.headers = {{"X-\xc4nderung", "1"}, {"Content-TYPE", "application/json"}};
  EXPECT_EQ(request.Header("x-\xc4NDERUNG").value_or(""), "1");
  EXPECT_FALSE(request.Header("x-\xe4nderung").has_value());
  EXPECT_EQ(request.Header("content-type").value_or(""), "application/json");
}

TEST_F(HttpApiTest, StreamMetadataIsSetReadAndBoundsReads) {
  AppendN("meter", 10);
  auto put = [&](const std::string& body) {
    return ToReply(client_->Put("/streams/meter/metadata", body, kJson));
  };
  Reply reply = put(R"({"max_count": 3, "custom": {"owner": "ops"}})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Json()["metadata"]["max_count"], 3);
  EXPECT_EQ(reply.Json()["metadata"]["custom"]["owner"], "ops");
  reply = Get("/streams/meter/metadata");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Json()["version"], 10);
  EXPECT_EQ(reply.Json()["deleted"], "no");
  reply = Get("/streams/meter");
  ASSERT_EQ(reply.status, 200);
  ASSERT_EQ(reply.Json()["events"].size(), 3u);
  EXPECT_EQ(reply.Json()["events"][0]["version"], 8);
  // Bad metadata: 400 naming what is wrong; nothing changes.
  const std::pair<const char*, const char*> bad[] = {
      {R"({"max_count": -1})", "max_count"},
      {R"({"max_age_seconds": "1d"})", "max_age_seconds"},
      {R"({"truncate_before": 0})", "truncate_before"},
      {R"({"custom": [1]})", "custom"},
      {R"({"colour": "red"})", "colour"},
      {R"([1, 2])", "JSON object"},
  };
  for (const auto& [body, names] : bad) {
    json problem = ExpectProblem(put(body), 400, "invalid_argument");
    EXPECT_NE(problem.value("detail", "").find(names), std::string::npos) << problem.dump();
  }
  ExpectProblem(put("{not json"), 400, "malformed_json");
  EXPECT_EQ(Get("/streams/meter/metadata").Json()["metadata"]["max_count"], 3);
  ExpectProblem(Get("/streams/nothing/metadata"), 404, "not_found");
  ExpectProblem(Delete("/streams/meter/metadata"), 405, "method_not_allowed");
}

TEST_F(HttpApiTest, DeletedStreamsAre404AndTombstones410) {
  AppendN("gone", 2);
  ExpectProblem(Delete("/streams/gone?hard=maybe"), 400, "invalid_parameter");
  ExpectProblem(Delete("/streams/gone", {{"ES-Expected-Version", "7"}}), 409,
                "wrong_expected_version");
  Reply deleted = Delete("/streams/gone", {{"ES-Expected-Version", "2"}});
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(deleted.body, "");
  EXPECT_EQ(deleted.Header("Content-Type"), "");
  ExpectProblem(Get("/streams/gone"), 404, "not_found");
  ExpectProblem(Delete("/streams/gone"), 404, "not_found");  // twice
  EXPECT_EQ(Get("/streams/gone/metadata").Json()["deleted"], "soft");
  // Started again where it stopped.
  Reply appended =
      Append("gone", json::array({{{"type", "Again"}, {"data", json::object()}}}), "no-stream");
  ASSERT_EQ(appended.status, 201) << appended.body;
  EXPECT_EQ(appended.Json()["first_version"], 3);
  EXPECT_EQ(Delete("/streams/gone?hard=true").status, 204);
  json problem = ExpectProblem(Get("/streams/gone"), 410, "stream_deleted");
  ExpectProblem(Append("gone", json::array({{{"type", "T"}, {"data", json::object()}}})), 410,
                "stream_deleted");
  ExpectProblem(Delete("/streams/gone?hard=true"), 410, "stream_deleted");
  ExpectProblem(ToReply(client_->Put("/streams/gone/metadata", "{}", kJson)), 410,
                "stream_deleted");
  EXPECT_EQ(Get("/streams/gone/metadata").Json()["deleted"], "hard");
  ExpectProblem(Delete("/streams/never-was"), 404, "not_found");
  // A deleted cart reads as not found, cached or not.
  const std::string cart = OpenCart();
  GetCart(cart);
  EXPECT_EQ(Delete("/streams/cart-" + cart).status, 204);
  ExpectProblem(Get("/carts/" + cart), 404, "not_found");
}

TEST_F(HttpApiTest, ScavengeRunsInTheBackgroundAndReportsProgress) {
  AppendN("old", 50);
  AppendN("new", 5);
  ASSERT_EQ(Delete("/streams/old?hard=true").status, 204);
  Reply started = PostEmpty("/admin/scavenge");
  ASSERT_EQ(started.status, 202) << started.body;
  json status;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  do {
    ASSERT_LT(Clock::now(), deadline) << status.dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = Get("/admin/scavenge").Json();
  } while (status.value("state", "") == "running");
  ASSERT_EQ(status["state"], "done") << status.dump();
  EXPECT_EQ(status["events_scavenged"], 50);
  EXPECT_EQ(status["streams_total"], 1);
  EXPECT_TRUE(status.contains("file_bytes_after"));
  // The log keeps the markers; the stream that stays reads as before.
  Reply log = Get("/log?limit=100");
  ASSERT_EQ(log.status, 200);
  ASSERT_EQ(log.Json()["events"].size(), 55u);
  EXPECT_EQ(log.Json()["events"][0]["type"], "$scavenged");
  EXPECT_EQ(Get("/streams/new").Json()["events"].size(), 5u);
  ExpectProblem(Delete("/admin/scavenge"), 405, "method_not_allowed");
}
// The metadata of every event of a stream, parsed.
std::vector<json> MetadataOf(EventStore& store, const std::string& stream) {
  std::vector<json> out;
  auto page = store.ReadStream(stream, {});
  EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().message);
  if (!page.ok()) return out;
  for (const auto& e : page->events) out.push_back(json::parse(e.metadata));
  return out;
}

// Given ids are stored in each event's metadata beside the client's own fields (a client's
// explicit id wins) and echoed in the response.
TEST_F(HttpApiTest, GivenCorrelationAndCausationIdsAreStoredAndEchoed) {
  json events = json::array({{{"type", "A"}, {"data", json::object()}},
                             {{"type", "B"}, {"data", json::object()}, {"metadata", {{"k", 1}}}},
                             {{"type", "C"},
                              {"data", json::object()},
                              {"metadata", {{"correlation_id", "client-own"}}}}});
  Reply reply = Post("/streams/orders-1", events.dump(), kJson,
                     {{"X-Correlation-Id", "corr-42"}, {"X-Causation-Id", "cause-7"}});
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_EQ(reply.Header("X-Correlation-Id"), "corr-42");
  EXPECT_EQ(reply.Header("X-Causation-Id"), "cause-7");
  std::vector<json> metadata = MetadataOf(*store_, "orders-1");
  ASSERT_EQ(metadata.size(), 3u);
  EXPECT_EQ(metadata[0], json({{"correlation_id", "corr-42"}, {"causation_id", "cause-7"}}));
  EXPECT_EQ(metadata[1],
            json({{"k", 1}, {"correlation_id", "corr-42"}, {"causation_id", "cause-7"}}));
  EXPECT_EQ(metadata[2], json({{"correlation_id", "client-own"}, {"causation_id", "cause-7"}}));
  // A failed command echoes them too.
  Reply conflict = Post("/streams/orders-1", events.dump(), kJson,
                        {{"X-Correlation-Id", "corr-43"}, {"ES-Expected-Version", "1"}});
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(conflict.Header("X-Correlation-Id"), "corr-43");
  EXPECT_FALSE(conflict.Header("X-Causation-Id").empty());
}

// A W3C traceparent gives both (trace-id, parent-id); an explicit header still wins; a malformed
// traceparent is ignored.
TEST_F(HttpApiTest, TraceparentGivesTheIdsAndAMalformedOneIsIgnored) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent = "00f067aa0ba902b7";
  const json events = json::array({{{"type", "A"}, {"data", json::object()}}});
  Reply reply = Post("/streams/traced", events.dump(), kJson,
                     {{"traceparent", "00-" + trace + "-" + parent + "-01"}});
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_EQ(reply.Header("X-Correlation-Id"), trace);
  EXPECT_EQ(reply.Header("X-Causation-Id"), parent);
  reply =
      Post("/streams/traced", events.dump(), kJson,
           {{"traceparent", "00-" + trace + "-" + parent + "-01"}, {"X-Causation-Id", "explicit"}});
  ASSERT_EQ(reply.status, 201) << reply.body;
  std::vector<json> metadata = MetadataOf(*store_, "traced");
  ASSERT_EQ(metadata.size(), 2u);
  EXPECT_EQ(metadata[0], json({{"correlation_id", trace}, {"causation_id", parent}}));
  EXPECT_EQ(metadata[1], json({{"correlation_id", trace}, {"causation_id", "explicit"}}));
  for (const std::string& bad :
       {"00-" + trace + "-" + parent, "00-" + std::string(32, '0') + "-" + parent + "-01",
        "ff-" + trace + "-" + parent + "-01", "00-" + trace + "-" + parent + "-01-extra",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + parent + "-01"}) {
    reply = Post("/streams/untraced", events.dump(), kJson, {{"traceparent", bad}});
    ASSERT_EQ(reply.status, 201) << bad << ": " << reply.body;
    EXPECT_NE(reply.Header("X-Correlation-Id"), trace) << bad;
    EXPECT_NE(reply.Header("X-Causation-Id"), parent) << bad;
  }
}

// Without ids, each is a new UUID, stored and echoed.
TEST_F(HttpApiTest, AbsentIdsAreGeneratedStoredAndEchoed) {
  const json events = json::array({{{"type", "A"}, {"data", json::object()}}});
  Reply reply = Post("/streams/plain", events.dump());
  ASSERT_EQ(reply.status, 201) << reply.body;
  const std::string correlation = reply.Header("X-Correlation-Id");
  const std::string causation = reply.Header("X-Causation-Id");
  EXPECT_TRUE(Uuid::Parse(correlation).has_value()) << correlation;
  EXPECT_TRUE(Uuid::Parse(causation).has_value()) << causation;
  std::vector<json> metadata = MetadataOf(*store_, "plain");
  ASSERT_EQ(metadata.size(), 1u);
  EXPECT_EQ(metadata[0], json({{"correlation_id", correlation}, {"causation_id", causation}}));
  Reply again = Post("/streams/plain", events.dump());
  EXPECT_NE(again.Header("X-Correlation-Id"), correlation);
}

// A bad X-Correlation-Id or X-Causation-Id is a 400 problem and writes nothing.
TEST_F(HttpApiTest, MalformedIdHeadersAreRefused) {
  const json events = json::array({{{"type", "A"}, {"data", json::object()}}});
  const std::string id = OpenCart();
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"X-Correlation-Id", std::string(129, 'a')}, {"X-Causation-Id", "has space"}}) {
    Reply reply = Post("/streams/refused", events.dump(), kJson, {{name, value}});
    EXPECT_EQ(reply.status, 400) << name << ": " << value;
    EXPECT_EQ(reply.Json().value("code", ""),
              name == "X-Correlation-Id" ? "invalid_correlation_id" : "invalid_causation_id");
    EXPECT_EQ(AddItem(id, {{"name", "apple"}}, {{name, value}}).status, 400) << name;
  }
  EXPECT_EQ(Get("/streams/refused").status, 404);
  EXPECT_EQ(CartVersion(id), 1);
}

// What no client library sends gets the same answer, read without a transport.
TEST(CommandContext, ControlAndNonAsciiCharactersAreRefused) {
  for (const std::string& value : {std::string("tab\there"), std::string("caf\xc3\xa9"),
                                   std::string(), std::string(1, '\x7f')}) {
    Request request;
    request.headers = {{"x-causation-id", value}};
    auto context = ReadCommandContext(request);
    ASSERT_FALSE(context.ok()) << value;
    EXPECT_EQ(context.problem().status, 400);
  }
  Request request;
  request.headers = {{"X-Correlation-Id", std::string(kMaxContextIdBytes, '~')}};
  auto context = ReadCommandContext(request);
  ASSERT_TRUE(context.ok());
  EXPECT_EQ(context->correlation_id, std::string(kMaxContextIdBytes, '~'));
  // Stamping leaves metadata that is not an object alone.
  EXPECT_EQ(context->Stamp("[1,2]"), "[1,2]");
  EXPECT_EQ(json::parse(context->Stamp("")).size(), 2u);
}

// The cart's commands stamp their events and echo the ids, conditional ones included.
TEST_F(HttpApiTest, CartEventsCarryTheCommandsIds) {
  Reply opened = PostEmpty("/carts", {{"X-Correlation-Id", "checkout-flow-1"}});
  ASSERT_EQ(opened.status, 201) << opened.body;
  EXPECT_EQ(opened.Header("X-Correlation-Id"), "checkout-flow-1");
  const std::string id = opened.Json().value("cart_id", "");
  Reply added = AddItem(id, {{"name", "apple"}},
                        {{"X-Correlation-Id", "checkout-flow-1"}, {"X-Causation-Id", "click-2"}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.Header("X-Causation-Id"), "click-2");
  Reply conditional = AddItem(id, {{"name", "pear"}},
                              {{"If-Match", "\"2\""}, {"X-Correlation-Id", "checkout-flow-1"}});
  ASSERT_EQ(conditional.status, 200) << conditional.body;
  Reply stale =
      AddItem(id, {{"name", "fig"}}, {{"If-Match", "\"2\""}, {"X-Causation-Id", "click-4"}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(stale.Header("X-Causation-Id"), "click-4");
  Reply checkout = PostEmpty("/carts/" + id + "/checkout", {{"X-Causation-Id", "click-5"}});
  ASSERT_EQ(checkout.status, 200) << checkout.body;
  std::vector<json> metadata = MetadataOf(*store_, "cart-" + id);
  ASSERT_EQ(metadata.size(), 4u);
  EXPECT_EQ(metadata[0].value("correlation_id", ""), "checkout-flow-1");
  EXPECT_EQ(metadata[0].value("causation_id", ""), opened.Header("X-Causation-Id"));
  EXPECT_EQ(metadata[1].value("causation_id", ""), "click-2");
  EXPECT_EQ(metadata[2].value("correlation_id", ""), "checkout-flow-1");
  EXPECT_EQ(metadata[3].value("causation_id", ""), "click-5");
  EXPECT_EQ(metadata[3].value("correlation_id", ""), checkout.Header("X-Correlation-Id"));
}

}  // namespace
}  // namespace evs::http
