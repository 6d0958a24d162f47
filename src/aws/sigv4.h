// AWS Signature Version 4 on OpenSSL, checked against known-answer vectors produced by the AWS
// SDK's own signer (tests/sigv4_test.cc, tests/data/sigv4_vectors.json).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aws/aws_client.h"

namespace evs::aws {

struct SigningParams {
  const Credentials* credentials = nullptr;
  std::string_view region;
  std::string_view service;  // the signing name: "dynamodb", "kinesis", "s3"
  int64_t unix_time = 0;     // seconds since the epoch
  // S3 signs the payload hash and sends it as x-amz-content-sha256; the JSON services do not.
  bool add_content_sha256_header = false;
};

struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lower-case hex
};

// Adds Host (when absent), X-Amz-Date, X-Amz-Security-Token (with a session token),
// X-Amz-Content-Sha256 (when asked) and Authorization to `request`, and returns the
// intermediate strings for tests and debugging.
SigningResult SignRequest(HttpRequest& request, const SigningParams& params);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, everything else
// %XX (upper case); '/' kept when `keep_slash` (paths), encoded otherwise (query values).
std::string UriEncode(std::string_view text, bool keep_slash);

}  // namespace evs::aws
