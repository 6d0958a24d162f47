// Routes a domain adds to the Api (evs/http/routes.h): synchronous and asynchronous handlers, the
// refusals of Add and AddAsync, and HandleAsync's threading contract.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/responses.h"

namespace evs::http {
namespace {

Request Get(const std::string& target, const std::string& method = "GET") {
  Request r;
  r.method = method;
  r.target = target;
  return r;
}

class HttpRoutesTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventStore> store_ = NewMemoryEventStore();
  Api api_{*store_};
};

TEST_F(HttpRoutesTest, AddAndAddAsyncRefuseTheSameMethodOnOnePatternAndBadPatterns) {
  auto sync = [](const Request&, const Params&) { return Response{}; };
  auto async = [](const Request&, const Params&, Respond respond) { respond(Response{}); };
  EXPECT_TRUE(api_.routes().Add("GET", "/tickets/{id}", sync).ok());
  Status twice = api_.routes().AddAsync("GET", "/tickets/{other}", async);
  EXPECT_EQ(twice.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(api_.routes().AddAsync("POST", "/tickets/{id}", async).ok());
  EXPECT_EQ(api_.routes().AddAsync("POST", "/tickets/{id}", async).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(api_.routes().AddAsync("post", "/x", async).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(api_.routes().AddAsync("GET", "x", async).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(api_.routes().AddAsync("GET", "/x", nullptr).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(api_.routes().AddAsync("GET", "/streams/{id}", async).error().code,
            ErrorCode::kInvalidArgument)
      << "the Api's own routes are taken";
  // Both kinds are listed in Allow.
  Response r = api_.Handle(Get("/tickets/7", "PUT"));
  EXPECT_EQ(r.status, 405);
  ASSERT_TRUE(std::any_of(r.headers.begin(), r.headers.end(), [](const auto& h) {
    return h.first == "Allow" && h.second == "GET, POST";
  }));
}

TEST_F(HttpRoutesTest, AnAsyncHandlerRespondsFromAnotherThreadWithItsParams) {
  std::vector<std::thread> workers;
  ASSERT_TRUE(api_.routes()
                  .AddAsync("GET", "/later/{id}",
                            [&](const Request& request, const Params& params, Respond respond) {
                              // The request and params stay valid until respond.
                              workers.emplace_back([&request, &params, respond] {
                                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                Response r;
                                r.body = params.path.at("id") + " " + params.query.at("q") + " " +
                                         request.method;
                                respond(std::move(r));
                              });
                            })
                  .ok());
  std::promise<Response> answered;
  const auto caller = std::this_thread::get_id();
  std::thread::id responder;
  api_.HandleAsync(Get("/later/a%20b?q=x"), [&](Response r) {
    responder = std::this_thread::get_id();
    answered.set_value(std::move(r));
  });
  Response r = answered.get_future().get();
  for (auto& w : workers) w.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "a b x GET");
  EXPECT_EQ(r.route, "/later/{id}");
  EXPECT_NE(responder, caller);
}

TEST_F(HttpRoutesTest, SynchronousHandlersRunOnTheBlockingExecutorRefusalsOnTheCaller) {
  std::atomic<std::thread::id> handler_thread;
  ASSERT_TRUE(api_.routes()
                  .Add("GET", "/now",
                       [&](const Request&, const Params&) {
                         handler_thread = std::this_thread::get_id();
                         return Response{};
                       })
                  .ok());
  std::vector<std::thread> pool;
  Api::Executor blocking = [&](std::function<void()> task) { pool.emplace_back(std::move(task)); };
  std::promise<Response> answered;
  api_.HandleAsync(
      Get("/now"), [&](Response r) { answered.set_value(std::move(r)); }, blocking);
  EXPECT_EQ(answered.get_future().get().status, 200);
  ASSERT_EQ(pool.size(), 1u);
  EXPECT_EQ(handler_thread.load(), pool[0].get_id());
  pool[0].join();

  // A 404 needs no handler: answered before HandleAsync returns, the executor unused.
  bool answered_inline = false;
  api_.HandleAsync(
      Get("/nowhere"),
      [&](Response r) {
        EXPECT_EQ(r.status, 404);
        answered_inline = true;
      },
      blocking);
  EXPECT_TRUE(answered_inline);
  EXPECT_EQ(pool.size(), 1u);
}

TEST_F(HttpRoutesTest, ThrowingHandlersAre500AndASecondRespondIsIgnored) {
  ASSERT_TRUE(api_.routes()
                  .AddAsync("GET", "/throws",
                            [](const Request&, const Params&, Respond) -> void {
                              throw std::runtime_error("boom");
                            })
                  .ok());
  ASSERT_TRUE(api_.routes()
                  .AddAsync("GET", "/twice",
                            [](const Request&, const Params&, Respond respond) {
                              Response first;
                              first.status = 202;
                              respond(first);
                              respond(Problem(500, "late", "ignored"));
                              throw std::runtime_error("after responding");
                            })
                  .ok());
  Response thrown = api_.Handle(Get("/throws"));
  EXPECT_EQ(thrown.status, 500);
  EXPECT_NE(thrown.body.find("boom"), std::string::npos);
  int calls = 0;
  int status = 0;
  api_.HandleAsync(Get("/twice"), [&](Response r) {
    ++calls;
    status = r.status;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status, 202);
}

}  // namespace
}  // namespace evs::http
