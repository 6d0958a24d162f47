// Routes: how a domain serves itself over HTTP. A route is a method, a path pattern and a
// handler; the Api (api.h) matches each request against its routes and calls the handler.
//
//   Status s = api.routes().Add("POST", "/tickets/{id}/assign",
//                               [&](const http::Request& request, const http::Params& params) {
//                                 return Assign(request, params.path.at("id"));
//                               });
//
// Patterns are segments after a '/': a literal matches the same segment of the path once
// percent-decoded; "{name}" matches any one segment and hands it to the handler, decoded; "/"
// alone matches the root (the target "/", as a web page's first address). When
// several patterns match a path, the one whose first differing segment is a literal wins
// ("/tickets/open" before "/tickets/{id}"). A path that matches a pattern but none of its methods
// is answered 405 with Allow (the methods added for that pattern, in the order added); a path
// that matches no pattern 404 (code "no_route").
//
// Registered routes are served exactly as the Api's own: the bearer token, the body limit,
// malformed targets (400), exceptions (500) and the request metrics (labelled with the pattern)
// are handled by the Api before and after the handler.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>

#include "evs/http/message.h"
#include "evs/status.h"

namespace evs::http {

// What the Api read from a request for its handler.
struct Params {
  // Each "{name}" of the pattern with the segment it matched, percent-decoded.
  std::map<std::string, std::string> path;
  // The query parameters, percent-decoded ('+' is a space); of a name given twice, the first.
  std::map<std::string, std::string> query;
  // The Api's page sizes (ApiOptions) for a `limit` parameter; QueryLimit (request_reading.h)
  // reads it within them.
  size_t default_page = 100;
  size_t max_page = 1000;
};

// Called on the transport's threads for blocking work, any number at once: a handler must be
// thread-safe, and may block (a read, a durable append). It answers every outcome with a Response
// (a problem document for failures, responses.h); an exception it throws is answered 500 (code
// "internal").
using Handler = std::function<Response(const Request& request, const Params& params)>;

// Delivers the response of an asynchronous handler. Call it exactly once, from any thread
// (typically the thread that completes the work, like a durable append's); it does not block.
using Respond = std::function<void(Response response)>;

// A handler that answers later: it starts the work and returns at once, and the work calls
// `respond` when it completes. Called on the transport's I/O thread, it must not block (no
// waiting for a durable append, no sleeping): a blocking handler stalls every connection of that
// thread. `request` and `params` stay valid until `respond` has been called. An exception it
// throws before responding is answered 500; one thrown after is ignored.
using AsyncHandler =
    std::function<void(const Request& request, const Params& params, Respond respond)>;

// Where routes are added. Implemented by the Api; add every route before the Api serves its
// first request (before Server::Run, or the first Handle): adding is not safe while it serves.
class Routes {
 public:
  virtual ~Routes() = default;

  // Adds `handler` for `method` (upper case, like "POST") on `pattern` (like "/carts/{id}").
  // kInvalidArgument when the method is not upper-case letters, the pattern does not start with
  // '/', has an empty segment, a '{' or '}' that is not a whole "{name}" segment or one name
  // twice, when this method is already served on this pattern (parameter names aside; the
  // Api's own routes included, api.h lists them), or when the pattern is there already with its
  // parameters named otherwise.
  virtual Status Add(const std::string& method, const std::string& pattern, Handler handler) = 0;

  // Adds an asynchronous `handler` (AsyncHandler above); the same rules and refusals as Add, and
  // a method and pattern are served by one handler, synchronous or not.
  virtual Status AddAsync(const std::string& method, const std::string& pattern,
                          AsyncHandler handler) = 0;
};

// A route whose handler is a member function of T: synchronous (added with Add) or
// asynchronous (added with AddAsync), by the member's signature.
template <class T>
struct MemberRoute {
  // A synchronous handler (Handler).
  using Sync = Response (T::*)(const Request& request, const Params& params);
  // An asynchronous handler (AsyncHandler).
  using Async = void (T::*)(const Request& request, const Params& params, Respond respond);

  // A synchronous route.
  MemberRoute(const char* m, const char* p, Sync h) : method(m), pattern(p), handler(h) {}
  // An asynchronous route.
  MemberRoute(const char* m, const char* p, Async h) : method(m), pattern(p), async_handler(h) {}

  const char* method;             // like "POST"
  const char* pattern;            // like "/carts/{id}"
  Sync handler = nullptr;         // set for a synchronous route
  Async async_handler = nullptr;  // set for an asynchronous one
};

// Adds each route with its handler called on `object`, which must outlive serving; stops at the
// first that Add (or AddAsync) refuses and returns its error.
template <class T>
Status AddMemberRoutes(Routes& routes, T& object, std::initializer_list<MemberRoute<T>> list) {
  for (const MemberRoute<T>& r : list) {
    Status added = OkStatus();
    if (r.async_handler) {
      added = routes.AddAsync(r.method, r.pattern,
                              [&object, handler = r.async_handler](
                                  const Request& request, const Params& params, Respond respond) {
                                (object.*handler)(request, params, std::move(respond));
                              });
    } else {
      added =
          routes.Add(r.method, r.pattern,
                     [&object, handler = r.handler](const Request& request, const Params& params) {
                       return (object.*handler)(request, params);
                     });
    }
    if (!added.ok()) return added;
  }
  return OkStatus();
}

}  // namespace evs::http
