// The AWS client: signing, retries with full-jitter backoff, and service errors mapped to
// evs::Error.
//
// A service error's message is "<service> <operation>: <ErrorType>: <message>", which
// AwsErrorType() reads back, so callers can branch on the type without another channel.
#include "aws/aws_client.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "aws/retry.h"
#include "aws/sigv4.h"
#include "common/backoff.h"
#include "common/strings.h"

namespace evs::aws {
namespace {

constexpr std::array<std::string_view, 3> kServiceNames = {"dynamodb", "kinesis", "s3"};

bool IsOneOf(std::string_view type, std::initializer_list<std::string_view> types) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool IsTypeChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

// At most `limit` bytes of a body for an error message.
std::string Snippet(std::string_view body, size_t limit = 200) {
  std::string out(body.substr(0, limit));
  std::replace(out.begin(), out.end(), '\n', ' ');
  if (body.size() > limit) out += "...";
  return out;
}

// The type and text of a failed answer, as the service put them.
struct ServiceError {
  std::string type;     // "" when the answer did not say
  std::string message;  // "" when the answer did not say
};

// JSON protocol: {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
// "message": "..."}; some services say "Message", and some put the type in x-amzn-ErrorType
// ("ValidationException:http://...").
ServiceError ParseJsonError(const HttpResponse& response) {
  ServiceError error;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    for (const char* key : {"__type", "code", "Code"}) {
      auto it = body.find(key);
      if (it != body.end() && it->is_string()) {
        error.type = it->get<std::string>();
        break;
      }
    }
    for (const char* key : {"message", "Message", "errorMessage"}) {
      auto it = body.find(key);
      if (it != body.end() && it->is_string()) {
        error.message = it->get<std::string>();
        break;
      }
    }
  } else if (!response.body.empty()) {
    error.message = Snippet(response.body);
  }
  if (error.type.empty()) error.type = response.Header("x-amzn-errortype");
  if (size_t colon = error.type.find(':'); colon != std::string::npos) error.type.resize(colon);
  if (size_t hash = error.type.rfind('#'); hash != std::string::npos) {
    error.type = error.type.substr(hash + 1);
  }
  return error;
}

std::string XmlUnescape(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [entity, c] : kEntities) {
        if (text.substr(i).starts_with(entity)) {
          out += c;
          i += entity.size() - 1;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i];
  }
  return out;
}

// The text of the first <name>...</name> in `xml`, or "" (S3 error documents are flat).
std::string XmlElement(std::string_view xml, std::string_view name) {
  std::string open = "<" + std::string(name) + ">";
  std::string close = "</" + std::string(name) + ">";
  size_t start = xml.find(open);
  if (start == std::string_view::npos) return "";
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return "";
  return XmlUnescape(xml.substr(start, end - start));
}

// REST/XML: <Error><Code>NoSuchKey</Code><Message>...</Message></Error>. HEAD answers carry no
// body, so the status names the error as the SDKs do.
ServiceError ParseXmlError(const HttpResponse& response) {
  ServiceError error;
  std::string_view body = response.body;
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '{') return ParseJsonError(response);
  error.type = XmlElement(body, "Code");
  error.message = XmlElement(body, "Message");
  if (error.type.empty()) {
    switch (response.status) {
      case 301:
        error.type = "PermanentRedirect";
        break;
      case 304:
        error.type = "NotModified";
        break;
      case 403:
        error.type = "Forbidden";
        break;
      case 404:
        error.type = "NotFound";
        break;
      case 412:
        error.type = "PreconditionFailed";
        break;
      default:
        break;
    }
  }
  if (error.type.empty() && error.message.empty() && !body.empty()) error.message = Snippet(body);
  return error;
}

bool IsCredentialErrorType(std::string_view type) {
  return IsOneOf(
      type,
      {"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
       "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId",
       "ExpiredToken", "ExpiredTokenException", "MissingAuthenticationToken",
       "MissingAuthenticationTokenException", "IncompleteSignature", "IncompleteSignatureException",
       "InvalidToken", "AuthFailure", "RequestExpired", "RequestTimeTooSkewed", "Forbidden"});
}

ErrorCode CodeFor(int status, std::string_view type) {
  if (IsRetryable(status, type)) return ErrorCode::kUnavailable;  // still failing after retries
  if (IsOneOf(type, {"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound",
                     "NoSuchUpload"}) ||
      (type.empty() && status == 404)) {
    return ErrorCode::kNotFound;
  }
  if (IsOneOf(type, {"ItemCollectionSizeLimitExceededException", "EntityTooLarge",
                     "RequestEntityTooLarge"}) ||
      status == 413) {
    return ErrorCode::kLimitExceeded;
  }
  return ErrorCode::kInvalidArgument;
}

std::string AttemptCount(int count) {
  return count == 1 ? "1 attempt" : std::to_string(count) + " attempts";
}

// "<prefix>: <Type>: <message>", plus what to do where that is known.
Error MakeServiceError(const std::string& prefix, int status, const ServiceError& service,
                       int attempts, std::string_view resource) {
  std::string message = prefix + ": ";
  if (service.type.empty()) {
    message += "HTTP " + std::to_string(status);
  } else {
    message += service.type;
  }
  if (!service.message.empty()) message += ": " + service.message;
  if (!resource.empty()) message += " (" + std::string(resource) + ")";
  if (attempts > 0 && IsRetryable(status, service.type)) {
    message += " (gave up after " + AttemptCount(attempts) + ")";
  }
  if (IsCredentialErrorType(service.type)) {
    message +=
        "; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), "
        "the region (AWS_REGION) and the permissions of the caller";
  }
  return Error::Make(CodeFor(status, service.type), std::move(message));
}

Error MakeTransportError(const std::string& prefix, const Error& last, int attempts) {
  return Error::Make(ErrorCode::kUnavailable, prefix + ": no response after " +
                                                  AttemptCount(attempts) + ": " + last.message);
}

// The last answer of a request sent until it passed or stopped being worth retrying.
struct SendOutcome {
  Result<HttpResponse> last;
  int count = 0;
};

template <class Sign, class ErrorTypeOf>
SendOutcome SendWithRetries(HttpTransport& transport, const RetryPolicy& policy, Sign sign,
                            ErrorTypeOf error_type_of) {
  int max_attempts = std::max(1, policy.max_attempts);
  SendOutcome attempts{Error::Make(ErrorCode::kUnavailable, "not sent"), 0};
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(FullJitterDelay(policy, attempt - 1, JitterRandom()));
    HttpRequest request = sign();  // signed again: the date moves on between attempts
    attempts.last = transport.Send(request);
    attempts.count = attempt + 1;
    if (attempts.last.ok()) {
      const HttpResponse& response = attempts.last.value();
      if (response.status >= 200 && response.status < 300) break;
      if (!IsRetryable(response.status, error_type_of(response))) break;
    }
  }
  return attempts;
}

std::string EndpointBase(const AwsConfig& config, Service service) {
  std::string base = config.Endpoint(service);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An environment variable, or "" (set but empty counts as unset, as in the SDKs).
bool IsHttpUrl(std::string_view url) {
  return (url.starts_with("http://") && url.size() > 7) ||
         (url.starts_with("https://") && url.size() > 8);
}

}  // namespace

std::chrono::milliseconds FullJitterDelay(const RetryPolicy& policy, int retry, uint64_t random) {
  return FullJitter(ExponentialDelay(policy.base_delay, policy.max_delay, retry), random);
}

bool IsThrottlingErrorType(std::string_view type) {
  return IsOneOf(
      type, {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
             "TooManyRequestsException", "ProvisionedThroughputExceededException",
             "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
             "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
             "EC2ThrottledException"});
}

bool IsTransientErrorType(std::string_view type) {
  return IsOneOf(type, {"RequestTimeout", "RequestTimeoutException", "InternalError",
                        "InternalFailure", "InternalServerError", "ServiceUnavailable"});
}

bool IsRetryable(int status, std::string_view type) {
  return status >= 500 || status == 429 || IsThrottlingErrorType(type) ||
         IsTransientErrorType(type);
}

std::string HttpResponse::Header(std::string_view name) const {
  std::string lower = AsciiLower(name);
  for (const auto& [key, value] : headers) {
    if (AsciiLower(key) == lower) return value;
  }
  return "";
}

const char* ServiceName(Service service) {
  switch (service) {
    case Service::kDynamoDb:
      return "dynamodb";
    case Service::kKinesis:
      return "kinesis";
    case Service::kS3:
      return "s3";
  }
  return "unknown";
}

std::string AwsConfig::Endpoint(Service service) const {
  const std::string* custom = service == Service::kDynamoDb  ? &dynamodb_endpoint
                              : service == Service::kKinesis ? &kinesis_endpoint
                                                             : &s3_endpoint;
  if (!custom->empty()) return *custom;
  // The China partition has its own domain.
  std::string domain = region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return "https://" + std::string(ServiceName(service)) + "." + region + "." + domain;
}

Result<AwsConfig> AwsConfigFromEnvironment() {
  AwsConfig config;
  config.credentials.access_key_id = EnvOrEmpty("AWS_ACCESS_KEY_ID");
  config.credentials.secret_access_key = EnvOrEmpty("AWS_SECRET_ACCESS_KEY");
  config.credentials.session_token = EnvOrEmpty("AWS_SESSION_TOKEN");
  for (const auto& [name, value] :
       {std::pair{"AWS_ACCESS_KEY_ID", &config.credentials.access_key_id},
        std::pair{"AWS_SECRET_ACCESS_KEY", &config.credentials.secret_access_key}}) {
    if (value->empty()) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         std::string(name) +
                             " is not set: AWS credentials come from AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)");
    }
  }
  std::string region = EnvOrEmpty("AWS_REGION");
  if (region.empty()) region = EnvOrEmpty("AWS_DEFAULT_REGION");
  if (!region.empty()) config.region = region;

  // A service's own override wins over the general one, as in the SDKs and the CLI.
  std::string general = EnvOrEmpty("AWS_ENDPOINT_URL");
  if (!general.empty() && !IsHttpUrl(general)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "AWS_ENDPOINT_URL is not an http(s) URL: \"" + general + "\"");
  }
  for (const auto& [name, target] :
       {std::pair{"AWS_ENDPOINT_URL_DYNAMODB", &config.dynamodb_endpoint},
        std::pair{"AWS_ENDPOINT_URL_KINESIS", &config.kinesis_endpoint},
        std::pair{"AWS_ENDPOINT_URL_S3", &config.s3_endpoint}}) {
    std::string value = EnvOrEmpty(name);
    if (!value.empty() && !IsHttpUrl(value)) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         std::string(name) + " is not an http(s) URL: \"" + value + "\"");
    }
    *target = value.empty() ? general : value;
  }
  return config;
}

AwsClient::AwsClient(AwsConfig config, std::unique_ptr<HttpTransport> transport, RetryPolicy retry,
                     std::function<int64_t()> now)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      retry_(retry),
      now_(now ? std::move(now) : std::function<int64_t()>(SystemNow)) {}

Result<nlohmann::json> AwsClient::CallJson(Service service, std::string_view operation,
                                           const nlohmann::json& body) {
  std::string prefix = std::string(ServiceName(service)) + " " + std::string(operation);
  const char* content_type = nullptr;
  const char* target_prefix = nullptr;
  switch (service) {
    case Service::kDynamoDb:
      content_type = "application/x-amz-json-1.0";
      target_prefix = "DynamoDB_20120810.";
      break;
    case Service::kKinesis:
      content_type = "application/x-amz-json-1.1";  // Kinesis refuses 1.0
      target_prefix = "Kinesis_20131202.";
      break;
    case Service::kS3:
      return Error::Make(ErrorCode::kInvalidArgument,
                         prefix + ": S3 has no JSON protocol; use CallRest");
  }
  std::string payload = "{}";  // a null body is an operation without parameters
  try {
    if (!body.is_null())
      payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       prefix + ": the request is not valid JSON text: " + e.what());
  }

  HttpRequest unsigned_request;
  unsigned_request.method = "POST";
  unsigned_request.url = EndpointBase(config_, service) + "/";
  unsigned_request.headers = {{"Content-Type", content_type},
                              {"X-Amz-Target", target_prefix + std::string(operation)}};
  unsigned_request.body = std::move(payload);
  SigningParams params;
  params.credentials = &config_.credentials;
  params.region = config_.region;
  params.service = ServiceName(service);
  auto sign = [&] {
    HttpRequest request = unsigned_request;
    params.unix_time = now_();
    SignRequest(request, params);
    return request;
  };
  auto error_type_of = [](const HttpResponse& r) { return ParseJsonError(r).type; };
  SendOutcome attempts = SendWithRetries(*transport_, retry_, sign, error_type_of);
  if (!attempts.last.ok()) return MakeTransportError(prefix, attempts.last.error(), attempts.count);
  const HttpResponse& response = attempts.last.value();
  if (response.status < 200 || response.status >= 300) {
    return MakeServiceError(prefix, response.status, ParseJsonError(response), attempts.count, "");
  }
  if (response.body.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_discarded()) {
    return Error::Make(ErrorCode::kIOError, prefix + ": the response (HTTP " +
                                                std::to_string(response.status) +
                                                ") is not JSON: " + Snippet(response.body));
  }
  return parsed;
}

Result<HttpResponse> AwsClient::CallRest(Service service, std::string_view method,
                                         std::string_view path_and_query, Headers headers,
                                         std::string body) {
  std::string prefix = std::string(ServiceName(service)) + " " + std::string(method);
  if (!path_and_query.starts_with("/")) {
    return Error::Make(ErrorCode::kInvalidArgument, prefix + ": the path must start with '/': \"" +
                                                        std::string(path_and_query) + "\"");
  }
  HttpRequest unsigned_request;
  unsigned_request.method = std::string(method);
  unsigned_request.url = EndpointBase(config_, service) + std::string(path_and_query);
  unsigned_request.headers = std::move(headers);
  unsigned_request.body = std::move(body);
  SigningParams params;
  params.credentials = &config_.credentials;
  params.region = config_.region;
  params.service = ServiceName(service);
  params.add_content_sha256_header = service == Service::kS3;
  auto sign = [&] {
    HttpRequest request = unsigned_request;
    params.unix_time = now_();
    SignRequest(request, params);
    return request;
  };
  auto error_type_of = [](const HttpResponse& r) { return ParseXmlError(r).type; };
  SendOutcome attempts = SendWithRetries(*transport_, retry_, sign, error_type_of);
  if (!attempts.last.ok()) return MakeTransportError(prefix, attempts.last.error(), attempts.count);
  return std::move(attempts.last);
}

Error AwsErrorFromResponse(Service service, std::string_view operation,
                           const HttpResponse& response, std::string_view resource) {
  std::string prefix = std::string(ServiceName(service)) + " " + std::string(operation);
  return MakeServiceError(prefix, response.status, ParseXmlError(response), 0, resource);
}

std::string AwsErrorType(const Error& error) {
  std::string_view message = error.message;
  // "<service> <operation>: <Type>" at the start, or after a caller's "context: ".
  size_t start = 0;
  while (start < message.size()) {
    std::string_view text = message.substr(start);
    for (std::string_view service : kServiceNames) {
      if (!text.starts_with(service) || text.substr(service.size(), 1) != " ") continue;
      std::string_view rest = text.substr(service.size() + 1);
      size_t op_end = rest.find(": ");
      if (op_end == 0 || op_end == std::string_view::npos ||
          rest.substr(0, op_end).find(' ') != std::string_view::npos) {
        continue;
      }
      rest = rest.substr(op_end + 2);
      size_t type_end = 0;
      while (type_end < rest.size() && IsTypeChar(rest[type_end])) ++type_end;
      std::string_view after = rest.substr(type_end);
      bool terminated = after.empty() || after.starts_with(": ") || after.starts_with(" (") ||
                        after.starts_with("; ");
      if (type_end > 0 && rest[0] >= 'A' && rest[0] <= 'Z' && terminated) {
        return std::string(rest.substr(0, type_end));
      }
    }
    size_t next = message.find(": ", start);
    if (next == std::string_view::npos) break;
    start = next + 2;
  }
  return "";
}

}  // namespace evs::aws
