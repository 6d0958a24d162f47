// One client connection of the server (server.h): reads requests with RequestParser, hands them
// to the Api, writes responses, streams Server-Sent Events, and enforces the timeouts. All of a
// connection's work runs on its strand; Api responses and stream output are posted to it.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>

#include "evs/http/api.h"
#include "evs/http/responses.h"
#include "evs/http/server.h"
#include "http/access_log.h"
#include "http/metrics.h"
#include "http/request_parser.h"
#include "http/response_head.h"
#include "http/stream_threads.h"

namespace evs::http {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;

// Keeps the io_context running while a request or stream is away from it.
using Work = asio::executor_work_guard<asio::io_context::executor_type>;

// What a connection may do when the server stops.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the connection when it is between requests; otherwise it closes once the response
  // in flight has been sent (or its stream has ended).
  virtual void StopWhenIdle() = 0;
};

// What every connection shares, owned by the server.
struct ServerContext {
  asio::io_context& io;
  Api& api;
  const ServerOptions& options;
  RequestLimits limits;
  asio::thread_pool& blocking;
  StreamThreads& streams;
  std::atomic<bool> stopping{false};
  // Connections over max_connections, open only to be answered 503.
  std::atomic<int> refusing{0};

  // The open connections, for Stop().
  std::mutex mu{};
  std::list<std::weak_ptr<ConnectionBase>> open{};  // guarded by mu
};

// How long a client has to take a response (or, after "Connection: close", to close its side),
// so that one that stops reading does not keep its connection forever.
inline constexpr auto kWriteTimeout = std::chrono::seconds(60);
inline constexpr auto kLingerTimeout = std::chrono::seconds(2);
// What is read and dropped after a closing response before the connection closes anyway.
inline constexpr size_t kLingerBytes = 1 << 20;

// The output a stream's writer has queued and whether the connection is gone, shared between the
// stream's thread and the connection's strand.
struct StreamSink {
  std::atomic<bool> closed{false};
  std::atomic<size_t> queued{0};
};

template <class Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, Tcp::socket>;

  // `refuse`: over max_connections; each request is answered 503 and the connection closes.
  template <class... TlsContext>
  Connection(ServerContext& context, Tcp::socket socket, bool refuse, TlsContext&... tls)
      : context_(context),
        stream_(std::move(socket), tls...),
        timer_(Socket().get_executor()),
        refuse_(refuse) {
    boost::system::error_code ec;
    const auto remote = Socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
  }

  // The connection's strand.
  asio::any_io_executor executor() { return Socket().get_executor(); }

  // Starts serving, on executor(); `registered` is its place in context.open (end() when not
  // registered).
  void Start(std::list<std::weak_ptr<ConnectionBase>>::iterator registered) {
    registered_ = registered;
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      Arm(std::chrono::seconds(context_.options.header_timeout_seconds));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](boost::system::error_code ec) {
                                if (ec || self->phase_ != Phase::kHandshake) return self->Close();
                                self->BeginRequest(/*first=*/true);
                              });
    } else {
      BeginRequest(/*first=*/true);
    }
  }

  void StopWhenIdle() override {
    asio::post(Socket().get_executor(), [self = this->shared_from_this()] {
      if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kHandshake ||
          self->phase_ == Phase::kHead || self->phase_ == Phase::kBody) {
        self->Close();
      } else if (self->phase_ == Phase::kStreaming && self->sink_) {
        self->sink_->closed = true;  // the stream's next write returns false
      }
      // Otherwise the response in flight says "Connection: close" or, once sent, ends it.
    });
  }

 private:
  enum class Phase {
    kHandshake,
    kIdle,
    kHead,
    kBody,
    kHandling,
    kWriting,
    kStreaming,
    kLinger,
    kClosed
  };

  Tcp::socket& Socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // Sets the one deadline of the connection; OnDeadline acts by phase.
  void Arm(std::chrono::steady_clock::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (ec || self->timer_.expiry() > std::chrono::steady_clock::now()) return;  // re-armed
      self->OnDeadline();
    });
  }

  void OnDeadline() {
    switch (phase_) {
      case Phase::kHead:
        if (!parser_->started()) return Close();  // a connection that never asked anything
        [[fallthrough]];
      case Phase::kBody:
        return Refuse(Problem(408, "request_timeout",
                              "the request did not arrive within " +
                                  std::to_string(context_.options.header_timeout_seconds) +
                                  " seconds"));
      case Phase::kHandling:
      case Phase::kStreaming:
        return;  // no deadline
      default:
        return Close();
    }
  }

  // Waits for the next request; bytes already read (pipelined) are parsed first.
  void BeginRequest(bool first) {
    parser_ = std::make_unique<RequestParser>(context_.limits);
    sent_continue_ = false;
    phase_ = first ? Phase::kHead : Phase::kIdle;
    Arm(first ? std::chrono::seconds(context_.options.header_timeout_seconds)
              : std::chrono::seconds(context_.options.keep_alive_seconds));
    if (!pending_.empty()) return Parse();
    Read();
  }

  void Read() {
    reading_ = true;
    auto self = this->shared_from_this();
    if constexpr (kTls) {
      if (!tls_buffer_) tls_buffer_ = std::make_unique<std::array<char, 8192>>();
      stream_.async_read_some(asio::buffer(*tls_buffer_),
                              [self](boost::system::error_code ec, size_t n) {
                                self->reading_ = false;
                                if (!ec) self->pending_.append(self->tls_buffer_->data(), n);
                                self->OnRead(ec, n);
                              });
    } else {
      // An idle connection holds no buffer: wait until bytes are there, then read them into
      // one of this thread's.
      Socket().async_wait(Tcp::socket::wait_read, [self](boost::system::error_code ec) {
        self->reading_ = false;
        size_t n = 0;
        if (!ec) {
          thread_local std::array<char, 16384> buffer;
          n = self->Socket().read_some(asio::buffer(buffer), ec);
          if (ec == asio::error::would_block || ec == asio::error::try_again) return self->Read();
          if (!ec) self->pending_.append(buffer.data(), n);
        }
        self->OnRead(ec, n);
      });
    }
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (phase_ == Phase::kLinger) {
      if (ec == asio::error::operation_aborted) return Read();  // the read a refusal cancelled
      pending_.clear();
      linger_bytes_ += n;
      if (ec || linger_bytes_ > kLingerBytes) return Close();
      return Read();
    }
    if (phase_ != Phase::kIdle && phase_ != Phase::kHead && phase_ != Phase::kBody) return;
    if (ec) return Close();  // the client left, or the deadline closed the read
    if (phase_ == Phase::kIdle) {
      phase_ = Phase::kHead;
      Arm(std::chrono::seconds(context_.options.header_timeout_seconds));
    } else if (phase_ == Phase::kBody) {
      Arm(std::chrono::seconds(context_.options.header_timeout_seconds));
    }
    Parse();
  }

  void Parse() {
    const size_t used = parser_->Feed(pending_);
    pending_.erase(0, used);
    if (pending_.empty()) pending_.shrink_to_fit();
    switch (parser_->state()) {
      case RequestParser::State::kRefused:
        return Refuse(std::move(parser_->problem()));
      case RequestParser::State::kDone:
        return Dispatch();
      case RequestParser::State::kNeedMore:
        break;
    }
    if (phase_ == Phase::kIdle && parser_->started()) {
      phase_ = Phase::kHead;
      Arm(std::chrono::seconds(context_.options.header_timeout_seconds));
    }
    if (phase_ == Phase::kHead && parser_->head_done()) phase_ = Phase::kBody;
    if (parser_->expects_continue() && !sent_continue_ && !refuse_) {
      sent_continue_ = true;
      Enqueue("HTTP/1.1 100 Continue\r\n\r\n", {});
    }
    Read();
  }

  // Answers a request the server refuses itself, and closes.
  void Refuse(Response problem) {
    if (reading_) {
      boost::system::error_code ignored;
      Socket().cancel(ignored);  // the read ends with operation_aborted, ignored in kWriting
    }
    const std::string& method = parser_ ? parser_->method() : std::string();
    log_method_ = method.empty() ? "-" : method;
    log_target_ = "";
    start_ = std::chrono::steady_clock::now();
    head_ = false;
    keep_alive_ = false;
    Send(std::move(problem));
  }

  void Dispatch() {
    Request request = std::move(parser_->request());
    keep_alive_ = parser_->keep_alive() && !refuse_;
    log_method_ = request.method;
    log_target_ = request.target;
    start_ = std::chrono::steady_clock::now();
    head_ = request.method == "HEAD";
    if (head_) request.method = "GET";  // HEAD is GET without the body (RFC 9110 9.3.2)
    phase_ = Phase::kHandling;
    timer_.cancel();
    if (refuse_) {
      Response refused = Problem(503, "too_many_connections",
                                 "the server has its limit of " +
                                     std::to_string(context_.options.max_connections) +
                                     " connections open; try again in a moment");
      refused.headers.emplace_back("Retry-After", "1");
      keep_alive_ = false;
      return Send(std::move(refused));
    }
    auto self = this->shared_from_this();
    auto work = std::make_shared<Work>(context_.io.get_executor());
    context_.api.HandleAsync(
        std::move(request),
        [self, work](Response response) {
          asio::post(self->Socket().get_executor(),
                     [self, response = std::move(response)]() mutable {
                       self->Send(std::move(response));
                     });
        },
        [&blocking = context_.blocking](std::function<void()> task) {
          asio::post(blocking, std::move(task));
        });
  }

  // Sends a response (the Api's or the server's own), counts and logs it.
  void Send(Response response) {
    if (phase_ == Phase::kClosed) return;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (response.route.empty()) {
      context_.api.metrics().Record("other", KnownOrOther(log_method_), response.status, seconds);
    }
    if (AsksToClose(response) || context_.stopping) keep_alive_ = false;
    if (context_.options.access_log) {
      LogRequest(remote_, log_method_, log_target_, response.status,
                 response.stream ? 0 : response.body.size(), seconds);
    }
    if (response.stream) return StartStream(std::move(response));
    phase_ = Phase::kWriting;
    Arm(kWriteTimeout);
    std::string head = ResponseHead(response, response.body.size(), keep_alive_);
    Enqueue(std::move(head), head_ ? std::string() : std::move(response.body));
  }

  void StartStream(Response response) {
    if (head_) {  // the head alone; the stream is not run
      phase_ = Phase::kWriting;
      keep_alive_ = false;
      response.stream = nullptr;
      return Enqueue(ResponseHead(response, std::nullopt, false), {});
    }
    auto self = this->shared_from_this();
    auto sink = std::make_shared<StreamSink>();
    auto work = std::make_shared<Work>(context_.io.get_executor());
    auto stream = std::move(response.stream);
    const bool started = context_.streams.Start([self, sink, work, stream] {
      const size_t limit = self->context_.options.max_stream_buffer_bytes;
      auto write = [&](std::string_view text) {
        if (sink->closed) return false;
        if (text.empty()) return true;
        if (sink->queued.fetch_add(text.size()) + text.size() > limit) {
          // The client reads slower than the stream writes: it is cut off rather than let the
          // queue grow.
          sink->closed = true;
          asio::post(self->Socket().get_executor(), [self] { self->Abort(); });
          return false;
        }
        asio::post(self->Socket().get_executor(),
                   [self, chunk = Chunk(text), size = text.size()]() mutable {
                     self->Enqueue(std::move(chunk), {}, size);
                   });
        return true;
      };
      try {
        stream(write);
      } catch (...) {
        sink->closed = true;  // the stream broke off: the client sees the connection end early
      }
      asio::post(self->Socket().get_executor(), [self] { self->EndStream(); });
    });
    if (!started) {
      Response busy =
          Problem(503, "too_many_streams",
                  "the server streams to " + std::to_string(context_.options.max_streams) +
                      " clients already; try again in a moment");
      busy.headers.emplace_back("Retry-After", "1");
      return Send(std::move(busy));
    }
    sink_ = sink;
    phase_ = Phase::kStreaming;
    keep_alive_ = false;
    timer_.cancel();
    Enqueue(ResponseHead(response, std::nullopt, false), {});
  }

  void EndStream() {
    if (phase_ != Phase::kStreaming) return;
    phase_ = Phase::kWriting;
    Arm(kWriteTimeout);
    Enqueue(Chunk({}), {});
  }

  // Queues bytes to send; `stream_bytes`: how much of a stream's queued output they carry.
  void Enqueue(std::string head, std::string body, size_t stream_bytes = 0) {
    if (phase_ == Phase::kClosed) return;
    out_.push_back({std::move(head), std::move(body), stream_bytes});
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    const Out& next = out_.front();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(next.head), asio::buffer(next.body)};
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        if (self->phase_ == Phase::kClosed) return;
                        if (ec) return self->Close();
                        const size_t stream_bytes = self->out_.front().stream_bytes;
                        self->out_.pop_front();
                        if (self->sink_) self->sink_->queued -= stream_bytes;
                        if (!self->out_.empty()) return self->WriteNext();
                        self->AfterWrites();
                      });
  }

  // All queued output is sent: on to the next request, or closing.
  void AfterWrites() {
    if (phase_ != Phase::kWriting) return;  // a 100 Continue, or stream output
    if (keep_alive_ && !context_.stopping) return BeginRequest(/*first=*/false);
    // Close our side and drop what the client still sends until it closes its own, so that the
    // response is not lost to a reset (RFC 9112 9.6).
    boost::system::error_code ignored;
    Socket().shutdown(Tcp::socket::shutdown_send, ignored);
    phase_ = Phase::kLinger;
    linger_bytes_ = 0;
    Arm(kLingerTimeout);
    if (!reading_) Read();
  }

  // Ends the connection at once, with a reset: what is queued is dropped.
  void Abort() {
    if (phase_ == Phase::kClosed) return;
    boost::system::error_code ignored;
    Socket().set_option(asio::socket_base::linger(true, 0), ignored);
    Close();
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    if (sink_) sink_->closed = true;
    if (refuse_) --context_.refusing;
    timer_.cancel();
    boost::system::error_code ignored;
    Socket().close(ignored);
    out_.clear();
    pending_.clear();
    parser_.reset();
    if (registered_) {
      std::lock_guard guard(context_.mu);
      context_.open.erase(*registered_);
      registered_.reset();
    }
  }

  static std::string KnownOrOther(const std::string& method) {
    for (const char* known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      if (method == known) return method;
    }
    return "other";
  }

  struct Out {
    std::string head;
    std::string body;
    size_t stream_bytes;
  };

  ServerContext& context_;
  Stream stream_;
  asio::steady_timer timer_;
  const bool refuse_;
  std::string remote_;
  std::optional<std::list<std::weak_ptr<ConnectionBase>>::iterator> registered_;
  Phase phase_ = Phase::kIdle;
  bool reading_ = false;
  bool writing_ = false;
  std::string pending_;  // bytes read and not yet parsed
  std::unique_ptr<std::array<char, 8192>> tls_buffer_;
  std::unique_ptr<RequestParser> parser_;
  bool sent_continue_ = false;
  bool keep_alive_ = false;
  bool head_ = false;
  std::string log_method_;
  std::string log_target_;
  std::chrono::steady_clock::time_point start_;
  std::deque<Out> out_;
  std::shared_ptr<StreamSink> sink_;
  size_t linger_bytes_ = 0;
};

}  // namespace evs::http
