// Transport-neutral HTTP messages: the Api (api.h) and every route handler (routes.h) take a
// Request and answer a Response; each transport (the embedded server of server.h, an API Gateway
// event in Lambda) converts to and from its own.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evs::http {

struct Request {
  std::string method;  // upper case: GET, POST, ... (a transport hands HEAD in as GET)
  std::string target;  // path and query as sent, still percent-encoded: /carts/x/items?a=1
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // whole, never over ApiOptions::max_body_bytes when a handler sees it

  // The first header of that name (names compare case-insensitively).
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  // Empty together with an empty body: no body at all (204).
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A streamed body (Server-Sent Events) instead of `body`: the transport calls it once, on the
  // connection's thread, with a writer that returns false when the client is gone. Transports
  // that cannot stream (Lambda) answer 501 instead.
  std::function<void(const std::function<bool(std::string_view)>& write)> stream;
  // The route pattern that handled the request, e.g. "/carts/{id}/items" ("other" when none
  // did), set by the Api for metrics and logs; handlers leave it alone.
  std::string route;
};

}  // namespace evs::http
