#include "http/request_parsing.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"

namespace evs::http {

namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Percent escapes must be complete: "%4" or "%zz" is an error, not a literal.
std::optional<std::string> Decode(std::string_view text, bool plus_is_space) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && (i + 2 >= text.size() || !IsHex(text[i + 1]) || !IsHex(text[i + 2]))) {
      return std::nullopt;
    }
  }
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      unsigned value = 0;
      std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      decoded.push_back(static_cast<char>(value));
      i += 2;
    } else {
      decoded.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
    }
  }
  return decoded;
}

}  // namespace

size_t NestingDepth(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, a quote included
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoringAsciiCase(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

std::optional<Target> ParseTarget(std::string_view target) {
  if (target.empty() || target[0] != '/') return std::nullopt;
  Target out;
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto segment = Decode(path.substr(start, end - start), /*plus_is_space=*/false);
    if (!segment || *segment == "." || *segment == "..") return std::nullopt;
    if (!segment->empty() || end < path.size()) out.segments.push_back(std::move(*segment));
    start = end + 1;
  }
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      auto key = Decode(pair.substr(0, eq), true);
      auto value = Decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!key || !value) return std::nullopt;
      out.query.emplace(std::move(*key), std::move(*value));
    }
  }
  return out;
}

std::optional<Response> CheckPathStreamId(std::string_view id) {
  std::string problem;
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      problem = c == 0 ? "has a NUL byte" : "has a control character";
      break;
    }
  }
  if (problem.empty() && !id.empty() && (id.front() == '/' || id.front() == '\\')) {
    problem = std::string("starts with '") + id.front() + "'";
  }
  for (size_t start = 0; problem.empty() && start <= id.size();) {
    size_t end = id.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = id.size();
    const std::string_view part = id.substr(start, end - start);
    if (part == "." || part == "..") problem = "has a '" + std::string(part) + "' part";
    start = end + 1;
  }
  if (problem.empty()) return std::nullopt;
  nlohmann::json shown = std::string(id.substr(0, 200));
  return Problem(400, "invalid_stream_id",
                 "stream id " +
                     shown.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " " +
                     problem +
                     "; a stream id in a URL may not look like a path that leaves a folder (no "
                     "'.' or '..' parts between '/' or '\\', no leading '/' or '\\') nor hold "
                     "control characters");
}

Parsed<nlohmann::json> JsonBody(const Request& request) {
  auto type = request.Header("Content-Type");
  std::string_view media = type ? type->substr(0, type->find(';')) : std::string_view();
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media != "application/json") {
    return Problem(415, "unsupported_media_type",
                   "the body must be JSON with Content-Type: application/json" +
                       (type ? std::string(", not ") + std::string(*type) : std::string()));
  }
  // Checked before parsing: nlohmann::json recurses once per level when it writes (and frees)
  // a value, so a body of a million '[' would overflow a worker's stack and end the server.
  if (NestingDepth(request.body, kMaxJsonDepth) > kMaxJsonDepth) {
    return Problem(400, "json_too_deep",
                   "the body nests arrays and objects more than " + std::to_string(kMaxJsonDepth) +
                       " levels deep");
  }
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Problem(400, "malformed_json", "the body is not valid JSON");
  return body;
}

Parsed<ExpectedVersion> ExpectedVersionHeader(const Request& request) {
  auto header = request.Header("ES-Expected-Version");
  if (!header) return ExpectedVersion::Any();
  auto parsed = ExpectedVersion::Parse(*header);
  if (!parsed) {
    return Problem(400, "invalid_expected_version",
                   "ES-Expected-Version must be any, no-stream, exists or a version number, got '" +
                       std::string(*header) + "'");
  }
  return *parsed;
}

Parsed<int64_t> QueryInt(const Params& params, const std::string& name, int64_t fallback,
                         int64_t min, int64_t max) {
  auto it = params.query.find(name);
  if (it == params.query.end()) return fallback;
  int64_t value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return Problem(400, "invalid_parameter",
                   "query parameter '" + name + "' must be an integer from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

Parsed<int64_t> QueryLimit(const Params& params) {
  return QueryInt(params, "limit", static_cast<int64_t>(params.default_page), 1,
                  static_cast<int64_t>(params.max_page));
}

Parsed<std::optional<int64_t>> IfMatchVersion(const Request& request) {
  auto header = request.Header("If-Match");
  if (!header) return std::optional<int64_t>();
  std::string_view text = *header;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || version < 0) {
    return Problem(400, "invalid_if_match",
                   "If-Match must be a version in quotes, like \"3\" (the ETag of a read), got '" +
                       std::string(*header) + "'");
  }
  return std::optional<int64_t>(version);
}

}  // namespace evs::http
