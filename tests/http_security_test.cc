// The security basics of `evs serve`, through a real server on loopback: the bearer token that
// writes need (and reads do not), the limits on what a client may send (each refusal with its
// status and problem document), stream ids that try to leave a folder, and `evs serve
// --token-file` as a process.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "evs_child.h"
#include "http/auth.h"
#include "http_client.h"
#include "raw_connection.h"
#include "temp_dir.h"

namespace evs::http {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BodyOf;
using testing::NewClient;
using testing::RawConnection;
using testing::Reply;
using testing::StatusLine;
using testing::ToReply;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr const char* kProblem = "application/problem+json";
constexpr const char* kToken = "s3cr3t-t0ken-0123456789abcdef";

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
  EXPECT_FALSE(body.value("detail", "").empty()) << reply.body;
  return body;
}

// Every path under `root`, relative to it, folders included.
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    paths.insert(fs::relative(entry.path(), root).string());
  }
  return paths;
}

// A server on an ephemeral loopback port in front of an embedded store in dir_/data.
class SecurityTest : public ::testing::Test {
 protected:
  void Start(ApiOptions api_options = {}, ServerOptions server_options = {}) {
    fs::create_directories(dir_.File("data"));
    SqliteStoreOptions store_options;
    store_options.path = dir_.File("data/events.sqlite");
    store_options.durable = false;
    auto store = OpenSqliteEventStore(store_options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    api_ = std::make_unique<testing::CartApi>(*store_, api_options);
    server_options.host = "127.0.0.1";
    server_options.port = 0;
    server_options.access_log = false;
    if (server_options.io_threads == 0) server_options.io_threads = 2;
    server_ = std::make_unique<Server>(*api_, server_options);
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    server_thread_ = std::thread([this] { server_->Run(); });
    client_ = NewClient(port_);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (ToReply(client_->Get("/healthz")).status != 200) {
      ASSERT_LT(Clock::now(), deadline) << "the server never answered /healthz";
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

  Reply Get(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Get(target, headers));
  }
  Reply Post(const std::string& target, const std::string& body,
             const httplib::Headers& headers = {}) {
    return ToReply(client_->Post(target, headers, body, kJson));
  }
  Reply PostEmpty(const std::string& target, const httplib::Headers& headers = {}) {
    return ToReply(client_->Post(target, headers));
  }
  static json Events(int n) {
    json events = json::array();
    for (int i = 1; i <= n; ++i) events.push_back({{"type", "Counted"}, {"data", {{"n", i}}}});
    return events;
  }
  int64_t Head() { return *store_->HeadPosition(); }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<testing::CartApi> api_;
  std::unique_ptr<Server> server_;
  std::thread server_thread_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

// --- The bearer token --------------------------------------------------------------------------

class TokenTest : public SecurityTest {
 protected:
  void SetUp() override {
    ApiOptions options;
    options.bearer_token = kToken;
    Start(options);
  }
  static httplib::Headers Auth(const std::string& value) { return {{"Authorization", value}}; }
  static httplib::Headers Bearer() { return Auth(std::string("Bearer ") + kToken); }
};

TEST_F(TokenTest, EveryWriteWithoutTheTokenIs401AndWritesNothing) {
  Reply opened = PostEmpty("/carts", Bearer());
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string id = opened.Json().value("cart_id", "");
  const int64_t head = Head();

  const std::string item = json({{"name", "apple"}, {"quantity", 1}}).dump();
  std::vector<Reply> refused = {
      PostEmpty("/carts"),
      Post("/carts/" + id + "/items", item),
      ToReply(client_->Delete("/carts/" + id + "/items/apple")),
      PostEmpty("/carts/" + id + "/checkout"),
      Post("/streams/orders-1", Events(1).dump()),
      // Methods and routes that do not exist are refused before anything else is said.
      ToReply(client_->Put("/streams/orders-1", Events(1).dump(), kJson)),
      ToReply(client_->Patch("/carts/" + id, "{}", kJson)),
      ToReply(client_->Options("/carts")),
      Post("/no/such/route", "{}"),
  };
  for (const Reply& reply : refused) {
    json problem = ExpectProblem(reply, 401, "unauthorized");
    EXPECT_NE(problem.value("detail", "").find("Authorization: Bearer"), std::string::npos)
        << reply.body;
    EXPECT_EQ(reply.Header("WWW-Authenticate"), R"(Bearer realm="evs")");
  }
  EXPECT_EQ(Head(), head);
  Reply cart = Get("/carts/" + id);
  EXPECT_EQ(cart.status, 200);
  EXPECT_EQ(cart.Json().value("version", 0), 1);
  ExpectProblem(Get("/streams/orders-1"), 404, "not_found");
}

TEST_F(TokenTest, WrongTokenOrSchemeIs401) {
  const std::string token = kToken;
  struct Case {
    std::string authorization;
    bool invalid_token;  // a Bearer credential that is not the token
  };
  const std::vector<Case> cases = {
      {"Bearer wrong", true},
      {"Bearer " + token.substr(0, token.size() - 1), true},  // a prefix
      {"Bearer " + token + "x", true},                        // longer
      {"Bearer " + std::string(token.size(), 'a'), true},     // same length
      {"Bearer", true},
      {"Bearer ", true},
      {"Basic dXNlcjpwYXNzd29yZA==", false},
      {"Token " + token, false},
      {token, false},  // no scheme
      {"", false},
  };
  for (const Case& c : cases) {
    Reply reply = PostEmpty("/carts", Auth(c.authorization));
    ExpectProblem(reply, 401, "unauthorized");
    EXPECT_EQ(reply.Header("WWW-Authenticate").rfind("Bearer", 0), 0u) << c.authorization;
    EXPECT_EQ(reply.Header("WWW-Authenticate").find("invalid_token") != std::string::npos,
              c.invalid_token)
        << c.authorization << ": " << reply.Header("WWW-Authenticate");
  }
  Reply basic = PostEmpty("/carts", Auth("Basic dXNlcjpwYXNz"));
  EXPECT_NE(basic.Json().value("detail", "").find("'Basic' scheme"), std::string::npos)
      << basic.body;
  // A token sent without the scheme is not echoed back.
  Reply bare = PostEmpty("/carts", Auth(token));
  EXPECT_EQ(bare.body.find(token.substr(0, 8)), std::string::npos) << bare.body;
  EXPECT_EQ(Head(), 0);
}

TEST_F(TokenTest, TheRightTokenWrites) {
  Reply opened = PostEmpty("/carts", Bearer());
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string id = opened.Json().value("cart_id", "");
  EXPECT_EQ(Post("/carts/" + id + "/items", R"({"name": "apple", "quantity": 2})", Bearer()).status,
            200);
  EXPECT_EQ(ToReply(client_->Delete("/carts/" + id + "/items/apple", Bearer())).status, 200);
  EXPECT_EQ(Post("/streams/orders-1", Events(2).dump(), Bearer()).status, 201);
  // The scheme is case-insensitive (RFC 9110 11.1), and spaces around the token do not count.
  EXPECT_EQ(PostEmpty("/carts", Auth(std::string("bearer ") + kToken)).status, 201);
  EXPECT_EQ(PostEmpty("/carts", Auth(std::string("BEARER   ") + kToken + " ")).status, 201);
  // With the token, the other errors are what they always were.
  ExpectProblem(ToReply(client_->Put("/streams/orders-1", Bearer(), "[]", kJson)), 405,
                "method_not_allowed");
  ExpectProblem(Post("/no/such/route", "{}", Bearer()), 404, "no_route");
  EXPECT_EQ(Head(), 7);  // open, add, remove, two events, two more opens
}

TEST_F(TokenTest, ReadsNeedNoToken) {
  ASSERT_EQ(Post("/streams/orders-1", Events(3).dump(), Bearer()).status, 201);
  for (const std::string target : {"/healthz", "/metrics", "/streams", "/streams/orders-1",
                                   "/log?from=0", "/streams/orders-1?direction=backward"}) {
    EXPECT_EQ(Get(target).status, 200) << target;
  }
  Reply head = ToReply(client_->Head("/streams/orders-1"));
  EXPECT_EQ(head.status, 200);
  // A wrong token on a read changes nothing: reads are open.
  EXPECT_EQ(Get("/streams/orders-1", {{"Authorization", "Bearer wrong"}}).status, 200);
  EXPECT_EQ(Get("/streams/orders-1").Json()["events"].size(), 3u);
}

// The token's own checks, without a server.
TEST(BearerAuth, ComparesTheWholeToken) {
  BearerAuth auth(kToken);
  Request request;
  request.method = "POST";
  request.headers = {{"authorization", std::string("Bearer ") + kToken}};  // any case of name
  EXPECT_FALSE(auth.Check(request).has_value());
  request.headers = {{"Authorization", std::string("Bearer ") + kToken + std::string("\0x", 2)}};
  ASSERT_TRUE(auth.Check(request).has_value());
  EXPECT_EQ(auth.Check(request)->status, 401);
  request.method = "HEAD";
  request.headers.clear();
  EXPECT_FALSE(auth.Check(request).has_value());
  request.method = "DELETE";
  ASSERT_TRUE(auth.Check(request).has_value());
  EXPECT_EQ(auth.Check(request)->status, 401);
}

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_.File(name);
    std::ofstream(path, std::ios::binary) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(TokenFileTest, ReadsTheTokenWithoutTrailingWhitespace) {
  std::string warning;
  auto token = ReadTokenFile(Write("t1", std::string(kToken) + "\n"), &warning);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, kToken);
  EXPECT_EQ(warning, "");
  token = ReadTokenFile(Write("t2", std::string(kToken) + " \t\r\n\n"));
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, kToken);
  token = ReadTokenFile(Write("t3", std::string(16, 'k')));  // exactly the minimum
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, std::string(16, 'k'));
}

TEST_F(TokenFileTest, RefusesEmptyShortOddAndUnreadableFiles) {
  struct Case {
    std::string path;
    ErrorCode code;
    std::string says;
  };
  fs::create_directories(dir_.File("folder"));
  const std::vector<Case> cases = {
      {Write("empty", ""), ErrorCode::kInvalidArgument, "is empty"},
      {Write("blank", " \n\n"), ErrorCode::kInvalidArgument, "is empty"},
      {Write("short", std::string(15, 'k') + "\n"), ErrorCode::kInvalidArgument,
       "is 15 bytes; at least 16"},
      {Write("spaced", "two words-0123456789\n"), ErrorCode::kInvalidArgument, "a space"},
      {Write("binary", std::string("token\x01-0123456789abc")), ErrorCode::kInvalidArgument,
       "control character"},
      {Write("huge", std::string(5000, 'k')), ErrorCode::kInvalidArgument, "over 4096 bytes"},
      {dir_.File("missing"), ErrorCode::kNotFound, "cannot read the token file"},
      {dir_.File("folder"), ErrorCode::kInvalidArgument, "not a regular file"},
  };
  for (const Case& c : cases) {
    auto token = ReadTokenFile(c.path);
    ASSERT_FALSE(token.ok()) << c.path;
    EXPECT_EQ(token.error().code, c.code) << c.path << ": " << token.error().message;
    EXPECT_NE(token.error().message.find(c.says), std::string::npos) << token.error().message;
    EXPECT_NE(token.error().message.find(c.path), std::string::npos) << token.error().message;
  }
  // A file its owner cannot read (root reads everything, so only checked as another user).
  if (geteuid() != 0) {
    auto token = ReadTokenFile(Write("locked", std::string(kToken), 0000));
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.error().code, ErrorCode::kIOError);
    EXPECT_NE(token.error().message.find("Permission denied"), std::string::npos);
  }
}

TEST_F(TokenFileTest, WarnsWhenGroupOrOthersCanRead) {
  for (mode_t mode : {0640, 0604, 0644}) {
    std::string warning;
    auto token = ReadTokenFile(Write("t", kToken, mode), &warning);
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_NE(warning.find("is readable by"), std::string::npos) << mode;
    EXPECT_NE(warning.find("chmod 600"), std::string::npos) << warning;
  }
  std::string warning;
  ASSERT_TRUE(ReadTokenFile(Write("t", kToken, 0400), &warning).ok());
  EXPECT_EQ(warning, "");
}

// --- Limits ------------------------------------------------------------------------------------

TEST_F(SecurityTest, RequestLineOver8192BytesIs414) {
  Start();
  const std::string stream(9000, 's');
  json problem = ExpectProblem(Get("/streams/" + stream), 414, "uri_too_long");
  EXPECT_NE(problem.value("detail", "").find("8192"), std::string::npos) << problem;
  ExpectProblem(Post("/streams/" + stream, Events(1).dump()), 414, "uri_too_long");
  ExpectProblem(Get("/log?from=0&pad=" + std::string(9000, 'q')), 414, "uri_too_long");
  // Under the line limit, a long id reaches the store, whose own limit answers.
  json under = ExpectProblem(Post("/streams/" + std::string(8000, 's'), Events(1).dump()), 413,
                             "limit_exceeded");
  EXPECT_NE(under.value("detail", "").find("stream id is 8000 bytes; the limit is 256"),
            std::string::npos)
      << under;
  EXPECT_EQ(Head(), 0);
  EXPECT_EQ(Get("/healthz").status, 200);  // the server (and this client) go on
}

TEST_F(SecurityTest, HeaderLineOver8192BytesIs431AndClosesTheConnection) {
  Start();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.connected());
  ASSERT_TRUE(connection.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                              std::string(9000, 'b') + "\r\nX-After: 1\r\n\r\n"));
  const std::string response = connection.ReadResponse();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 431 Request Header Fields Too Large") << response;
  EXPECT_NE(response.find("Content-Type: application/problem+json"), std::string::npos);
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  json problem = BodyOf(response);
  EXPECT_EQ(problem.value("code", ""), "header_too_large") << response;
  EXPECT_EQ(problem.value("status", 0), 431) << response;
  EXPECT_NE(problem.value("detail", "").find("8192"), std::string::npos) << response;
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(SecurityTest, HeadersOverTheTotalLimitAre431) {
  ServerOptions options;
  options.max_header_bytes = 16 << 10;
  Start({}, options);
  httplib::Headers many;
  for (int i = 0; i < 5; ++i) many.emplace("X-Pad-" + std::to_string(i), std::string(4000, 'p'));
  json problem = ExpectProblem(Get("/healthz", many), 431, "header_too_large");
  EXPECT_NE(problem.value("detail", "").find("the limit is 16384"), std::string::npos) << problem;
  // Writes are refused before they reach the store.
  ExpectProblem(Post("/streams/s", Events(1).dump(), many), 431, "header_too_large");
  EXPECT_EQ(Head(), 0);
  // Many small lines count as much as a few large ones.
  httplib::Headers small;
  for (int i = 0; i < 2000; ++i) small.emplace("X-" + std::to_string(i), "v");
  ExpectProblem(Get("/healthz", small), 431, "header_too_large");
  // Under the limit is fine.
  many.erase("X-Pad-0");
  many.erase("X-Pad-1");
  EXPECT_EQ(Get("/healthz", many).status, 200);
}

TEST_F(SecurityTest, BodyOverTheLimitIs413WithContentLength) {
  ServerOptions server_options;
  server_options.max_body_bytes = 1000;
  ApiOptions api_options;
  api_options.max_body_bytes = 1000;
  Start(api_options, server_options);
  const std::string big = json::array({{{"type", "T"}, {"data", std::string(1200, 'x')}}}).dump();
  json problem = ExpectProblem(Post("/streams/s", big), 413, "body_too_large");
  EXPECT_NE(problem.value("detail", "").find("the limit of 1000 bytes"), std::string::npos)
      << problem;
  EXPECT_EQ(Head(), 0);
  // The body was skipped: the same connection serves the next request.
  const std::string small = json::array({{{"type", "T"}, {"data", 1}}}).dump();
  EXPECT_EQ(Post("/streams/s", small).status, 201);
}

// A chunked body has no length up front; it is cut off at the limit (httplib 0.11 alone would
// read it whole), the reply says so, and the connection closes (the rest was not read).
TEST_F(SecurityTest, ChunkedBodyOverTheLimitIs413) {
  ServerOptions server_options;
  server_options.max_body_bytes = 1000;
  Start({}, server_options);
  const std::string under = json::array({{{"type", "T"}, {"data", std::string(500, 'x')}}}).dump();
  {
    RawConnection connection(port_);
    std::string request =
        "POST /streams/chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (size_t at = 0; at < under.size(); at += 100) {
      const std::string part = under.substr(at, 100);
      char size[16];
      std::snprintf(size, sizeof size, "%zx", part.size());
      request += std::string(size) + "\r\n" + part + "\r\n";
    }
    request += "0\r\n\r\n";
    ASSERT_TRUE(connection.Send(request));
    const std::string response = connection.ReadResponse();
    EXPECT_EQ(StatusLine(response), "HTTP/1.1 201 Created") << response;
  }
  RawConnection connection(port_);
  // 64 chunks of 1000 bytes, announced one after another: far over the limit.
  ASSERT_TRUE(connection.Send(
      "POST /streams/chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "3e8\r\n" + std::string(1000, ' ') + "\r\n";
  for (int i = 0; i < 64 && connection.Send(chunk); ++i) {
  }
  const std::string response = connection.ReadResponse();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 413 Payload Too Large") << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  json problem = BodyOf(response);
  EXPECT_EQ(problem.value("code", ""), "body_too_large") << response;
  EXPECT_NE(problem.value("detail", "").find("1000 bytes"), std::string::npos) << response;
  EXPECT_EQ(Head(), 1);
}

// A small compressed body that inflates past the limit is cut off as it inflates.
TEST_F(SecurityTest, CompressedBodyIsLimitedOnceDecompressed) {
  ServerOptions server_options;
  server_options.max_body_bytes = 100000;
  Start({}, server_options);
  client_->set_compress(true);  // gzip, Content-Encoding: gzip
  const std::string bomb =
      json::array({{{"type", "T"}, {"data", std::string(4 << 20, 'z')}}}).dump();
  json problem = ExpectProblem(Post("/streams/gz", bomb), 413, "body_too_large");
  EXPECT_NE(problem.value("detail", "").find("once decompressed"), std::string::npos) << problem;
  // A compressed body under the limit is taken.
  client_ = NewClient(port_);
  client_->set_compress(true);
  EXPECT_EQ(Post("/streams/gz", Events(3).dump()).status, 201);
  EXPECT_EQ(Head(), 3);
  // An encoding the server cannot undo is a 415, not a body read as garbage.
  RawConnection connection(port_);
  ASSERT_TRUE(
      connection.Send("POST /streams/gz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Encoding: compress\r\nContent-Length: 4\r\n\r\nxxxx"));
  const std::string response = connection.ReadResponse();
  EXPECT_EQ(StatusLine(response).substr(0, 12), "HTTP/1.1 415") << response;
  EXPECT_EQ(BodyOf(response).value("code", ""), "unsupported_content_encoding") << response;
  EXPECT_EQ(Head(), 3);
}

// The store's events-per-append limit (Limits::max_events_per_append, 1000 by default) is the one
// the API answers with; it is a limit, so 413 like the store's other limits.
TEST_F(SecurityTest, TooManyEventsInOneAppendIs413) {
  Start();
  json problem = ExpectProblem(Post("/streams/many", Events(1001).dump()), 413, "limit_exceeded");
  EXPECT_NE(problem.value("detail", "").find("1001 events; the limit is 1000 per append"),
            std::string::npos)
      << problem;
  EXPECT_EQ(Head(), 0);
  EXPECT_EQ(Post("/streams/many", Events(1000).dump()).status, 201);
  EXPECT_EQ(Head(), 1000);
}

// A body nested too deeply would overflow a worker's stack while it is parsed and written: it is
// refused before parsing, and the server goes on.
TEST_F(SecurityTest, DeeplyNestedJsonIs400AndTheServerGoesOn) {
  Start();
  const size_t depth = 200000;
  const std::string deep =
      R"([{"type":"T","data":)" + std::string(depth, '[') + std::string(depth, ']') + "}]";
  json problem = ExpectProblem(Post("/streams/deep", deep), 400, "json_too_deep");
  EXPECT_NE(problem.value("detail", "").find("1024 levels"), std::string::npos) << problem;
  Reply opened = PostEmpty("/carts");
  ASSERT_EQ(opened.status, 201);
  const std::string id = opened.Json().value("cart_id", "");
  ExpectProblem(Post("/carts/" + id + "/items", std::string(depth, '{')), 400, "json_too_deep");
  EXPECT_EQ(Head(), 1);
  // Brackets inside strings do not count; nesting within the limit is stored and read back.
  const json in_string = json::array({{{"type", "T"}, {"data", std::string(depth, '[')}}});
  EXPECT_EQ(Post("/streams/deep", in_string.dump()).status, 201);
  const std::string nested =
      R"([{"type":"T","data":)" + std::string(1000, '[') + std::string(1000, ']') + "}]";
  EXPECT_EQ(Post("/streams/deep", nested).status, 201);
  Reply read = Get("/streams/deep");
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.Json()["events"].size(), 2u);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(SecurityTest, ConnectionsPastTheLimitGet503) {
  ServerOptions options;
  options.blocking_threads = 4;
  options.max_connections = 2;
  options.keep_alive_seconds = 60;  // idle connections stay open for the whole test
  Start({}, options);
  client_.reset();  // the fixture's own connection would take a place
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  // Wait until the fixture's connection has left its place.
  std::vector<std::unique_ptr<RawConnection>> held;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (held.size() < 2) {
    ASSERT_LT(Clock::now(), deadline) << "the server never freed its places";
    auto connection = std::make_unique<RawConnection>(port_);
    ASSERT_TRUE(connection->Send(get));
    if (StatusLine(connection->ReadResponse()) == "HTTP/1.1 200 OK") {
      held.push_back(std::move(connection));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Both held connections are open (keep-alive) and idle: a third is refused, with a problem.
  RawConnection third(port_);
  ASSERT_TRUE(third.Send(get));
  const std::string refused = third.ReadResponse();
  EXPECT_EQ(StatusLine(refused), "HTTP/1.1 503 Service Unavailable") << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Connection: close"), std::string::npos) << refused;
  json problem = BodyOf(refused);
  EXPECT_EQ(problem.value("code", ""), "too_many_connections") << refused;
  EXPECT_NE(problem.value("detail", "").find("limit of 2 connections"), std::string::npos)
      << refused;
  // Writes are refused as well, and write nothing.
  RawConnection fourth(port_);
  ASSERT_TRUE(fourth.Send(
      "POST /carts HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(StatusLine(fourth.ReadResponse()), "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(Head(), 0);
  // The held connections still work.
  for (auto& connection : held) {
    ASSERT_TRUE(connection->Send(get));
    EXPECT_EQ(StatusLine(connection->ReadResponse()), "HTTP/1.1 200 OK");
  }
  // Once one closes, a new connection gets its place.
  held.front()->Close();
  const auto freed = Clock::now() + std::chrono::seconds(20);
  for (;;) {
    RawConnection next(port_);
    ASSERT_TRUE(next.Send(get));
    const std::string status = StatusLine(next.ReadResponse());
    if (status == "HTTP/1.1 200 OK") break;
    EXPECT_EQ(status, "HTTP/1.1 503 Service Unavailable");
    ASSERT_LT(Clock::now(), freed) << "the closed connection's place never came free";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// --- Ids that try to leave a folder ------------------------------------------------------------

TEST_F(SecurityTest, TraversalStreamIdsAreRefusedAndWriteNothing) {
  Start();
  const std::set<std::string> files_before = Tree(dir_.path());
  struct Case {
    std::string target_id;  // as sent, percent-encoded
    std::string code;
  };
  const std::vector<Case> cases = {
      {"..%2Fx", "invalid_stream_id"},
      {"..%2fx", "invalid_stream_id"},
      {"%2e%2e%2Fx", "invalid_stream_id"},
      {"%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "invalid_stream_id"},
      {"a%2F..%2F..%2Fx", "invalid_stream_id"},
      {"a%2F.%2Fb", "invalid_stream_id"},
      {"x%2F..", "invalid_stream_id"},
      {"%2Fetc%2Fpasswd", "invalid_stream_id"},
      {"%5Cetc%5Cpasswd", "invalid_stream_id"},
      {"..%5Cx", "invalid_stream_id"},
      {"a%5C..%5C..%5Cx", "invalid_stream_id"},
      {"a%00b", "invalid_stream_id"},
      {"%00", "invalid_stream_id"},
      {"new%0Aline", "invalid_stream_id"},
      {"..", "malformed_target"},
      {".", "malformed_target"},
      {"%2e%2e", "malformed_target"},
      {"%2E", "malformed_target"},
      {"%2e.", "malformed_target"},
      {"%zz", "malformed_target"},
      {"%2", "malformed_target"},
  };
  for (const Case& c : cases) {
    const std::string target = "/streams/" + c.target_id;
    json read = ExpectProblem(Get(target), 400, c.code);
    json write = ExpectProblem(Post(target, Events(1).dump()), 400, c.code);
    if (c.code == "invalid_stream_id") {
      EXPECT_NE(write.value("detail", "").find("may not look like a path"), std::string::npos)
          << write;
    }
  }
  // Raw dot segments that a client would have removed are refused the same way, and a path
  // that climbs out of /streams does not reach another route.
  for (const std::string target : {"/streams/../x", "/streams/a/../../carts", "/streams/./x",
                                   "/carts/../streams/x", "/streams/%2e%2e/carts"}) {
    RawConnection connection(port_);
    ASSERT_TRUE(connection.Send("POST " + target +
                                " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                "Content-Length: 2\r\nConnection: close\r\n\r\n[]"));
    const std::string response = connection.ReadResponse();
    EXPECT_EQ(StatusLine(response), "HTTP/1.1 400 Bad Request") << target << "\n" << response;
    EXPECT_EQ(BodyOf(response).value("code", ""), "malformed_target") << response;
  }
  // Cart ids are UUIDs: anything else is an unknown cart.
  ExpectProblem(PostEmpty("/carts/..%2F..%2Fx/checkout"), 404, "not_found");
  EXPECT_EQ(Head(), 0);
  EXPECT_EQ(Get("/streams").Json()["streams"], json::array());
  // No file appeared anywhere: not in the data folder, not beside it.
  EXPECT_EQ(Tree(dir_.path()), files_before);
  EXPECT_EQ(Tree(dir_.path()).count("x"), 0u);
  EXPECT_EQ(Tree(dir_.path()).count("data/x"), 0u);
  EXPECT_FALSE(fs::exists(dir_.File("../x")));
}

TEST_F(SecurityTest, IdsWithDotsOrSlashesThatStayInsideAreFine) {
  Start();
  // Dots within a part, and '/' or '\' between ordinary parts, are ordinary ids.
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"a..b", "a..b"},     {"..a", "..a"},     {"a.", "a."},
      {"...", "..."},       {"a%2Fb", "a/b"},   {"tenant%2Forders-1", "tenant/orders-1"},
      {"a%5Cb", "a\\b"},    {"%2e%2e.", "..."}, {"caf%C3%A9", "café"},
      {"a%2F%2Fb", "a//b"},
  };
  for (const auto& [encoded, id] : ids) {
    Reply appended = Post("/streams/" + encoded, Events(1).dump());
    EXPECT_EQ(appended.status, 201) << encoded << ": " << appended.body;
    Reply read = Get("/streams/" + encoded);
    EXPECT_EQ(read.status, 200) << encoded;
    EXPECT_EQ(read.Json().value("stream_id", ""), id);
  }
  EXPECT_EQ(Head(), static_cast<int64_t>(ids.size()));
}

// --- Defaults ---------------------------------------------------------------------------------

TEST(ServeDefaults, ListensOnLoopbackWithLimitsAndNoToken) {
  EXPECT_EQ(ServerOptions().host, "127.0.0.1");
  EXPECT_EQ(ServerOptions().max_body_bytes, size_t{1} << 20);
  EXPECT_EQ(ServerOptions().max_header_bytes, size_t{32} << 10);
  EXPECT_EQ(ServerOptions().max_connections, 16384);
  EXPECT_EQ(ApiOptions().bearer_token, "");
  testing::Child help({"serve", "--help"});
  ASSERT_TRUE(help.WaitForExit().has_value());
  const std::string text = help.Stdout() + help.Stderr();
  EXPECT_NE(text.find("--listen TEXT=127.0.0.1:8080"), std::string::npos) << text;
  EXPECT_NE(text.find("--token-file"), std::string::npos) << text;
  EXPECT_NE(text.find("--max-connections INT=16384"), std::string::npos) << text;
}

// --- `evs serve --token-file` --------------------------------------------------------------------

std::string WriteToken(const testing::TempDir& dir, const std::string& name,
                       const std::string& text, mode_t mode) {
  const std::string path = dir.File(name);
  std::ofstream(path, std::ios::binary) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(ServeTokenFile, WritesNeedTheTokenAndReadsDoNot) {
  testing::TempDir dir;
  const std::string token_file = WriteToken(dir, "token", std::string(kToken) + "\n", 0600);
  fs::create_directories(dir.File("data"));
  testing::Child server({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                         "--token-file", token_file});
  const int port = server.WaitForPort(dir.File("data"));
  ASSERT_GT(port, 0) << server.Stderr();
  // Printed right after the line with the port, which can arrive first on its own.
  EXPECT_TRUE(server.WaitForStderr("writes need the bearer token")) << server.Stderr();
  EXPECT_EQ(server.Stderr().find("warning"), std::string::npos) << server.Stderr();
  auto client = NewClient(port);
  Reply refused = ToReply(client->Post("/carts"));
  ExpectProblem(refused, 401, "unauthorized");
  EXPECT_EQ(refused.Header("WWW-Authenticate"), R"(Bearer realm="evs")");
  ExpectProblem(ToReply(client->Post("/carts", httplib::Headers{{"Authorization", "Bearer nope"}},
                                     "", kJson)),
                401, "unauthorized");
  Reply opened = ToReply(
      client->Post("/carts", httplib::Headers{{"Authorization", std::string("Bearer ") + kToken}}));
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string id = opened.Json().value("cart_id", "");
  EXPECT_EQ(ToReply(client->Get("/carts/" + id)).status, 200);
  EXPECT_EQ(ToReply(client->Get("/healthz")).status, 200);
  client.reset();
  server.Terminate();
}

TEST(ServeTokenFile, BadTokenFilesStopTheStart) {
  testing::TempDir dir;
  fs::create_directories(dir.File("data"));
  struct Case {
    std::string path;
    std::string says;
  };
  const std::vector<Case> cases = {
      {WriteToken(dir, "empty", "", 0600), "is empty"},
      {WriteToken(dir, "short", "0123456789\n", 0600), "is 10 bytes; at least 16"},
      {dir.File("missing"), "cannot read the token file"},
      {dir.File("data"), "not a regular file"},
  };
  for (const Case& c : cases) {
    testing::Child child({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                          "--token-file", c.path});
    auto status = child.WaitForExit();
    ASSERT_TRUE(status.has_value()) << child.Stderr();
    ASSERT_TRUE(WIFEXITED(*status)) << child.Stderr();
    EXPECT_NE(WEXITSTATUS(*status), 0) << c.path;
    EXPECT_NE(child.Stderr().find(c.says), std::string::npos) << child.Stderr();
    EXPECT_NE(child.Stderr().find(c.path), std::string::npos) << child.Stderr();
    EXPECT_EQ(child.Stderr().find("evs: serving"), std::string::npos) << child.Stderr();
  }
}

TEST(ServeTokenFile, WarnsWhenTheFileIsReadableByOthers) {
  testing::TempDir dir;
  const std::string token_file = WriteToken(dir, "token", kToken, 0644);
  fs::create_directories(dir.File("data"));
  testing::Child server({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                         "--token-file", token_file});
  ASSERT_GT(server.WaitForPort(dir.File("data")), 0) << server.Stderr();
  EXPECT_NE(server.Stderr().find("evs: warning: the token file " + token_file +
                                 " is readable by others (mode 0644); chmod 600"),
            std::string::npos)
      << server.Stderr();
  server.Terminate();
}

TEST(ServeLimits, MaxBodyBytesAndMaxConnectionsAreFlags) {
  testing::TempDir dir;
  fs::create_directories(dir.File("data"));
  testing::Child server({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                         "--max-body-bytes", "100", "--max-connections", "8"});
  const int port = server.WaitForPort(dir.File("data"));
  ASSERT_GT(port, 0) << server.Stderr();
  auto client = NewClient(port);
  const std::string big = json::array({{{"type", "T"}, {"data", std::string(200, 'x')}}}).dump();
  json problem =
      ExpectProblem(ToReply(client->Post("/streams/s", big, kJson)), 413, "body_too_large");
  EXPECT_NE(problem.value("detail", "").find("100 bytes"), std::string::npos) << problem;
  EXPECT_EQ(ToReply(client->Post("/streams/s", R"([{"type":"T","data":1}])", kJson)).status, 201);
  client.reset();
  server.Terminate();
  for (const std::string bad : {"--max-connections=0", "--max-body-bytes=0"}) {
    testing::Child child({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", bad});
    auto status = child.WaitForExit();
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(WEXITSTATUS(*status), 0) << bad;
    EXPECT_NE(child.Stderr().find(bad.substr(0, bad.find('='))), std::string::npos)
        << child.Stderr();
  }
}

}  // namespace
}  // namespace evs::http
