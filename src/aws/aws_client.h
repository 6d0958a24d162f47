// The AWS client layer: requests signed with Signature Version 4, sent over a narrow transport
// seam (libcurl in production, fault-injecting transports in tests), retried with exponential
// backoff and jitter on throttling and 5xx, errors mapped to evs::Error with the service's own
// error type and message.
//
// Settings come from the environment as the AWS SDKs and CLI read it: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else AWS_DEFAULT_REGION), and the
// endpoint overrides AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (DYNAMODB, KINESIS, S3).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evs/status.h"

namespace evs::aws {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names as given

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", "HEAD", "DELETE"
  std::string url;     // absolute: scheme, host[:port], path, query
  Headers headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;
  // The value of a header (names compared case-insensitively), or "" when absent.
  std::string Header(std::string_view name) const;
};

// The network seam. Send() returns a response for any HTTP status; an error only when no
// response came (connection refused, timeout, ...), as kUnavailable.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{30000};
};
// libcurl, one easy handle per thread (connections are kept alive per thread). Thread-safe.
std::unique_ptr<HttpTransport> NewCurlTransport(const CurlOptions& options = {});

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
};

enum class Service { kDynamoDb, kKinesis, kS3 };
const char* ServiceName(Service service);  // "dynamodb", "kinesis", "s3" (the signing name)

struct AwsConfig {
  Credentials credentials;
  std::string region = "us-east-1";
  // Endpoint overrides ("http://127.0.0.1:4567"); empty: the service's public endpoint in the
  // region (https://dynamodb.<region>.amazonaws.com, ...).
  std::string dynamodb_endpoint;
  std::string kinesis_endpoint;
  std::string s3_endpoint;
  std::string Endpoint(Service service) const;
};

// The configuration the environment gives. kInvalidArgument naming the variable when the
// credentials are missing or an endpoint is not an http(s) URL.
Result<AwsConfig> AwsConfigFromEnvironment();

struct RetryPolicy {
  int max_attempts = 8;                       // tries of one request, the first included
  std::chrono::milliseconds base_delay{25};   // full jitter: a random wait in [0, base * 2^n)...
  std::chrono::milliseconds max_delay{2000};  // ...of at most this
};

// Thread-safe when its transport is (the curl one is): calls share nothing else that changes.
class AwsClient {
 public:
  // `now` gives the signing time (seconds since the epoch); tests pin it.
  AwsClient(AwsConfig config, std::unique_ptr<HttpTransport> transport, RetryPolicy retry = {},
            std::function<int64_t()> now = {});

  // The JSON protocol (DynamoDB: application/x-amz-json-1.0, X-Amz-Target
  // DynamoDB_20120810.<operation>; Kinesis: application/x-amz-json-1.1, Kinesis_20131202.<op>).
  // Returns the parsed response body ({} for an empty one); a service error is an evs::Error
  // whose message starts with "<service> <operation>: <ErrorType>: <message>" and whose code
  // maps the type: ResourceNotFoundException -> kNotFound; throttling and 5xx still failing
  // after the last retry -> kUnavailable; ValidationException, credential and signature errors
  // and other 4xx -> kInvalidArgument. (ConditionalCheckFailedException -> kWrongExpectedVersion
  // is left to the caller: it gets kInvalidArgument with AwsErrorType() telling.) No response
  // after the last retry: kUnavailable.
  Result<nlohmann::json> CallJson(Service service, std::string_view operation,
                                  const nlohmann::json& body);

  // A REST request (S3): `path_and_query` already URI-encoded ("/bucket/key?x=y"), signed
  // (payload hash included and sent as X-Amz-Content-Sha256, unless the caller set that header,
  // e.g. to UNSIGNED-PAYLOAD), sent with retries on 5xx, 429, SlowDown and other throttling. Any
  // HTTP status is returned (the last answer when retries ran out); AwsErrorFromResponse() turns
  // a failed one into an evs::Error. Transport failures after the last retry are kUnavailable.
  Result<HttpResponse> CallRest(Service service, std::string_view method,
                                std::string_view path_and_query, Headers headers, std::string body);

  const AwsConfig& config() const { return config_; }

 private:
  AwsConfig config_;
  std::unique_ptr<HttpTransport> transport_;
  RetryPolicy retry_;
  std::function<int64_t()> now_;
};

// The evs::Error for a failed (non-2xx) answer, for callers of CallRest: the message is
// "<service> <operation>: <ErrorType>: <message>[ (<resource>)]" with the type and text from the
// XML error document (<Error><Code>NoSuchKey</Code><Message>...</Message></Error>) or a JSON one
// (__type, message), or named after the status for bodiless answers as the SDKs do (a HEAD's 404
// is "NotFound", 403 "Forbidden", 412 "PreconditionFailed"); the code is mapped as in CallJson
// (NoSuchKey, NoSuchBucket, NotFound -> kNotFound; 5xx and throttling -> kUnavailable; other
// 4xx -> kInvalidArgument). `operation` must not contain spaces ("GetObject").
Error AwsErrorFromResponse(Service service, std::string_view operation,
                           const HttpResponse& response, std::string_view resource = {});

// The service error type of an error from CallJson or AwsErrorFromResponse
// ("ConditionalCheckFailedException", "ResourceNotFoundException", "NoSuchKey", ...), also when a
// caller prefixed the message with "context: "; "" for other errors.
std::string AwsErrorType(const Error& error);

}  // namespace evs::aws
