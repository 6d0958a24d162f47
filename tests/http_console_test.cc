// The web console as `evs serve` serves it (AddServeRoutes, src/cli/console_routes.h), through
// the real server on a loopback port: the app at "/" and at every console address (deep links),
// its files with their Content-Type, ETag (304 on If-None-Match) and Content-Security-Policy;
// the JSON API keeps its 404 problems. A build without the console (EVS_BUILD_CONSOLE=OFF)
// answers its routes 404 console_not_built. The pages themselves are tested in a browser
// (tests/console/console_test.mjs, the console_browser test). Also the read side's checkpoint
// stores and their parked events (GET /checkpoints..., serve_routes.h), which the console lists.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cart/cart_http.h"
#include "cli/console_routes.h"
#include "cli/serve_routes.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "evs/subscription.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs::cli {
namespace {

using testing::Reply;
using testing::ToReply;

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Status added = AddServeRoutes(api_, cart_);
    ASSERT_TRUE(added.ok()) << added.error().message;
    http::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.access_log = false;
    server_ = std::make_unique<http::Server>(api_, options);
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
  }

  Reply Get(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Get(target, headers));
  }

  static bool Built() { return !ConsoleAssets().empty(); }

  std::unique_ptr<EventStore> store_ = NewMemoryEventStore();
  http::Api api_{*store_};
  cart::CartHttp cart_{*store_};
  std::unique_ptr<http::Server> server_;
  std::thread server_thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ConsoleTest, EveryConsoleAddressAnswersTheApp) {
  if (!Built()) GTEST_SKIP() << "built without the console (EVS_BUILD_CONSOLE=OFF)";
  const Reply root = Get("/");
  ASSERT_EQ(root.status, 200) << root.body;
  EXPECT_EQ(root.ContentType(), "text/html; charset=utf-8");
  EXPECT_NE(root.body.find("<!doctype html>"), std::string::npos);
  EXPECT_NE(root.body.find("/ui/assets/app.js"), std::string::npos);
  EXPECT_EQ(root.Header("Content-Security-Policy"), kConsoleContentSecurityPolicy);
  EXPECT_EQ(root.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(root.Header("Cache-Control"), "no-cache");
  EXPECT_FALSE(root.Header("ETag").empty());
  for (const std::string target :
       {"/ui", "/ui/", "/ui/streams", "/ui/streams/cart-1", "/ui/streams/a%2Fb", "/ui/log?at=3",
        "/ui/live", "/ui/subscriptions", "/ui/carts/00000000-0000-4000-8000-000000000000",
        "/ui/no-such-page"}) {
    const Reply page = Get(target);
    EXPECT_EQ(page.status, 200) << target;
    EXPECT_EQ(page.body, root.body) << target;
  }
}

TEST_F(ConsoleTest, AssetsHaveTheirTypesAndRevalidate) {
  if (!Built()) GTEST_SKIP() << "built without the console (EVS_BUILD_CONSOLE=OFF)";
  const struct {
    const char* name;
    const char* type;
  } kAssets[] = {{"app.js", "text/javascript; charset=utf-8"},
                 {"pages.js", "text/javascript; charset=utf-8"},
                 {"style.css", "text/css; charset=utf-8"},
                 {"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
                 {"uPlot.min.css", "text/css; charset=utf-8"},
                 {"icon.svg", "image/svg+xml"}};
  for (const auto& asset : kAssets) {
    const Reply reply = Get(std::string("/ui/assets/") + asset.name);
    ASSERT_EQ(reply.status, 200) << asset.name;
    EXPECT_EQ(reply.ContentType(), asset.type) << asset.name;
    EXPECT_FALSE(reply.body.empty()) << asset.name;
    const std::string etag = reply.Header("ETag");
    ASSERT_EQ(etag.size(), 18u) << asset.name;  // 16 hex digits in quotes
    // Connection: close, since this client reads a 304 without Content-Length until the end of
    // the connection (a browser does not: a 304 has no body).
    const Reply again = Get(std::string("/ui/assets/") + asset.name,
                            {{"If-None-Match", etag}, {"Connection", "close"}});
    EXPECT_EQ(again.status, 304) << asset.name;
    EXPECT_EQ(again.body, "") << asset.name;
    const Reply stale =
        Get(std::string("/ui/assets/") + asset.name, {{"If-None-Match", "\"0000000000000000\""}});
    EXPECT_EQ(stale.status, 200) << asset.name;
  }
  const Reply missing = Get("/ui/assets/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json().value("code", ""), "not_found");
  // The page is served at its addresses, not as an asset.
  EXPECT_EQ(Get("/ui/assets/index.html").status, 404);
}

TEST_F(ConsoleTest, TheApiKeepsItsProblems) {
  for (const std::string target : {"/nope", "/ui/a/b/c", "/streams/a/b"}) {
    const Reply reply = Get(target);
    EXPECT_EQ(reply.status, 404) << target;
    EXPECT_EQ(reply.ContentType(), "application/problem+json") << target;
    EXPECT_EQ(reply.Json().value("code", ""), "no_route") << target;
  }
  const Reply post = ToReply(client_->Post("/", "", "application/json"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("Allow"), "GET");
  EXPECT_EQ(Get("/openapi.json").ContentType(), "application/json");
}

TEST_F(ConsoleTest, ABuildWithoutTheConsoleSaysHowToBuildIt) {
  if (Built()) GTEST_SKIP() << "built with the console";
  for (const std::string target : {"/", "/ui/streams", "/ui/assets/app.js"}) {
    const Reply reply = Get(target);
    EXPECT_EQ(reply.status, 404) << target;
    EXPECT_EQ(reply.Json().value("code", ""), "console_not_built") << target;
  }
}

// The read side's checkpoint stores through the Api as `evs serve` builds it, over two SQLite
// checkpoint files with parked events.
class CheckpointRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"cart_summary", "feed"}) {
      auto store = OpenSqliteCheckpointStore(dir_.File(std::string(name) + ".sqlite"));
      ASSERT_TRUE(store.ok()) << store.error().message;
      stores_[name] = std::move(store).value();
    }
    const Status added = AddServeRoutes(
        api_, cart_,
        {{"cart_summary", stores_["cart_summary"].get()}, {"feed", stores_["feed"].get()}});
    ASSERT_TRUE(added.ok()) << added.error().message;
  }

  void Park(const std::string& store, const std::string& subscription, int64_t position) {
    ParkedEvent parked;
    parked.subscription = subscription;
    parked.event.stream_id = "cart-" + std::to_string(position);
    parked.event.version = 1;
    parked.event.position = position;
    parked.event.type = "ItemAdded";
    parked.event.data = R"({"quantity": -5})";
    parked.event.metadata = "{}";
    parked.error = "quantity out of range";
    parked.attempts = 5;
    ASSERT_TRUE(stores_[store]->Park(parked).ok());
  }

  http::Response Send(const std::string& method, const std::string& target) {
    http::Request request;
    request.method = method;
    request.target = target;
    return api_.Handle(request);
  }
  nlohmann::json Json(const http::Response& response) {
    return nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  evs::testing::TempDir dir_;
  std::map<std::string, std::unique_ptr<CheckpointStore>> stores_;
  std::unique_ptr<EventStore> store_ = NewMemoryEventStore();
  http::Api api_{*store_};
  cart::CartHttp cart_{*store_};
};

TEST_F(CheckpointRoutesTest, ListsParkedEventsAndRequestsRetries) {
  Park("cart_summary", "projection:cart_summary", 7);
  Park("cart_summary", "projection:other", 9);
  Park("feed", "event-log", 3);

  const http::Response stores = Send("GET", "/checkpoints");
  ASSERT_EQ(stores.status, 200) << stores.body;
  EXPECT_EQ(Json(stores),
            nlohmann::json::parse(R"({"stores": [{"name": "cart_summary", "parked": 2},
                                                              {"name": "feed", "parked": 1}]})"));

  const http::Response all = Send("GET", "/checkpoints/cart_summary/parked");
  ASSERT_EQ(all.status, 200) << all.body;
  const nlohmann::json page = Json(all);
  ASSERT_EQ(page["parked"].size(), 2u);
  const nlohmann::json& first = page["parked"][0];
  EXPECT_EQ(first.value("subscription", ""), "projection:cart_summary");
  EXPECT_EQ(first.value("reason", ""), "quantity out of range");
  EXPECT_EQ(first.value("attempts", 0), 5);
  EXPECT_EQ(first["event"].value("position", 0), 7);
  EXPECT_EQ(first["event"]["data"], nlohmann::json::parse(R"({"quantity": -5})"));
  EXPECT_FALSE(first.value("retry_requested", true));
  EXPECT_TRUE(page["next_after"].is_null());

  // Paging and the subscription filter.
  const nlohmann::json one = Json(Send("GET", "/checkpoints/cart_summary/parked?limit=1"));
  ASSERT_EQ(one["parked"].size(), 1u);
  const int64_t next = one["next_after"].get<int64_t>();
  const nlohmann::json rest =
      Json(Send("GET", "/checkpoints/cart_summary/parked?limit=1&after=" + std::to_string(next)));
  ASSERT_EQ(rest["parked"].size(), 1u);
  EXPECT_EQ(rest["parked"][0]["event"].value("position", 0), 9);
  const nlohmann::json other =
      Json(Send("GET", "/checkpoints/cart_summary/parked?subscription=projection%3Aother"));
  ASSERT_EQ(other["parked"].size(), 1u);
  EXPECT_EQ(other["parked"][0]["event"].value("position", 0), 9);

  // A retry is requested in that store only.
  const int64_t id = first.value("id", int64_t{0});
  const http::Response retried =
      Send("POST", "/checkpoints/cart_summary/parked/" + std::to_string(id) + "/retry");
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(Json(retried), nlohmann::json::parse("{\"id\": " + std::to_string(id) +
                                                 R"(, "retry_requested": true})"));
  EXPECT_TRUE(Json(Send("GET", "/checkpoints/cart_summary/parked"))["parked"][0].value(
      "retry_requested", false));
  auto requested = stores_["cart_summary"]->RetryRequested("projection:cart_summary", 10);
  ASSERT_TRUE(requested.ok());
  EXPECT_EQ(requested->size(), 1u);
  EXPECT_FALSE(
      Json(Send("GET", "/checkpoints/feed/parked"))["parked"][0].value("retry_requested", true));

  // Unknown stores and ids, malformed ids.
  EXPECT_EQ(Send("GET", "/checkpoints/nope/parked").status, 404);
  EXPECT_EQ(Send("POST", "/checkpoints/nope/parked/1/retry").status, 404);
  EXPECT_EQ(Send("POST", "/checkpoints/feed/parked/999/retry").status, 404);
  for (const std::string bad : {"0", "-1", "x", "1x"}) {
    EXPECT_EQ(Send("POST", "/checkpoints/feed/parked/" + bad + "/retry").status, 400) << bad;
  }
}

TEST_F(ConsoleTest, WithoutCheckpointStoresNoneIsListed) {
  const Reply stores = Get("/checkpoints");
  ASSERT_EQ(stores.status, 200) << stores.body;
  EXPECT_EQ(stores.Json(), nlohmann::json::parse(R"({"stores": []})"));
  EXPECT_EQ(Get("/checkpoints/feed/parked").status, 404);
}

}  // namespace
}  // namespace evs::cli
