#include "http/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/strings.h"
#include "evs/http/responses.h"

namespace evs::http {

namespace {

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

Error FileError(const std::string& path, int error) {
  return Error::Make(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIOError,
                     "cannot read the token file " + path + ": " + std::strerror(error));
}

Response Unauthorized(const std::string& detail, bool invalid_token) {
  Response r = Problem(401, "unauthorized", detail);
  r.headers.emplace_back("WWW-Authenticate", invalid_token
                                                 ? R"(Bearer realm="evs", error="invalid_token")"
                                                 : R"(Bearer realm="evs")");
  return r;
}

}  // namespace

Result<std::string> ReadTokenFile(const std::string& path, std::string* warning, FileSystem& fs) {
  // O_NONBLOCK: a FIFO in place of the file must not hang the start; it is refused below.
  const int fd = fs.Open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0) return FileError(path, errno);
  struct stat st {};
  if (fs.Fstat(fd, &st) != 0) {
    const int error = errno;
    fs.Close(fd);
    return FileError(path, error);
  }
  if (!S_ISREG(st.st_mode)) {
    fs.Close(fd);
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the token file " + path + " is not a regular file");
  }
  std::string text;
  char buffer[1024];
  while (text.size() <= kMaxTokenFileBytes) {
    const ssize_t n = fs.Pread(fd, buffer, sizeof buffer, static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      fs.Close(fd);
      return FileError(path, error);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  fs.Close(fd);
  if (text.size() > kMaxTokenFileBytes) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the token file " + path + " is over " + std::to_string(kMaxTokenFileBytes) +
                           " bytes; it should hold one token on one line");
  }
  // Trailing white space (the newline an editor adds) is not part of the token; leading white
  // space is refused below.
  const std::string_view trimmed = TrimSpace(text);
  text.resize(trimmed.empty() ? 0
                              : static_cast<size_t>(trimmed.data() + trimmed.size() - text.data()));
  if (text.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the token file " + path + " is empty; put a random token of at least " +
                           std::to_string(kMinTokenBytes) +
                           " bytes in it, e.g. openssl rand -hex 32 > " + path);
  }
  for (char c : text) {
    if (c <= ' ' || c > '~') {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "the token in " + path +
                             " has a space, a control character or a non-ASCII byte; a token "
                             "is one word of visible ASCII (e.g. openssl rand -hex 32)");
    }
  }
  if (text.size() < kMinTokenBytes) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the token in " + path + " is " + std::to_string(text.size()) +
                           " bytes; at least " + std::to_string(kMinTokenBytes) +
                           " are needed (e.g. openssl rand -hex 32 > " + path + ")");
  }
  if (warning != nullptr && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *warning = "the token file " + path + " is readable by " +
               ((st.st_mode & S_IROTH) != 0 ? "others" : "its group") + " (mode " + mode +
               "); chmod 600 " + path;
  }
  return text;
}

BearerAuth::BearerAuth(std::string_view token) : digest_(Sha256(token)) {}

std::optional<Response> BearerAuth::Check(const Request& request) const {
  if (IsRead(request.method)) return std::nullopt;
  auto header = request.Header("Authorization");
  if (!header) {
    return Unauthorized(request.method +
                            " needs 'Authorization: Bearer <token>': this server takes writes "
                            "only with its token (reads, GET and HEAD, are open)",
                        /*invalid_token=*/false);
  }
  std::string_view value = TrimSpace(*header);
  const size_t space = value.find_first_of(" \t");
  const std::string_view scheme = value.substr(0, space);
  if (!EqualsIgnoringAsciiCase(scheme, "Bearer")) {
    // Name the scheme only when it looks like one: a bare token must not be echoed back.
    const bool named = space != std::string_view::npos && !scheme.empty() && scheme.size() <= 20 &&
                       std::all_of(scheme.begin(), scheme.end(), [](char c) {
                         return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
                       });
    return Unauthorized(
        (named ? "the Authorization header uses the '" + std::string(scheme) + "' scheme"
               : std::string("the Authorization header is not 'Bearer <token>'")) +
            "; writes need 'Authorization: Bearer <token>'",
        /*invalid_token=*/false);
  }
  const std::string_view token =
      space == std::string_view::npos ? std::string_view() : TrimSpace(value.substr(space));
  // Digests of equal length, compared in constant time: the time taken says nothing about how
  // much of the token, or of its length, was right.
  const std::array<unsigned char, 32> presented = Sha256(token);
  if (token.empty() || CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) != 0) {
    return Unauthorized("the bearer token is not the one this server takes",
                        /*invalid_token=*/true);
  }
  return std::nullopt;
}

}  // namespace evs::http
