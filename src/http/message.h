// Transport-neutral HTTP messages: the API handles these, and each transport (the embedded
// HTTP server, an API Gateway event in Lambda) converts to and from its own.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evs::http {

struct Request {
  std::string method;  // upper case: GET, POST, ...
  std::string target;  // path and query as sent, still percent-encoded: /carts/x/items?a=1
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header of that name (names compare case-insensitively).
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A streamed body (Server-Sent Events) instead of `body`: the transport calls it once with a
  // writer that returns false when the client is gone. Transports that cannot stream answer 501.
  std::function<void(const std::function<bool(std::string_view)>& write)> stream;
  // The route that handled the request, e.g. "/carts/{id}/items", for metrics and logs.
  std::string route;
};

}  // namespace evs::http
