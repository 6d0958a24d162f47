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

#include "http/message.h"

namespace evs::http {

// The target split into percent-decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  // "/carts/a%2Fb/items" -> {"carts", "a/b", "items"}
  std::map<std::string, std::string> query;
};

// nullopt when the target is not an origin-form path or has malformed percent escapes.
std::optional<Target> ParseTarget(std::string_view target);

// A JSON body: 415 when the content type is not JSON, 400 when it does not parse.
std::variant<nlohmann::json, Response> JsonBody(const Request& request);

// An integer query parameter within [min, max]; `fallback` when absent; a 400 otherwise.
std::variant<int64_t, Response> IntParam(const Target& target, const std::string& name,
                                         int64_t fallback, int64_t min, int64_t max);

}  // namespace evs::http
