#include "http/response_head.h"

#include <strings.h>

#include <boost/beast/http/status.hpp>
#include <cstdio>
#include <ostream>  // boost/utility/string_view needs it

namespace evs::http {

namespace {

bool NameIs(const std::string& name, const char* expected) {
  return strcasecmp(name.c_str(), expected) == 0;
}

}  // namespace

std::string ResponseHead(const Response& response, std::optional<size_t> content_length,
                         bool keep_alive) {
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(response.status));
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " ";
  head.append(reason.data(), reason.size());
  head += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (NameIs(name, "Connection") || NameIs(name, "Content-Length") ||
        NameIs(name, "Transfer-Encoding")) {
      continue;
    }
    head += name + ": " + value + "\r\n";
  }
  if (!response.content_type.empty() || !response.body.empty() || response.stream) {
    head += "Content-Type: " + response.content_type + "\r\n";
  }
  if (response.status == 204 || response.status == 304) {
    // no body and no framing (RFC 9110 8.6)
  } else if (content_length) {
    head += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  } else {
    head += "Transfer-Encoding: chunked\r\n";
  }
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

std::string Chunk(std::string_view data) {
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string chunk(size, static_cast<size_t>(n));
  chunk.append(data);
  chunk += "\r\n";
  return chunk;
}

bool AsksToClose(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (NameIs(name, "Connection") && strcasecmp(value.c_str(), "close") == 0) return true;
  }
  return false;
}

}  // namespace evs::http
