// The web console as `evs serve` serves it (AddServeRoutes, src/cli/console_routes.h), through
// the real server on a loopback port: the app at "/" and at every console address (deep links),
// its files with their Content-Type, ETag (304 on If-None-Match) and Content-Security-Policy;
// the JSON API keeps its 404 problems. A build without the console (EVS_BUILD_CONSOLE=OFF)
// answers its routes 404 console_not_built. The pages themselves are tested in a browser
// (tests/console/console_test.mjs, the console_browser test).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
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
#include "http_client.h"

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

}  // namespace
}  // namespace evs::cli
