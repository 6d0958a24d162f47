// Personal data over HTTP through the real server on loopback: POST /carts for a customer with
// an email, GET /carts/{id} showing it until POST /subjects/{id}/forget, which needs the bearer
// token like every write, and its errors.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/personal_data.h"
#include "http_client.h"
#include "served_api.h"

namespace evs::http {
namespace {

using nlohmann::json;
using testing::Reply;
using testing::ToReply;

constexpr const char* kToken = "a-token-of-at-least-16-bytes";

class HttpPersonalDataTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GT(served_.port(), 0) << "the server did not start"; }
  static ApiOptions WithPersonalData(EventStore& store, const std::string& path) {
    ApiOptions options;
    options.bearer_token = kToken;
    auto personal = OpenSqlitePersonalData(store, KeyStorePathFor(path));
    EXPECT_TRUE(personal.ok()) << personal.error().message;
    if (personal.ok()) options.personal_data = std::move(personal).value();
    return options;
  }

  Reply Get(const std::string& target) { return ToReply(served_.client().Get(target)); }
  Reply Post(const std::string& target, const std::string& body, bool with_token = true) {
    httplib::Headers headers;
    if (with_token) headers.emplace("Authorization", std::string("Bearer ") + kToken);
    return ToReply(served_.client().Post(target, headers, body, "application/json"));
  }

  std::string OpenCart(const json& body) {
    Reply reply = Post("/carts", body.dump());
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json().value("cart_id", "");
  }

  testing::ServedApi served_{WithPersonalData};
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
  Reply empty = ToReply(served_.client().Post(
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
