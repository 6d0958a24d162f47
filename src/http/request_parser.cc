#include "http/request_parser.h"

#include <strings.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstring>
#include <optional>

#include "evs/http/responses.h"
#include "http/content_decoding.h"

namespace evs::http {

namespace beast_http = boost::beast::http;

namespace {

// A chunk-size line of a chunked body (size, extensions) longer than this is refused rather
// than held: the parser needs a whole line before it uses any of it.
constexpr size_t kMaxChunkLineBytes = 4096;

bool KnownMethod(beast_http::verb method) {
  using beast_http::verb;
  switch (method) {
    case verb::get:
    case verb::head:
    case verb::post:
    case verb::put:
    case verb::delete_:
    case verb::patch:
    case verb::options:
    case verb::trace:
    case verb::connect:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct RequestParser::Impl {
  explicit Impl(RequestLimits l) : limits(l) {}

  size_t FeedHead(std::string_view bytes);
  void EndHead();
  size_t FeedBody(std::string_view bytes);
  void Finish();
  void Refuse(Response response) {
    problem = std::move(response);
    state = State::kRefused;
  }
  Response BodyTooLarge() const {
    return Problem(413, "body_too_large",
                   "the body is over the limit of " + std::to_string(limits.max_body_bytes) +
                       " bytes" + (encoding.empty() ? "" : " (once decompressed)"));
  }

  const RequestLimits limits;
  State state = State::kNeedMore;
  bool started = false;
  std::string head;       // the head's bytes so far
  size_t line_start = 0;  // where the line being read starts in `head`
  size_t lines = 0;       // whole lines, the request line included
  size_t header_bytes = 0;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser;
  std::string encoding;  // Content-Encoding, when not identity
  bool expects_continue = false;
  std::string method;
  Request request;
  bool keep_alive = false;
  Response problem;
};

size_t RequestParser::Impl::FeedHead(std::string_view bytes) {
  size_t used = 0;
  while (used < bytes.size()) {
    started = true;
    const char* from = bytes.data() + used;
    const auto* newline = static_cast<const char*>(std::memchr(from, '\n', bytes.size() - used));
    const size_t take = newline ? static_cast<size_t>(newline - from) + 1 : bytes.size() - used;
    head.append(from, take);
    used += take;
    const size_t length = head.size() - line_start;  // with its line end, when it has one
    if (length > kMaxLineBytes + 2) {
      if (lines == 0) {
        Refuse(Problem(414, "uri_too_long",
                       "the request line is over 8192 bytes; use a shorter target (path and "
                       "query)"));
      } else {
        Refuse(Problem(431, "header_too_large", "a header line is over 8192 bytes"));
      }
      return used;
    }
    if (!newline) return used;
    const bool blank = length == 1 || (length == 2 && head[line_start] == '\r');
    if (blank && lines == 0) {  // blank lines before a request are ignored (RFC 9112 2.2)
      head.erase(line_start);
      continue;
    }
    if (blank) {
      EndHead();
      return used;
    }
    if (lines > 0) {
      header_bytes += length;
      if (lines > limits.max_header_count) {
        Refuse(Problem(431, "header_too_large",
                       "the request has over " + std::to_string(limits.max_header_count) +
                           " header lines; the limit is " +
                           std::to_string(limits.max_header_count)));
        return used;
      }
      if (header_bytes > limits.max_header_bytes) {
        Refuse(Problem(431, "header_too_large",
                       "the request headers are at least " + std::to_string(header_bytes) +
                           " bytes; the limit is " + std::to_string(limits.max_header_bytes)));
        return used;
      }
    }
    if (lines == 0) method = head.substr(line_start, head.find(' ', line_start) - line_start);
    ++lines;
    line_start = head.size();
  }
  return used;
}

void RequestParser::Impl::EndHead() {
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(head.size() + 1));
  parser->body_limit(limits.max_body_bytes);
  boost::beast::error_code ec;
  parser->put(boost::asio::buffer(head), ec);
  if (parser->is_header_done()) {
    const auto& fields = parser->get();
    if (auto it = fields.find(beast_http::field::content_encoding); it != fields.end()) {
      encoding = std::string(it->value());
      if (strcasecmp(encoding.c_str(), "identity") == 0) encoding.clear();
    }
  }
  if (ec == beast_http::error::body_limit) return Refuse(BodyTooLarge());  // Content-Length
  if (ec || !parser->is_header_done()) {
    return Refuse(Problem(400, "bad_request", "the request head could not be read as HTTP/1.1"));
  }
  const auto& message = parser->get();
  if (message.version() != 10 && message.version() != 11) {
    return Refuse(Problem(400, "bad_request", "only HTTP/1.0 and HTTP/1.1 are served"));
  }
  if (!KnownMethod(message.method())) {
    return Refuse(Problem(501, "not_implemented",
                          "the method '" + std::string(message.method_string()) +
                              "' is not one this server implements"));
  }
  if (!IsSupportedEncoding(encoding)) {
    return Refuse(Problem(415, "unsupported_content_encoding",
                          "Content-Encoding '" + encoding +
                              "' is not supported; send the body as is, or gzip, deflate or br "
                              "it"));
  }
  head.clear();
  head.shrink_to_fit();
  if (parser->is_done()) return Finish();
  if (auto it = message.find(beast_http::field::expect);
      it != message.end() && strncasecmp(it->value().data(), "100-continue", 12) == 0) {
    expects_continue = true;
  }
}

size_t RequestParser::Impl::FeedBody(std::string_view bytes) {
  expects_continue = false;  // the body is coming
  size_t used = 0;
  while (used < bytes.size()) {
    boost::beast::error_code ec;
    const size_t n = parser->put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == beast_http::error::need_more) {
      if (n == 0) {
        // A partial chunk line: it is given again with more bytes, so bound what waits.
        if (bytes.size() - used > kMaxChunkLineBytes) {
          Refuse(Problem(400, "bad_request", "a chunk-size line of the body is too long"));
        }
        return used;
      }
      continue;
    }
    if (ec == beast_http::error::body_limit) {
      Refuse(BodyTooLarge());
      return used;
    }
    if (ec) {
      Refuse(
          Problem(400, "bad_request",
                  "the body could not be read: malformed chunked encoding (" + ec.message() + ")"));
      return used;
    }
    if (parser->is_done()) {
      Finish();
      return used;
    }
  }
  return used;
}

void RequestParser::Impl::Finish() {
  auto message = parser->release();
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  keep_alive = message.keep_alive();
  if (encoding.empty()) {
    request.body = std::move(message.body());
  } else {
    switch (DecodeContent(encoding, message.body(), limits.max_body_bytes, request.body)) {
      case Decoded::kOk:
        break;
      case Decoded::kTooLarge:
        return Refuse(BodyTooLarge());
      case Decoded::kCorrupt:
        return Refuse(Problem(400, "bad_request",
                              "the body is not valid " + encoding + " data, or ends early"));
    }
  }
  parser.reset();
  state = State::kDone;
}

RequestParser::RequestParser(RequestLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
RequestParser::~RequestParser() = default;

size_t RequestParser::Feed(std::string_view bytes) {
  Impl& p = *impl_;
  size_t used = 0;
  if (p.state == State::kNeedMore && !p.parser) used = p.FeedHead(bytes);
  if (p.state == State::kNeedMore && p.parser && used < bytes.size()) {
    used += p.FeedBody(bytes.substr(used));
  }
  return used;
}

RequestParser::State RequestParser::state() const { return impl_->state; }
bool RequestParser::started() const { return impl_->started; }
bool RequestParser::head_done() const { return impl_->parser || impl_->state == State::kDone; }
const std::string& RequestParser::method() const { return impl_->method; }
bool RequestParser::expects_continue() const { return impl_->expects_continue; }
Request& RequestParser::request() { return impl_->request; }
bool RequestParser::keep_alive() const { return impl_->keep_alive; }
Response& RequestParser::problem() { return impl_->problem; }

}  // namespace evs::http
