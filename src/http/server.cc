#include "evs/http/server.h"

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/connection.h"

namespace evs::http {

namespace {

// Connections past max_connections that are read only to be answered 503; past this many too, a
// connection is closed at once.
constexpr int kMaxRefusing = 1024;

int IoThreads(const ServerOptions& options) {
  if (options.io_threads > 0) return options.io_threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

RequestLimits LimitsOf(const ServerOptions& options) {
  RequestLimits limits;
  limits.max_body_bytes = options.max_body_bytes;
  limits.max_header_bytes = options.max_header_bytes;
  limits.max_header_count = options.max_header_count;
  return limits;
}

// The server's TLS context: the certificate and key of `options`, TLS 1.2 or later.
Result<asio::ssl::context> TlsContext(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "TLS needs both a certificate and a key file (or neither)");
  }
  asio::ssl::context tls(asio::ssl::context::tls_server);
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  tls.use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    return Error::Make(
        ErrorCode::kInvalidArgument,
        "cannot read the TLS certificate " + options.tls_cert_file + ": " + ec.message());
  }
  tls.use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
  if (ec && ec.message().find("mismatch") != std::string::npos) {
    return Error::Make(ErrorCode::kInvalidArgument, "the TLS key " + options.tls_key_file +
                                                        " does not match the certificate " +
                                                        options.tls_cert_file);
  }
  if (ec) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "cannot read the TLS key " + options.tls_key_file + ": " + ec.message());
  }
  if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
    return Error::Make(ErrorCode::kInvalidArgument, "the TLS key " + options.tls_key_file +
                                                        " does not match the certificate " +
                                                        options.tls_cert_file);
  }
  return tls;
}

}  // namespace

// Boost.Asio's io_context run by io_threads threads; one acceptor (on a strand of its own) and a
// Connection (connection.h) per client.
class Server::Impl {
 public:
  Impl(Api& api, ServerOptions options);
  Result<int> Bind();
  void Run();
  void Stop();

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, Tcp::socket socket);
  template <class Stream, class... Tls>
  void Serve(Tcp::socket socket, bool refuse, Tls&... tls);

  Api& api_;
  const ServerOptions options_;
  asio::io_context io_;
  Tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::optional<asio::ssl::context> tls_;
  asio::thread_pool blocking_;
  StreamThreads streams_;
  ServerContext context_;
  std::mutex mu_;
  bool stop_requested_ = false;  // guarded by mu_
  bool bound_ = false;           // guarded by mu_
};

Server::Server(Api& api, ServerOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(options))) {}
Server::~Server() = default;
Result<int> Server::Bind() { return impl_->Bind(); }
void Server::Run() { impl_->Run(); }
void Server::Stop() { impl_->Stop(); }

Server::Impl::Impl(Api& api, ServerOptions options)
    : api_(api),
      options_(std::move(options)),
      io_(IoThreads(options_)),
      acceptor_(asio::make_strand(io_)),
      accept_retry_(acceptor_.get_executor()),
      blocking_(static_cast<size_t>(std::max(1, options_.blocking_threads))),
      streams_(static_cast<size_t>(std::max(0, options_.max_streams))),
      context_{io_, api_, options_, LimitsOf(options_), blocking_, streams_} {}

Result<int> Server::Impl::Bind() {
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    auto tls = TlsContext(options_);
    if (!tls.ok()) return tls.error();
    tls_.emplace(std::move(tls).value());
  }
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  auto unavailable = [&](const boost::system::error_code& ec) {
    return Error::Make(ErrorCode::kUnavailable, "cannot listen on " + where + " (" + ec.message() +
                                                    "; in use, or not an address of this machine)");
  };
  boost::system::error_code ec;
  Tcp::resolver resolver(io_);
  auto found = resolver.resolve(options_.host, std::to_string(options_.port),
                                Tcp::resolver::passive | Tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) return unavailable(ec);
  const Tcp::endpoint endpoint = *found.begin();
  acceptor_.open(endpoint.protocol(), ec);
  // SO_REUSEADDR (a restart binds while old connections linger) but not SO_REUSEPORT, which
  // would let a second server bind the same port and take half of the connections.
  if (!ec) acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);  // SOMAXCONN
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return unavailable(ec);
  }
  std::lock_guard guard(mu_);
  bound_ = true;
  return static_cast<int>(acceptor_.local_endpoint().port());
}

void Server::Impl::Run() {
  {
    std::lock_guard guard(mu_);
    if (stop_requested_ || !bound_) return;  // Stop() came first, or nothing to serve
  }
  asio::post(acceptor_.get_executor(), [this] { Accept(); });
  std::vector<std::thread> threads;
  for (int i = 1; i < IoThreads(options_); ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();  // until nothing is left: no acceptor, no connection, no request away
  for (std::thread& t : threads) t.join();
  streams_.JoinAll();
}

void Server::Impl::Stop() {
  api_.Shutdown();  // live streams end within their next wait
  {
    std::lock_guard guard(mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
  }
  context_.stopping = true;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    std::vector<std::shared_ptr<ConnectionBase>> open;
    {
      std::lock_guard guard(context_.mu);
      for (const auto& weak : context_.open) {
        if (auto connection = weak.lock()) open.push_back(std::move(connection));
      }
    }
    for (const auto& connection : open) connection->StopWhenIdle();
  });
}

void Server::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_),
                         [this](boost::system::error_code ec, Tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void Server::Impl::OnAccept(boost::system::error_code ec, Tcp::socket socket) {
  if (context_.stopping || !acceptor_.is_open()) return;
  if (ec) {
    // Out of file descriptors, most likely: try again shortly rather than spin.
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](boost::system::error_code e) {
      if (!e) Accept();
    });
    return;
  }
  bool refuse = false;
  {
    std::lock_guard guard(context_.mu);
    const auto served = context_.open.size() - static_cast<size_t>(context_.refusing.load());
    refuse = served >= static_cast<size_t>(std::max(1, options_.max_connections));
  }
  if (refuse && context_.refusing.load() >= kMaxRefusing) {
    boost::system::error_code ignored;
    socket.close(ignored);
  } else {
    if (refuse) ++context_.refusing;
    boost::system::error_code ignored;
    socket.set_option(Tcp::no_delay(true), ignored);
    if (tls_) {
      Serve<asio::ssl::stream<Tcp::socket>>(std::move(socket), refuse, *tls_);
    } else {
      socket.non_blocking(true, ignored);  // Connection reads what a wait found, never waits
      Serve<Tcp::socket>(std::move(socket), refuse);
    }
  }
  Accept();
}

template <class Stream, class... Tls>
void Server::Impl::Serve(Tcp::socket socket, bool refuse, Tls&... tls) {
  auto connection =
      std::make_shared<Connection<Stream>>(context_, std::move(socket), refuse, tls...);
  std::list<std::weak_ptr<ConnectionBase>>::iterator registered;
  {
    std::lock_guard guard(context_.mu);
    registered = context_.open.insert(context_.open.end(), connection);
  }
  asio::dispatch(connection->executor(),
                 [connection, registered] { connection->Start(registered); });
}

}  // namespace evs::http
