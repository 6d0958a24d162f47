// The embedded server (evs/http/server.h) through real sockets on loopback: the limits it adds
// to the Api's (header lines, the head's timeout, unknown methods), a Server-Sent Events client
// that does not read, asynchronous routes answered from another thread, TLS, and ten thousand
// idle keep-alive connections to `evs serve`.
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/responses.h"
#include "evs/http/server.h"
#include "evs_child.h"
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

const std::string kGet = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

// A server on an ephemeral loopback port in front of an Api on a SQLite store in a temp dir.
class ServerTest : public ::testing::Test {
 protected:
  // `add_routes` adds routes before the server serves.
  void Start(ServerOptions options = {}, const std::function<void(Api&)>& add_routes = {}) {
    SqliteStoreOptions store_options;
    store_options.path = dir_.File("events.sqlite");
    store_options.durable = false;
    auto store = OpenSqliteEventStore(store_options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    api_ = std::make_unique<Api>(*store_);
    if (add_routes) add_routes(*api_);
    options.host = "127.0.0.1";
    options.port = 0;
    options.access_log = false;
    if (options.io_threads == 0) options.io_threads = 2;
    server_ = std::make_unique<Server>(*api_, options);
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    server_thread_ = std::thread([this] { server_->Run(); });
  }

  void TearDown() override {
    if (server_thread_.joinable()) {
      server_->Stop();
      server_thread_.join();
    }
    server_.reset();
    api_.reset();
    store_.reset();
  }

  // One request on a connection of its own.
  std::string Exchange(const std::string& request) {
    RawConnection connection(port_);
    EXPECT_TRUE(connection.connected());
    EXPECT_TRUE(connection.Send(request));
    return connection.ReadResponse();
  }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<Server> server_;
  std::thread server_thread_;
  int port_ = 0;
};

TEST_F(ServerTest, MoreHeaderLinesThanTheLimitAre431) {
  ServerOptions options;
  options.max_header_count = 10;
  Start(options);
  std::string ten = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 9; ++i) ten += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(StatusLine(Exchange(ten + "\r\n")), "HTTP/1.1 200 OK");
  const std::string response = Exchange(ten + "X-Eleventh: v\r\n\r\n");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 431 Request Header Fields Too Large") << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  const json problem = BodyOf(response);
  EXPECT_EQ(problem.value("code", ""), "header_too_large") << response;
  EXPECT_NE(problem.value("detail", "").find("the limit is 10"), std::string::npos) << response;
  EXPECT_EQ(ServerOptions().max_header_count, 100u);
}

// A client that sends its head a byte at a time, slower than the head's timeout, is answered 408
// and cut off; the server goes on.
TEST_F(ServerTest, SlowHeadIs408AndTheConnectionCloses) {
  ServerOptions options;
  options.header_timeout_seconds = 1;
  Start(options);
  RawConnection slow(port_);
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  bool answered = false;
  for (int i = 0; i < 100 && !answered; ++i) {  // at most 20 s of dripping
    if (!slow.Send("X")) break;
    pollfd p{.fd = slow.fd(), .events = POLLIN, .revents = 0};
    answered = poll(&p, 1, 200) > 0;
  }
  ASSERT_TRUE(answered) << "the server never answered the slow head";
  const std::string response = slow.ReadResponse();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 408 Request Timeout") << response;
  EXPECT_EQ(BodyOf(response).value("code", ""), "request_timeout") << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_TRUE(slow.ClosedByServer());
  EXPECT_EQ(StatusLine(Exchange(kGet)), "HTTP/1.1 200 OK");
  EXPECT_EQ(ServerOptions().header_timeout_seconds, 10);
}

TEST_F(ServerTest, UnknownMethodIs501AndAKnownOneWithoutARouteIs405) {
  Start();
  const std::string response = Exchange("BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 501 Not Implemented") << response;
  EXPECT_EQ(BodyOf(response).value("code", ""), "not_implemented") << response;
  const std::string put =
      Exchange("PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(StatusLine(put), "HTTP/1.1 405 Method Not Allowed") << put;
  // The refusal is counted like any other, under route "other".
  const std::string metrics = Exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(metrics.find(R"(route="other",method="other",status="501")"), std::string::npos)
      << metrics;
}

// A live-tail client that stops reading: once its unsent output passes max_stream_buffer_bytes
// the server cuts it off (rather than queue without bound), and serves on.
TEST_F(ServerTest, StreamClientThatDoesNotReadIsDisconnected) {
  ServerOptions options;
  options.max_stream_buffer_bytes = 64 << 10;
  Start(options);
  RawConnection reader(port_, /*receive_buffer=*/4096);
  ASSERT_TRUE(reader.Send("GET /log/live?from=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string data(2000, 'd');
  bool closed = false;
  int64_t appended = 0;
  for (int round = 0; round < 100 && !closed; ++round) {  // at most 20000 events of 2 KB
    std::vector<EventData> events(200);
    for (auto& e : events) {
      e.type = "Filled";
      e.data = json({{"pad", data}}).dump();
    }
    ASSERT_TRUE(store_->Append("fill", ExpectedVersion::Any(), std::move(events)).ok());
    appended += 200;
    // POLLHUP or POLLERR once the server has reset the connection (asked for or not).
    pollfd p{.fd = reader.fd(), .events = 0, .revents = 0};
    closed = poll(&p, 1, 500) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
  }
  EXPECT_TRUE(closed) << "the server kept a client that does not read after " << appended
                      << " events";
  // What the client could still read is far less than what the stream had to send.
  std::string received;
  char chunk[65536];
  for (ssize_t n; (n = recv(reader.fd(), chunk, sizeof chunk, 0)) > 0;) received.append(chunk, n);
  EXPECT_LT(received.size(), static_cast<size_t>(appended) * data.size());
  EXPECT_EQ(StatusLine(Exchange(kGet)), "HTTP/1.1 200 OK");
  EXPECT_EQ(ServerOptions().max_stream_buffer_bytes, size_t{1} << 20);
}

// Asynchronous handlers start on an I/O thread and answer from another thread: many requests are
// in flight at once with a single I/O thread and a single blocking thread, none of them holding a
// thread while it waits.
TEST_F(ServerTest, AsyncRoutesAnswerFromAnotherThread) {
  constexpr int kRequests = 20;
  std::mutex mu;
  std::condition_variable arrived;
  std::vector<Respond> waiting;
  ServerOptions options;
  options.io_threads = 1;
  options.blocking_threads = 1;
  Start(options, [&](Api& api) {
    ASSERT_TRUE(api.routes()
                    .AddAsync("GET", "/later/{n}",
                              [&](const Request&, const Params& params, Respond respond) {
                                std::lock_guard guard(mu);
                                waiting.push_back([respond, n = params.path.at("n")](Response r) {
                                  r.body = json({{"n", n}}).dump();
                                  respond(std::move(r));
                                });
                                arrived.notify_all();
                              })
                    .ok());
  });
  std::vector<std::unique_ptr<RawConnection>> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(
        clients.back()->Send("GET /later/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(arrived.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return waiting.size() == kRequests; }))
        << waiting.size() << " of " << kRequests << " requests reached the handler";
  }
  // A synchronous route is served meanwhile.
  EXPECT_EQ(StatusLine(Exchange(kGet)), "HTTP/1.1 200 OK");
  std::thread responder([&] {
    for (Respond& respond : waiting) respond(Response());
  });
  responder.join();
  for (int i = 0; i < kRequests; ++i) {
    const std::string response = clients[i]->ReadResponse();
    EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK") << response;
    EXPECT_EQ(BodyOf(response).value("n", ""), std::to_string(i)) << response;
  }
}

// --- TLS ------------------------------------------------------------------------------------

// A self-signed certificate for 127.0.0.1 and its key, made by the openssl tool.
bool MakeCertificate(const testing::TempDir& dir, const std::string& name) {
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=evs " +
                              std::string("-addext subjectAltName=IP:127.0.0.1 -keyout ") +
                              dir.File(name + ".key") + " -out " + dir.File(name + ".pem") +
                              " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

TEST_F(ServerTest, TlsServesVerifiedClientsAndRefusesPlaintext) {
  if (!MakeCertificate(dir_, "server") || !MakeCertificate(dir_, "other")) {
    GTEST_SKIP() << "the openssl tool could not make a certificate";
  }
  ServerOptions options;
  options.tls_cert_file = dir_.File("server.pem");
  options.tls_key_file = dir_.File("server.key");
  Start(options);
  httplib::SSLClient client("127.0.0.1", port_);
  client.set_ca_cert_path(dir_.File("server.pem").c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  Reply reply = ToReply(client.Get("/healthz"));
  EXPECT_EQ(reply.status, 200) << reply.body;
  reply = ToReply(client.Post("/streams/tls", R"([{"type":"T","data":1}])", "application/json"));
  EXPECT_EQ(reply.status, 201) << reply.body;
  // A client that trusts another certificate does not get through.
  httplib::SSLClient stranger("127.0.0.1", port_);
  stranger.set_ca_cert_path(dir_.File("other.pem").c_str());
  stranger.enable_server_certificate_verification(true);
  stranger.set_connection_timeout(5);
  EXPECT_EQ(ToReply(stranger.Get("/healthz")).status, -1);
  // Plain HTTP on the TLS port gets no HTTP answer: the connection ends.
  RawConnection plain(port_);
  ASSERT_TRUE(plain.Send(kGet));
  EXPECT_EQ(plain.ReadResponse().rfind("HTTP/1.1 200", 0), std::string::npos);
  EXPECT_TRUE(plain.ClosedByServer());
}

TEST(ServerTls, BadFilesFailBind) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeCertificate(dir, "a") && MakeCertificate(dir, "b"));
  auto store = NewMemoryEventStore();
  Api api(*store);
  struct Case {
    std::string cert, key, says;
  };
  const std::vector<Case> cases = {
      {dir.File("a.pem"), dir.File("b.key"), "does not match"},
      {dir.File("missing.pem"), dir.File("a.key"), "cannot read the TLS certificate"},
      {dir.File("a.pem"), dir.File("missing.key"), "cannot read the TLS key"},
      {dir.File("a.pem"), "", "both"},
  };
  for (const Case& c : cases) {
    ServerOptions options;
    options.port = 0;
    options.tls_cert_file = c.cert;
    options.tls_key_file = c.key;
    Server server(api, options);
    auto bound = server.Bind();
    ASSERT_FALSE(bound.ok()) << c.says;
    EXPECT_EQ(bound.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(bound.error().message.find(c.says), std::string::npos) << bound.error().message;
  }
}

TEST(ServeTls, TheCommandServesHttpsAndRefusesHalfAConfiguration) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeCertificate(dir, "server"));
  fs::create_directories(dir.File("data"));
  testing::Child half({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--tls-cert",
                       dir.File("server.pem")});
  auto status = half.WaitForExit();
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(half.Stderr().find("--tls-key"), std::string::npos) << half.Stderr();
  testing::Child mismatched({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0",
                             "--tls-cert", dir.File("server.pem"), "--tls-key",
                             dir.File("server.pem")});
  status = mismatched.WaitForExit();
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(mismatched.Stderr().find("TLS key"), std::string::npos) << mismatched.Stderr();

  testing::Child server({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                         "--tls-cert", dir.File("server.pem"), "--tls-key",
                         dir.File("server.key")});
  ASSERT_TRUE(server.WaitForStderr("evs: serving https://127.0.0.1:")) << server.Stderr();
  const std::string text = server.Stderr();
  const size_t at = text.find("https://127.0.0.1:") + 18;
  const int port = std::stoi(text.substr(at));
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path(dir.File("server.pem").c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5);
  EXPECT_EQ(ToReply(client.Get("/healthz")).status, 200);
  server.Terminate();
}

// --- Many connections -------------------------------------------------------------------------

size_t ResidentKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

// `evs serve` (a process of its own: each side of a connection takes a file descriptor) holds
// ten thousand idle keep-alive connections, each served one request, and still answers a new
// one; each held connection still serves.
TEST(ServeConnections, TenThousandIdleKeepAliveConnections) {
  constexpr int kConnections = 10000;
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < kConnections + 200) {
    GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is " << limit.rlim_max << "; this test needs "
                 << kConnections + 200 << " file descriptors (raise it with ulimit -Hn)";
  }
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  testing::TempDir dir;
  fs::create_directories(dir.File("data"));
  testing::Child server({"--data", dir.File("data"), "serve", "--listen", "127.0.0.1:0", "--quiet",
                         "--io-threads", "2", "--keep-alive-seconds", "600"});
  const int port = server.WaitForPort(dir.File("data"));
  ASSERT_GT(port, 0) << server.Stderr();
  const size_t before = ResidentKiB(server.pid());
  std::vector<std::unique_ptr<RawConnection>> held;
  held.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    auto connection = std::make_unique<RawConnection>(port);
    ASSERT_TRUE(connection->connected()) << "connection " << i;
    ASSERT_TRUE(connection->Send(kGet)) << "connection " << i;
    ASSERT_EQ(StatusLine(connection->ReadResponse()), "HTTP/1.1 200 OK") << "connection " << i;
    held.push_back(std::move(connection));
  }
  const size_t after = ResidentKiB(server.pid());
  std::printf(
      "evs serve: %zu KiB resident before, %zu KiB with %d idle connections (%.1f KiB "
      "each)\n",
      before, after, kConnections,
      static_cast<double>(after - std::min(after, before)) / kConnections);
  RawConnection fresh(port);
  ASSERT_TRUE(fresh.Send(kGet));
  EXPECT_EQ(StatusLine(fresh.ReadResponse()), "HTTP/1.1 200 OK");
  for (int i : {0, kConnections / 2, kConnections - 1}) {
    ASSERT_TRUE(held[i]->Send(kGet));
    EXPECT_EQ(StatusLine(held[i]->ReadResponse()), "HTTP/1.1 200 OK") << "held connection " << i;
  }
  held.clear();
  server.Terminate();
}

}  // namespace
}  // namespace evs::http
