// Reading the parts of a request: path segments, query parameters, JSON bodies and integers,
// each failure a problem response that says what was wrong.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "evs/expected_version.h"
#include "http/message.h"

namespace evs::http {

// The target split into percent-decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  // "/carts/a%2Fb/items" -> {"carts", "a/b", "items"}
  std::map<std::string, std::string> query;
};

// nullopt when the target is not an origin-form path, has malformed percent escapes, or has a
// path segment that is "." or ".." once decoded ("/streams/%2e%2e" as well as "/streams/..").
std::optional<Target> ParseTarget(std::string_view target);

// A 400 problem (code "invalid_stream_id") when a stream id taken from a path looks like a path
// that could leave a folder: a "." or ".." part between '/' or '\' separators ("../x",
// "a/../../x", "a/./b", "..\x"), a leading '/' or '\', or a control character (NUL
// included). Stream ids are not file paths in any store, but they are refused at the edge so
// that no id of that shape gets in. nullopt when the id is fine.
std::optional<Response> CheckPathStreamId(std::string_view id);

// The deepest nesting of JSON bodies: the depth to which the store's own JSON check (simdjson's
// default) goes.
inline constexpr size_t kMaxJsonDepth = 1024;

// How deeply arrays and objects nest in `text` (brackets inside strings do not count); counting
// stops once past `limit`. Meant for text that is about to be parsed; it does not validate.
size_t NestingDepth(std::string_view text, size_t limit);

// A JSON body: 415 when the content type is not JSON, 400 when it does not parse or nests
// deeper than kMaxJsonDepth (code "json_too_deep").
std::variant<nlohmann::json, Response> JsonBody(const Request& request);

// The ES-Expected-Version header: any when absent; a 400 when it is not an expected version.
std::variant<ExpectedVersion, Response> ExpectedVersionHeader(const Request& request);

// An integer query parameter within [min, max]; `fallback` when absent; a 400 otherwise.
std::variant<int64_t, Response> IntParam(const Target& target, const std::string& name,
                                         int64_t fallback, int64_t min, int64_t max);

}  // namespace evs::http
