// Reading a request's target: path segments and query parameters, and the checks the Api makes
// on them before any handler runs. (What handlers read is evs/http/request_reading.h.)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evs/http/message.h"

namespace evs::http {

// The target split into percent-decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  // "/tickets/a%2Fb/notes" -> {"tickets", "a/b", "notes"}
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

}  // namespace evs::http
