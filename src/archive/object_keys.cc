#include "archive/object_keys.h"

#include "evs/text.h"

namespace evs::archive {
namespace {

constexpr size_t kMaxKeyBytes = 1024;
// File systems limit one name to 255 bytes; the rule holds for every backend (object_store.h).
constexpr size_t kMaxKeyPartBytes = 255;

}  // namespace

// Keys and prefixes can hold bytes that would garble a message; show them escaped.
std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text.substr(0, 200)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  if (text.size() > 200) out += "...";
  out += '"';
  return out;
}

// Why `key` is not a valid key, or empty when it is.
std::string KeyProblem(std::string_view key) {
  if (key.empty()) return "is empty";
  if (key.size() > kMaxKeyBytes) {
    return "is " + std::to_string(key.size()) + " bytes long; the limit is " +
           std::to_string(kMaxKeyBytes);
  }
  if (!IsValidUtf8(key)) return "is not valid UTF-8";
  for (size_t i = 0; i < key.size(); ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c == 0) return "contains a NUL byte";
    // C0 controls, DEL, and the C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
    if (c < 0x20 || c == 0x7f ||
        (c == 0xc2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) < 0xa0)) {
      return "contains a control character";
    }
  }
  if (key.front() == '/') return "starts with '/'";
  size_t start = 0;
  while (true) {
    size_t end = key.find('/', start);
    std::string_view part = key.substr(start, end == std::string_view::npos ? end : end - start);
    if (part.empty()) return "has an empty part ('//' or a trailing '/')";
    if (part == "." || part == "..") return "has a '" + std::string(part) + "' part";
    if (part.size() > kMaxKeyPartBytes) {
      return "has a part longer than " + std::to_string(kMaxKeyPartBytes) + " bytes";
    }
    if (part.starts_with(kTempPrefix)) {
      return "has a part starting with \"" + std::string(kTempPrefix) +
             "\" (reserved for temporary files)";
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

Status CheckKey(std::string_view key, std::string_view what) {
  std::string problem = KeyProblem(key);
  if (problem.empty()) return OkStatus();
  return Error::Make(
      ErrorCode::kInvalidArgument,
      "invalid " + std::string(what) + " " + Quote(key) + ": it " + problem +
          " (keys are non-empty UTF-8 of at most 1024 bytes, parts of at most 255 separated by "
          "'/', without empty, '.' or '..' parts or control characters)");
}

}  // namespace evs::archive
