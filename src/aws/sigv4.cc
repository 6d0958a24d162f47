// Signature Version 4, as the AWS SDK's signer (@smithy/signature-v4) computes it: the vectors in
// tests/data/sigv4_vectors.json come from that signer and decide every rule below.
#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace evs::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// Hop-by-hop and proxy-rewritten headers: signing them breaks the signature on the way. The
// SDK's list (ALWAYS_UNSIGNABLE_HEADERS).
constexpr std::array<std::string_view, 15> kUnsignableHeaders = {
    "authorization", "cache-control",     "connection", "expect",     "from",
    "keep-alive",    "max-forwards",      "pragma",     "referer",    "te",
    "trailer",       "transfer-encoding", "upgrade",    "user-agent", "x-amzn-trace-id"};

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences decoded; anything else (including '+', which SigV4 does not treat as a space)
// kept as it is.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

struct UrlParts {
  std::string_view authority;  // host[:port]
  std::string_view path;       // "" when the URL has none
  std::string_view query;      // without '?'
};

UrlParts SplitUrl(std::string_view url) {
  UrlParts parts;
  size_t scheme_end = url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  size_t path_start = rest.find_first_of("/?");
  parts.authority = rest.substr(0, path_start);
  if (path_start == std::string_view::npos) return parts;
  rest = rest.substr(path_start);
  size_t query_start = rest.find('?');
  parts.path = rest.substr(0, query_start);
  if (query_start != std::string_view::npos) parts.query = rest.substr(query_start + 1);
  // Credentials in the authority ("user@host") are not part of Host.
  size_t at = parts.authority.rfind('@');
  if (at != std::string_view::npos) parts.authority = parts.authority.substr(at + 1);
  return parts;
}

// S3 signs the path exactly as sent (already encoded once; "a//b" is a different key than
// "a/b"). Every other service signs the path with dot segments and empty segments removed,
// encoded once more.
std::string CanonicalUri(std::string_view path, bool s3) {
  if (path.empty()) return "/";
  if (s3) return std::string(path);
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string normalized = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += segments[i];
  }
  if (!segments.empty() && path.back() == '/') normalized += '/';
  return UriEncode(normalized, /*keep_slash=*/true);
}

// Names and values decoded and encoded again the SigV4 way (so "%7E" and "~" sign alike), sorted
// by name, then value.
std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view param = query.substr(start, end - start);
    start = end + 1;
    if (param.empty()) continue;
    size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
    params.emplace_back(UriEncode(PercentDecode(name), false),
                        UriEncode(PercentDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// Leading and trailing blanks dropped, inner runs of blanks made one space.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

const std::string* FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoringAsciiCase(key, name)) return &value;
  }
  return nullptr;
}

void RemoveHeader(Headers& headers, std::string_view name) {
  std::erase_if(headers,
                [&](const auto& header) { return EqualsIgnoringAsciiCase(header.first, name); });
}

// "20260102T030405Z".
std::string AmzDate(int64_t unix_time) {
  using namespace std::chrono;
  sys_seconds time{seconds{unix_time}};
  sys_days day = floor<days>(time);
  year_month_day ymd{day};
  hh_mm_ss<seconds> hms{time - day};
  char text[32];
  std::snprintf(text, sizeof(text), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return text;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kDigits[byte >> 4];
      out += kDigits[byte & 0xf];
    }
  }
  return out;
}

SigningResult SignRequest(HttpRequest& request, const SigningParams& params) {
  static const Credentials kNoCredentials;
  const Credentials& credentials = params.credentials ? *params.credentials : kNoCredentials;
  UrlParts url = SplitUrl(request.url);

  // Signing again (a retry) replaces the previous signature and date instead of adding more.
  RemoveHeader(request.headers, "authorization");
  RemoveHeader(request.headers, "x-amz-date");
  std::string amz_date = AmzDate(params.unix_time);
  std::string date = amz_date.substr(0, 8);
  if (!FindHeader(request.headers, "host")) {
    request.headers.emplace_back("Host", AsciiLower(url.authority));
  }
  request.headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty() && !FindHeader(request.headers, "x-amz-security-token")) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  // A payload hash the caller already put there (UNSIGNED-PAYLOAD for streamed uploads) is the
  // one signed, as the SDK does.
  std::string payload_hash;
  if (const std::string* given = FindHeader(request.headers, "x-amz-content-sha256")) {
    payload_hash = *given;
  } else {
    payload_hash = Sha256Hex(request.body);
    if (params.add_content_sha256_header) {
      request.headers.emplace_back("X-Amz-Content-Sha256", payload_hash);
    }
  }

  // Lower-case names, sorted; repeated headers signed as one, values joined by commas.
  std::vector<std::pair<std::string, std::string>> signed_headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = AsciiLower(name);
    if (std::find(kUnsignableHeaders.begin(), kUnsignableHeaders.end(), lower) !=
        kUnsignableHeaders.end()) {
      continue;
    }
    signed_headers.emplace_back(std::move(lower), CanonicalHeaderValue(value));
  }
  std::stable_sort(signed_headers.begin(), signed_headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_header_names;
  for (size_t i = 0; i < signed_headers.size(); ++i) {
    const auto& [name, value] = signed_headers[i];
    if (i > 0 && signed_headers[i - 1].first == name) {
      canonical_headers.back() = ',';  // the previous line's '\n'
      canonical_headers += value + "\n";
      continue;
    }
    canonical_headers += name + ":" + value + "\n";
    if (!signed_header_names.empty()) signed_header_names += ';';
    signed_header_names += name;
  }

  SigningResult result;
  result.canonical_request = request.method + "\n" +
                             CanonicalUri(url.path, params.service == "s3") + "\n" +
                             CanonicalQuery(url.query) + "\n" + canonical_headers + "\n" +
                             signed_header_names + "\n" + payload_hash;
  std::string scope =
      date + "/" + std::string(params.region) + "/" + std::string(params.service) + "/aws4_request";
  result.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" +
                          Sha256Hex(result.canonical_request);
  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, date);
  key = HmacSha256(key, params.region);
  key = HmacSha256(key, params.service);
  key = HmacSha256(key, "aws4_request");
  std::string signature = HmacSha256(key, result.string_to_sign);
  result.signature =
      Hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
  request.headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           scope + ", SignedHeaders=" + signed_header_names +
                           ", Signature=" + result.signature);
  return result;
}

}  // namespace evs::aws
