// An HTTP client of the server under test, and its replies, for the HTTP tests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace evs::testing {

// A keep-alive client of 127.0.0.1:`port` with bounded timeouts.
inline std::unique_ptr<httplib::Client> NewClient(int port) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
  client->set_keep_alive(true);
  client->set_url_encode(false);  // the tests send targets already percent-encoded
  client->set_connection_timeout(5);
  client->set_read_timeout(30);
  client->set_write_timeout(30);
  return client;
}

// A response, or status -1 with the transport error in `body`.
struct Reply {
  int status = -1;
  std::string body;
  httplib::Headers headers;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);  // httplib compares header names case-insensitively
    return it == headers.end() ? std::string() : it->second;
  }
  std::string ContentType() const { return Header("Content-Type"); }
  nlohmann::json Json() const {
    nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << body;
    return parsed;
  }
};

inline Reply ToReply(const httplib::Result& result) {
  Reply reply;
  if (!result) {
    reply.body = "transport error: " + httplib::to_string(result.error());
    return reply;
  }
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}

}  // namespace evs::testing
