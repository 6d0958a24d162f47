// Reading the parts of a request in a handler: a JSON body, integer query parameters, the
// expected version of a write. Each returns the value, or the problem response (responses.h)
// that says what was wrong, for the handler to answer as is:
//
//   auto body = http::JsonBody(request);
//   if (!body) return body.problem();
//   const nlohmann::json& fields = *body;
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "evs/expected_version.h"
#include "evs/http/message.h"
#include "evs/http/routes.h"

namespace evs::http {

// A value read from a request, or the problem response that refuses the request.
template <class T>
class Parsed {
 public:
  Parsed(T value) : value_(std::move(value)) {}               // NOLINT: implicit on purpose
  Parsed(Response problem) : problem_(std::move(problem)) {}  // NOLINT: implicit on purpose

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The value; only when ok().
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // The problem response; only when !ok(). Moves it out.
  Response problem() { return std::move(problem_); }

 private:
  std::optional<T> value_;
  Response problem_;
};

// A JSON body: 415 (code "unsupported_media_type") when the Content-Type is not
// application/json, 400 when it does not parse ("malformed_json") or nests arrays and objects
// more than 1024 levels deep ("json_too_deep").
Parsed<nlohmann::json> JsonBody(const Request& request);

// An integer query parameter within [min, max]; `fallback` when absent; a 400 (code
// "invalid_parameter", naming the parameter and the range) otherwise.
Parsed<int64_t> QueryInt(const Params& params, const std::string& name, int64_t fallback,
                         int64_t min, int64_t max);

// The `limit` query parameter of a list: 1 to params.max_page, params.default_page when absent.
Parsed<int64_t> QueryLimit(const Params& params);

// The ES-Expected-Version header (any, no-stream, exists or a version number): Any when absent;
// a 400 ("invalid_expected_version") when it is none of those.
Parsed<ExpectedVersion> ExpectedVersionHeader(const Request& request);

// If-Match: "<version>" (the ETag a read answered; a bare number is taken too) for a conditional
// write: nullopt when absent; a 400 ("invalid_if_match") when it is not a version. A handler
// answers a write at another version 412 ("precondition_failed") and writes nothing.
Parsed<std::optional<int64_t>> IfMatchVersion(const Request& request);

}  // namespace evs::http
