// Undoing a request body's Content-Encoding (gzip, deflate, br) within a size limit, so that a
// small compressed body cannot inflate into more memory than the limit (a zip bomb).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace evs::http {

// Whether the server can undo `encoding` (a Content-Encoding value, compared case-
// insensitively): "", "identity", "gzip", "x-gzip", "deflate" or "br".
bool IsSupportedEncoding(std::string_view encoding);

enum class Decoded { kOk, kTooLarge, kCorrupt };

// Decodes `body` encoded with `encoding` (IsSupportedEncoding) into `out`: kTooLarge as soon as
// the output would pass `limit` bytes (what was decoded so far is left in `out`), kCorrupt when
// the data is not valid for its encoding or ends early.
Decoded DecodeContent(std::string_view encoding, std::string_view body, size_t limit,
                      std::string& out);

}  // namespace evs::http
