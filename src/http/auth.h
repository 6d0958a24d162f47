// Bearer-token authentication for the API's writes (`evs serve --token-file`): one shared
// secret; requests other than GET and HEAD must carry "Authorization: Bearer <token>". Reads
// stay open. The token is compared by SHA-256 digest with CRYPTO_memcmp, so neither its bytes
// nor its length leak through timing.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "evs/file_system.h"
#include "evs/http/message.h"
#include "evs/status.h"

namespace evs::http {

// The shortest token accepted; shorter ones can be guessed.
inline constexpr size_t kMinTokenBytes = 16;
// The largest token file read (a token is a line, not a document).
inline constexpr size_t kMaxTokenFileBytes = 4096;

// Reads the token from a file: its text without trailing whitespace (a final newline, spaces).
// kNotFound or kIOError when the file cannot be read, kInvalidArgument when the token is empty,
// shorter than kMinTokenBytes, larger than kMaxTokenFileBytes, or holds bytes other than
// visible ASCII (it travels in an HTTP header). When the file is readable by its group or by
// others, `warning` (if given) gets a message saying so; the token is still returned.
Result<std::string> ReadTokenFile(const std::string& path, std::string* warning = nullptr,
                                  FileSystem& fs = *RealFileSystem());

// Whether requests carry the token. Thread-safe (immutable after construction).
class BearerAuth {
 public:
  // `token` must not be empty.
  explicit BearerAuth(std::string_view token);

  // GET and HEAD pass; every other method needs the token.
  static bool IsRead(std::string_view method) { return method == "GET" || method == "HEAD"; }

  // nullopt when the request may go on: a read, or a write with the right token. Otherwise the
  // 401 problem response (code "unauthorized"), with WWW-Authenticate: Bearer.
  std::optional<Response> Check(const Request& request) const;

 private:
  std::array<unsigned char, 32> digest_{};  // SHA-256 of the token
};

}  // namespace evs::http
