// Personal data over HTTP through the real server on loopback: POST /carts for a customer with
// an email, GET /carts/{id} showing it until POST /subjects/{id}/forget, which needs the bearer
// token like every write, and its errors.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "evs/personal_data.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs::http {
namespace {

using nlohmann::json;
using testing::Reply;
using testing::ToReply;

constexpr const char* kToken = "a-token-of-at-least-16-bytes";

class HttpPersonalDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteStoreOptions store_options;
    store_options.path = dir_.File("events.sqlite");
    auto store = OpenSqliteEventStore(store_options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto personal = OpenSqlitePersonalData(*store_, KeyStorePathFor(store_options.path));
    ASSERT_TRUE(personal.ok()) << personal.error().message;
    ApiOptions api_options;
    api_options.bearer_token = kToken;
    api_options.personal_data = std::move(personal).value();
    api_ = std::make_unique<testing::CartApi>(*store_, api_options);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.blocking_threads = 8;
    options.access_log = false;
    server_ = std::make_unique<Server>(*api_, options);
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.error().message;
    server_thread_ = std::thread([this] { server_->Run(); });
    client_ = testing::NewClient(*port);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (Get("/healthz").status != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the server never answered";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void TearDown() override {
    client_.reset();
    if (server_thread_.joinable()) {
      server_->Stop();
      server_thread_.join();
    }
    server_.reset();
    api_.reset();
    store_.reset();
  }

  Reply Get(const std::string& target) { return ToReply(client_->Get(target)); }
  Reply Post(const std::string& target, const std::string& body, bool with_token = true) {
    httplib::Headers headers;
    if (with_token) headers.emplace("Authorization", std::string("Bearer ") + kToken);
    return ToReply(client_->Post(target, headers, body, "application/json"));
  }

  std::string OpenCart(const json& body) {
    Reply reply = Post("/carts", body.dump());
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json().value("cart_id", "");
  }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<testing::CartApi> api_;
  std::unique_ptr<Server> server_;
  std::thread server_thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpPersonalDataTest, TheEmailShowsUntilTheCustomerIsForgotten) {
  const std::string id = OpenCart({{"customer_id", "c-42"}, {"email", "ann@example.com"}});
  ASSERT_FALSE(id.empty());
  Reply cart = Get("/carts/" + id);
  ASSERT_EQ(cart.status, 200) << cart.body;
  EXPECT_EQ(cart.Json().value("customer_id", ""), "c-42");
  EXPECT_EQ(cart.Json().value("email", ""), "ann@example.com");
  // Read twice: a cart with an email is not served from a body cached before the forget.
  EXPECT_EQ(Get("/carts/" + id).Json().value("email", ""), "ann@example.com");
  // The raw stream holds the sealed field only.
  Reply raw = Get("/streams/cart-" + id);
  ASSERT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body.find("ann@example.com"), std::string::npos) << raw.body;
  EXPECT_NE(raw.body.find("\"$enc\":\"v1\""), std::string::npos) << raw.body;

  EXPECT_EQ(Post("/subjects/c-42/forget", "", /*with_token=*/false).status, 401);
  Reply forgotten = Post("/subjects/c-42/forget", "");
  ASSERT_EQ(forgotten.status, 200) << forgotten.body;
  EXPECT_EQ(forgotten.Json(),
            json({{"subject", "c-42"}, {"forgotten", true}, {"already_forgotten", false}}));
  Reply after = Get("/carts/" + id);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.Json().value("email", ""), std::string(kRedacted));
  EXPECT_EQ(after.Json().value("customer_id", ""), "c-42");

  Reply again = Post("/subjects/c-42/forget", "");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(again.Json().value("already_forgotten", false));
  // A forgotten customer's id takes no new email.
  EXPECT_EQ(Post("/carts", json({{"customer_id", "c-42"}, {"email", "x@y.z"}}).dump()).status, 400);
}

TEST_F(HttpPersonalDataTest, CartsWithoutACustomerAreAsBefore) {
  Reply empty = ToReply(client_->Post(
      "/carts", httplib::Headers{{"Authorization", std::string("Bearer ") + kToken}}, "", ""));
  ASSERT_EQ(empty.status, 201) << empty.body;
  json cart = Get("/carts/" + empty.Json().value("cart_id", "")).Json();
  EXPECT_FALSE(cart.contains("email"));
  EXPECT_FALSE(cart.contains("customer_id"));
  const std::string only_customer = OpenCart({{"customer_id", "c-7"}});
  json with_customer = Get("/carts/" + only_customer).Json();
  EXPECT_EQ(with_customer.value("customer_id", ""), "c-7");
  EXPECT_FALSE(with_customer.contains("email"));
}

TEST_F(HttpPersonalDataTest, BadInputIsAClearError) {
  EXPECT_EQ(Post("/subjects/nobody/forget", "").status, 404);
  EXPECT_EQ(Post("/subjects/" + std::string(kMaxSubjectBytes + 1, 's') + "/forget", "").status,
            413);
  EXPECT_EQ(Get("/subjects/c-1/forget").status, 405);
  EXPECT_EQ(Post("/carts", R"({"email": "a@b.c"})").status, 400);  // no customer
  EXPECT_EQ(Post("/carts", R"({"customer_id": "c-1", "email": "nope"})").status, 400);
  EXPECT_EQ(Post("/carts", R"({"customer_id": 7})").status, 400);
  EXPECT_EQ(Post("/carts", R"({"customer": "c-1"})").status, 400);
  EXPECT_EQ(Post("/carts", R"([1])").status, 400);
  EXPECT_EQ(Post("/carts", R"({"customer_id": ""})").status, 201);  // empty: nobody
}

}  // namespace
}  // namespace evs::http
