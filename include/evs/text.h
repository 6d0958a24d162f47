// Checks on text that crosses evs's boundaries.
#pragma once

#include <string_view>

namespace evs {

// True when `text` is valid UTF-8 (the empty string is).
bool IsValidUtf8(std::string_view text);

// True when `text` is one valid JSON document (any JSON value, white space around it allowed).
bool IsValidJson(std::string_view text);

}  // namespace evs
