// Reading one HTTP/1.1 request from the bytes of a connection as they arrive, within the
// server's limits (server.h): the step from bytes to a Request or to the problem to answer,
// without sockets, so that the server and the fuzzer (fuzz/fuzz_http_request.cc) share it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "evs/http/message.h"

namespace evs::http {

// The limits a request is read within; ServerOptions documents them and their defaults.
struct RequestLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 32 << 10;
  size_t max_header_count = 100;
};

// The fixed limit on the request line (414 past it) and on each header line (431).
inline constexpr size_t kMaxLineBytes = 8192;

// The head's lines are checked as they arrive (so no more than the limits is ever held) and then
// parsed by Boost.Beast, which also reads the body (Content-Length or chunked, bounded by
// max_body_bytes); a Content-Encoding is undone within the same bound. Not thread-safe.
class RequestParser {
 public:
  enum class State {
    kNeedMore,  // give it more bytes
    kDone,      // request() is whole
    kRefused,   // answer problem(); the rest of the connection cannot be read
  };

  explicit RequestParser(RequestLimits limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Takes the next bytes of the connection and returns how many it used; once done or refused
  // it takes no more (what is left belongs to the next request). With kNeedMore it may use
  // fewer than given: call it again with the rest and more bytes after it.
  size_t Feed(std::string_view bytes);

  State state() const;
  // Whether any byte of this request has arrived (blank lines before it included).
  bool started() const;
  // Whether the head is in (the body, if any, is being read).
  bool head_done() const;
  // The method of the request line once that line is in ("" before).
  const std::string& method() const;
  // Whether the head is in and the request waits for a body after "Expect: 100-continue": the
  // client waits for "100 Continue" before it sends the body.
  bool expects_continue() const;

  // kDone: the request, its method as sent (HEAD stays HEAD) and its body decoded.
  Request& request();
  // kDone: whether the connection may carry another request (HTTP/1.1 without "Connection:
  // close", or HTTP/1.0 with keep-alive).
  bool keep_alive() const;
  // kRefused: the problem document to answer, with its status.
  Response& problem();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace evs::http
