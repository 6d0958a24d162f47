// The AWS client through real components on loopback: libcurl against a cpp-httplib server on
// 127.0.0.1 that plays DynamoDB, Kinesis and S3 (status, headers and bodies as the services
// send them), plus a fault-injecting transport for retry paths that no stand-in produces.
#include "aws/aws_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aws/retry.h"
#include "aws/sigv4.h"

namespace evs::aws {
namespace {

constexpr int64_t kPinnedTime = 1767323045;  // 2026-01-02T03:04:05Z

// What the fake service saw of one request.
struct Seen {
  std::string method;
  std::string target;  // path and query as sent
  httplib::Headers headers;
  std::string body;
  int remote_port = 0;  // the client's side of the connection

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);  // case-insensitive in httplib
    return it == headers.end() ? std::string() : it->second;
  }
  size_t HeaderCount(const std::string& name) const { return headers.count(name); }
};

// A cpp-httplib server on 127.0.0.1 at a free port, answering every method and path with
// `respond(request, response, n)`, n counting requests from 1. Without `keep_alive` it closes
// each connection after one request: httplib's stop() waits for idle kept-alive connections
// (curl keeps them per thread) until their timeout.
class FakeService {
 public:
  using Respond = std::function<void(const httplib::Request&, httplib::Response&, int)>;

  explicit FakeService(Respond respond, bool keep_alive = false) : respond_(std::move(respond)) {
    if (keep_alive) {
      server_.set_keep_alive_timeout(1);
    } else {
      server_.set_keep_alive_max_count(1);
    }
    auto route = [this](const httplib::Request& request, httplib::Response& response) {
      int n = 0;
      {
        std::lock_guard lock(mu_);
        seen_.push_back(
            {request.method, request.target, request.headers, request.body, request.remote_port});
        n = static_cast<int>(seen_.size());
      }
      respond_(request, response, n);
    };
    server_.Get(".*", route);
    server_.Post(".*", route);
    server_.Put(".*", route);
    server_.Delete(".*", route);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeService() {
    server_.stop();
    thread_.join();
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::vector<Seen> Requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int RequestCount() {
    std::lock_guard lock(mu_);
    return static_cast<int>(seen_.size());
  }

 private:
  Respond respond_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

void JsonError(httplib::Response& response, int status, const std::string& type,
               const std::string& message) {
  response.status = status;
  nlohmann::json body = {{"__type", type}, {"message", message}};
  response.set_content(body.dump(), "application/x-amz-json-1.0");
}

void S3Error(httplib::Response& response, int status, const std::string& code,
             const std::string& message) {
  response.status = status;
  response.set_content("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                           "</Code><Message>" + message +
                           "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>",
                       "application/xml");
}

// A port on 127.0.0.1 where nothing listens: bound, read, closed.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

AwsConfig LocalConfig(const std::string& endpoint) {
  AwsConfig config;
  config.credentials = {"AKIDLOCAL", "local-secret", ""};
  config.region = "us-east-1";
  config.dynamodb_endpoint = endpoint;
  config.kinesis_endpoint = endpoint;
  config.s3_endpoint = endpoint;
  return config;
}

RetryPolicy FastRetry(int max_attempts) {
  return RetryPolicy{max_attempts, std::chrono::milliseconds(1), std::chrono::milliseconds(2)};
}

AwsClient LocalClient(const std::string& endpoint, int max_attempts = 4) {
  return AwsClient(LocalConfig(endpoint), NewCurlTransport(), FastRetry(max_attempts),
                   [] { return kPinnedTime; });
}

// Signs what the server received again (the headers the signature names, the body) and checks
// that the result is the Authorization header that came with it: nothing changed on the way.
void ExpectSignatureMatches(const Seen& seen, const std::string& service,
                            const Credentials& credentials, const std::string& endpoint) {
  std::string authorization = seen.Header("Authorization");
  // "AWS4-HMAC-SHA256 Credential=<key>/20260102/us-east-1/<service>/aws4_request,
  // SignedHeaders=<names>, Signature=<64 hex>" (std::regex trips GCC 12 warnings under ASan).
  std::string credential = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id +
                           "/20260102/us-east-1/" + service + "/aws4_request, SignedHeaders=";
  ASSERT_TRUE(authorization.starts_with(credential)) << authorization;
  size_t names_end = authorization.find(", Signature=", credential.size());
  ASSERT_NE(names_end, std::string::npos) << authorization;
  std::string names = authorization.substr(credential.size(), names_end - credential.size());
  std::string signature = authorization.substr(names_end + 12);
  EXPECT_EQ(signature.size(), 64u);
  EXPECT_EQ(signature.find_first_not_of("0123456789abcdef"), std::string::npos) << signature;
  EXPECT_EQ(names.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-;"), std::string::npos);
  HttpRequest again{seen.method, endpoint + seen.target, {}, seen.body};
  for (size_t start = 0; start <= names.size();) {
    size_t end = std::min(names.find(';', start), names.size());
    std::string name = names.substr(start, end - start);
    EXPECT_EQ(seen.HeaderCount(name), 1u) << name;
    again.headers.emplace_back(name, seen.Header(name));
    start = end + 1;
  }
  SigningParams params{&credentials, "us-east-1", service, kPinnedTime, false};
  SignRequest(again, params);
  EXPECT_EQ(again.headers.back().first, "Authorization");
  EXPECT_EQ(again.headers.back().second, authorization);
}

// --- The curl transport -------------------------------------------------------------------

TEST(CurlTransport, SendsMethodHeadersAndBodyAndReadsStatusHeadersAndBody) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    response.status = 201;
    response.set_header("X-Reply-Header", "yes");
    response.set_content("got " + request.body, "text/plain");
  });
  auto transport = NewCurlTransport();
  HttpRequest request{
      "PUT", service.Endpoint() + "/bucket/a%20key?x=1", {{"X-Custom", "a value"}}, "payload"};
  Result<HttpResponse> response = transport->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "got payload");
  EXPECT_EQ(response->Header("X-REPLY-HEADER"), "yes");
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("absent"), "");
  for (const auto& [name, value] : response->headers) {
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << "not lower-cased: " << name;
  }

  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/bucket/a%20key?x=1");
  EXPECT_EQ(seen[0].body, "payload");
  EXPECT_EQ(seen[0].Header("X-Custom"), "a value");
  EXPECT_EQ(seen[0].Header("Content-Length"), "7");
  // No header that the signature does not know of and the server might reject.
  EXPECT_EQ(seen[0].HeaderCount("Content-Type"), 0u);
  EXPECT_EQ(seen[0].HeaderCount("Expect"), 0u);
}

TEST(CurlTransport, GetHeadDeleteAndEmptyPut) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    response.status = request.method == "DELETE" ? 204 : 200;
    if (request.method != "DELETE") response.set_content("0123456789", "application/octet-stream");
  });
  auto transport = NewCurlTransport();
  Result<HttpResponse> get = transport->Send({"GET", service.Endpoint() + "/b/k", {}, ""});
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(get->body, "0123456789");

  // HEAD: the length of a body that is not sent, and no wait for it.
  Result<HttpResponse> head = transport->Send({"HEAD", service.Endpoint() + "/b/k", {}, ""});
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), "10");
  EXPECT_EQ(head->body, "");

  Result<HttpResponse> del = transport->Send({"DELETE", service.Endpoint() + "/b/k", {}, ""});
  ASSERT_TRUE(del.ok()) << del.error().message;
  EXPECT_EQ(del->status, 204);

  Result<HttpResponse> put = transport->Send({"PUT", service.Endpoint() + "/b/empty", {}, ""});
  ASSERT_TRUE(put.ok()) << put.error().message;

  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[1].method, "HEAD");
  EXPECT_EQ(seen[2].method, "DELETE");
  EXPECT_EQ(seen[3].method, "PUT");
  EXPECT_EQ(seen[3].Header("Content-Length"), "0");
}

TEST(CurlTransport, KeepsTheConnectionAliveBetweenRequests) {
  FakeService service([](const httplib::Request&, httplib::Response& response,
                         int) { response.set_content("{}", "application/json"); },
                      /*keep_alive=*/true);
  auto transport = NewCurlTransport();
  for (int i = 0; i < 3; ++i) {
    Result<HttpResponse> response = transport->Send({"POST", service.Endpoint() + "/", {}, "{}"});
    ASSERT_TRUE(response.ok()) << response.error().message;
  }
  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].remote_port, seen[0].remote_port);
  EXPECT_EQ(seen[2].remote_port, seen[0].remote_port);
}

TEST(CurlTransport, ConnectionRefusedIsUnavailableAndNamesTheUrl) {
  auto transport = NewCurlTransport();
  std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/";
  Result<HttpResponse> response = transport->Send({"POST", url, {}, "{}"});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message.find("POST " + url), std::string::npos)
      << response.error().message;
}

TEST(CurlTransport, TimeoutIsUnavailable) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    response.set_content("late", "text/plain");
  });
  auto transport =
      NewCurlTransport({std::chrono::milliseconds(1000), std::chrono::milliseconds(100)});
  Result<HttpResponse> response = transport->Send({"GET", service.Endpoint() + "/", {}, ""});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
}

TEST(CurlTransport, ThreadsShareOneTransport) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    response.set_content(request.body, "text/plain");
  });
  auto transport = NewCurlTransport();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string body = std::to_string(t) + "/" + std::to_string(i);
        Result<HttpResponse> response = transport->Send(
            {"POST", service.Endpoint() + "/", {{"Content-Type", "text/plain"}}, body});
        if (response.ok() && response->body == body) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 160);
}

// --- The JSON protocol ----------------------------------------------------------------------

TEST(AwsClientJson, DynamoDbContentTypeTargetAndSignature) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content(R"({"Item":{"Uuid":{"S":"cart-1"}}})", "application/x-amz-json-1.0");
  });
  AwsClient client = LocalClient(service.Endpoint());
  nlohmann::json request = {{"TableName", "Aggregates"}, {"Key", {{"Uuid", {{"S", "cart-1"}}}}}};
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "GetItem", request);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ((*reply)["Item"]["Uuid"]["S"], "cart-1");

  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/");
  EXPECT_EQ(seen[0].Header("Content-Type"), "application/x-amz-json-1.0");
  EXPECT_EQ(seen[0].Header("X-Amz-Target"), "DynamoDB_20120810.GetItem");
  EXPECT_EQ(seen[0].Header("X-Amz-Date"), "20260102T030405Z");
  EXPECT_EQ(seen[0].Header("Host"), "127.0.0.1:" + std::to_string(service.port()));
  EXPECT_EQ(nlohmann::json::parse(seen[0].body, nullptr, false), request);
  EXPECT_EQ(seen[0].HeaderCount("X-Amz-Content-Sha256"), 0u);
  EXPECT_EQ(seen[0].HeaderCount("X-Amz-Security-Token"), 0u);
  EXPECT_NE(seen[0]
                .Header("Authorization")
                .find("SignedHeaders=content-type;host;x-amz-date;x-amz-target,"),
            std::string::npos);
  ExpectSignatureMatches(seen[0], "dynamodb", client.config().credentials, service.Endpoint());
}

TEST(AwsClientJson, KinesisUsesJson11AndItsTarget) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content(R"({"FailedRecordCount":0,"Records":[]})", "application/x-amz-json-1.1");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply =
      client.CallJson(Service::kKinesis, "PutRecords", {{"StreamName", "events"}});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ((*reply)["FailedRecordCount"], 0);
  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(seen[0].Header("X-Amz-Target"), "Kinesis_20131202.PutRecords");
  ExpectSignatureMatches(seen[0], "kinesis", client.config().credentials, service.Endpoint());
}

TEST(AwsClientJson, SessionTokenIsSentAndSigned) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content("{}", "application/x-amz-json-1.0");
  });
  AwsConfig config = LocalConfig(service.Endpoint());
  config.credentials.session_token = "session-token/with+chars==";
  AwsClient client(config, NewCurlTransport(), FastRetry(2), [] { return kPinnedTime; });
  ASSERT_TRUE(client.CallJson(Service::kDynamoDb, "ListTables", nlohmann::json::object()).ok());
  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("X-Amz-Security-Token"), "session-token/with+chars==");
  EXPECT_NE(seen[0].Header("Authorization").find(";x-amz-security-token;"), std::string::npos);
  ExpectSignatureMatches(seen[0], "dynamodb", config.credentials, service.Endpoint());
}

TEST(AwsClientJson, EmptyBodyIsAnEmptyObjectAndBadJsonIsAnError) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    response.status = 200;
    if (request.get_header_value("X-Amz-Target").ends_with("Bad")) {
      response.set_content("{not json", "application/x-amz-json-1.0");
    }
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> empty = client.CallJson(Service::kDynamoDb, "Empty", {});
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(*empty, nlohmann::json::object());
  Result<nlohmann::json> bad = client.CallJson(Service::kDynamoDb, "Bad", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kIOError);
  EXPECT_NE(bad.error().message.find("dynamodb Bad: the response (HTTP 200) is not JSON"),
            std::string::npos)
      << bad.error().message;
}

TEST(AwsClientJson, InvalidUtf8InTheRequestIsRefusedBeforeSending) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content("{}", "application/x-amz-json-1.0");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply =
      client.CallJson(Service::kDynamoDb, "PutItem", {{"TableName", std::string("\xff\xfe")}});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(service.RequestCount(), 0);
}

TEST(AwsClientRetry, ServerErrorsAreRetriedUntilTheServiceAnswers) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int n) {
    if (n == 1) {
      JsonError(response, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "Internal server error");
    } else if (n == 2) {
      response.status = 503;
      response.set_content("<html>Service Unavailable</html>", "text/html");
    } else {
      response.set_content(R"({"TableNames":[]})", "application/x-amz-json-1.0");
    }
  });
  AwsClient client = LocalClient(service.Endpoint(), 5);
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "ListTables", {});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(service.RequestCount(), 3);
}

TEST(AwsClientRetry, ThrottlingIsRetriedAndStopsAtMaxAttempts) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    JsonError(response, 400, "com.amazonaws.dynamodb.v20120810#ThrottlingException",
              "Rate of requests exceeds the allowed throughput.");
  });
  AwsClient client = LocalClient(service.Endpoint(), 4);
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "PutItem", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(service.RequestCount(), 4);
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(reply.error().message,
            "dynamodb PutItem: ThrottlingException: Rate of requests exceeds the allowed "
            "throughput. (gave up after 4 attempts)");
  EXPECT_EQ(AwsErrorType(reply.error()), "ThrottlingException");
  // Each attempt is signed again.
  for (const Seen& seen : service.Requests()) {
    EXPECT_EQ(seen.HeaderCount("Authorization"), 1u);
  }
}

TEST(AwsClientRetry, KinesisProvisionedThroughputExceededIsRetried) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int n) {
    if (n < 3) {
      JsonError(response, 400, "ProvisionedThroughputExceededException", "Rate exceeded for shard");
    } else {
      response.set_content(R"({"Records":[]})", "application/x-amz-json-1.1");
    }
  });
  AwsClient client = LocalClient(service.Endpoint(), 4);
  ASSERT_TRUE(client.CallJson(Service::kKinesis, "GetRecords", {}).ok());
  EXPECT_EQ(service.RequestCount(), 3);
}

TEST(AwsClientRetry, ServiceUnavailableStopsAtMaxAttempts) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.status = 503;
    response.set_content("<html>Service Unavailable</html>", "text/html");
  });
  AwsClient client = LocalClient(service.Endpoint(), 3);
  Result<nlohmann::json> reply = client.CallJson(Service::kKinesis, "ListShards", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(service.RequestCount(), 3);
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(reply.error().message,
            "kinesis ListShards: HTTP 503: <html>Service Unavailable</html> (gave up after 3 "
            "attempts)");
  EXPECT_EQ(AwsErrorType(reply.error()), "");
}

TEST(AwsClientRetry, ConnectionRefusedIsUnavailableAfterTheRetries) {
  std::string endpoint = "http://127.0.0.1:" + std::to_string(ClosedPort());
  AwsClient client = LocalClient(endpoint, 3);
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "ListTables", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(
      reply.error().message.starts_with("dynamodb ListTables: no response after 3 attempts: "
                                        "POST " +
                                        endpoint + "/: "))
      << reply.error().message;
  EXPECT_EQ(AwsErrorType(reply.error()), "");
}

TEST(AwsClientErrors, ValidationExceptionIsNotRetriedAndKeepsTheServiceText) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    JsonError(response, 400, "com.amazon.coral.validate#ValidationException",
              "One or more parameter values were invalid: Missing the key Uuid");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "PutItem", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(service.RequestCount(), 1);
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(reply.error().message,
            "dynamodb PutItem: ValidationException: One or more parameter values were invalid: "
            "Missing the key Uuid");
  EXPECT_EQ(AwsErrorType(reply.error()), "ValidationException");
}

TEST(AwsClientErrors, ConditionalCheckFailedIsIdentifiable) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    JsonError(response, 400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
              "The conditional request failed");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "PutItem", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(service.RequestCount(), 1);
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(AwsErrorType(reply.error()), "ConditionalCheckFailedException");
  // Still readable when a caller adds context in front.
  Error wrapped = reply.error();
  wrapped.message = "append to cart-1: " + wrapped.message;
  EXPECT_EQ(AwsErrorType(wrapped), "ConditionalCheckFailedException");
}

TEST(AwsClientErrors, ResourceNotFoundIsNotFoundWithEitherMessageSpelling) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.status = 400;
    response.set_content(
        R"({"__type":"ResourceNotFoundException","Message":"Stream events under account 000000000000 not found."})",
        "application/x-amz-json-1.1");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply = client.CallJson(Service::kKinesis, "DescribeStream", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(reply.error().message,
            "kinesis DescribeStream: ResourceNotFoundException: Stream events under account "
            "000000000000 not found.");
  EXPECT_EQ(service.RequestCount(), 1);
}

TEST(AwsClientErrors, BadCredentialsSayWhatToCheck) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    JsonError(response, 400, "com.amazon.coral.service#UnrecognizedClientException",
              "The security token included in the request is invalid.");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "ListTables", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(service.RequestCount(), 1);
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(AwsErrorType(reply.error()), "UnrecognizedClientException");
  EXPECT_NE(reply.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST(AwsClientErrors, ErrorTypeFromTheHeaderWhenTheBodyHasNone) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.status = 400;
    response.set_header("x-amzn-ErrorType",
                        "InvalidSignatureException:http://internal.amazon.com/");
    response.set_content(R"({"message":"Signature expired"})", "application/x-amz-json-1.0");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "ListTables", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(AwsErrorType(reply.error()), "InvalidSignatureException");
  EXPECT_TRUE(reply.error().message.starts_with(
      "dynamodb ListTables: InvalidSignatureException: Signature expired"));
}

TEST(AwsErrorType, OnlyForServiceErrors) {
  EXPECT_EQ(AwsErrorType(Error::Make(ErrorCode::kIOError, "disk full")), "");
  EXPECT_EQ(AwsErrorType(Error::Make(ErrorCode::kInvalidArgument, "dynamodb PutItem: HTTP 400")),
            "");
  EXPECT_EQ(AwsErrorType(Error::Make(ErrorCode::kInvalidArgument, "s3 HEAD: NotFound (/b/k)")),
            "NotFound");
  EXPECT_EQ(AwsErrorType(Error::Make(ErrorCode::kInvalidArgument, "dynamodb PutItem: X")), "X");
  EXPECT_EQ(AwsErrorType(Error::Make(ErrorCode::kInvalidArgument, "sqlite PutItem: X: y")), "");
}

// --- S3 over REST -----------------------------------------------------------------------------

TEST(AwsClientRest, PutAndGetAreSignedWithThePayloadHash) {
  std::mutex mu;
  std::map<std::string, std::string> objects;
  FakeService service([&](const httplib::Request& request, httplib::Response& response, int) {
    std::lock_guard lock(mu);
    if (request.method == "PUT") {
      objects[request.target] = request.body;
      response.set_header("ETag", "\"etag\"");
    } else if (objects.count(request.target) != 0) {
      response.set_content(objects[request.target], "application/octet-stream");
    } else {
      S3Error(response, 404, "NoSuchKey", "The specified key does not exist.");
    }
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<HttpResponse> put = client.CallRest(Service::kS3, "PUT", "/archive/events/0001.seg",
                                             {{"Content-Type", "application/zstd"}}, "segment");
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->Header("etag"), "\"etag\"");
  Result<HttpResponse> get =
      client.CallRest(Service::kS3, "GET", "/archive/events/0001.seg", {}, "");
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(get->body, "segment");

  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].Header("X-Amz-Content-Sha256"), Sha256Hex("segment"));
  EXPECT_EQ(seen[0].Header("Content-Type"), "application/zstd");
  EXPECT_EQ(seen[1].Header("X-Amz-Content-Sha256"), Sha256Hex(""));
  ExpectSignatureMatches(seen[0], "s3", client.config().credentials, service.Endpoint());
  ExpectSignatureMatches(seen[1], "s3", client.config().credentials, service.Endpoint());
}

TEST(AwsClientRest, QueryAndUnsignedPayloadAreSignedAsSent) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content("<ListBucketResult></ListBucketResult>", "application/xml");
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<HttpResponse> list =
      client.CallRest(Service::kS3, "GET",
                      "/archive?list-type=2&prefix=events%2F&continuation-token=a%2Bb%3D", {}, "");
  ASSERT_TRUE(list.ok()) << list.error().message;
  Result<HttpResponse> put = client.CallRest(
      Service::kS3, "PUT", "/archive/big", {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}}, "data");
  ASSERT_TRUE(put.ok()) << put.error().message;
  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/archive?list-type=2&prefix=events%2F&continuation-token=a%2Bb%3D");
  ExpectSignatureMatches(seen[0], "s3", client.config().credentials, service.Endpoint());
  EXPECT_EQ(seen[1].HeaderCount("X-Amz-Content-Sha256"), 1u);
  EXPECT_EQ(seen[1].Header("X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD");
  ExpectSignatureMatches(seen[1], "s3", client.config().credentials, service.Endpoint());
}

TEST(AwsClientRest, XmlErrorsAreReturnedUnretriedAndMapped) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    if (request.path == "/archive/missing") {
      S3Error(response, 404, "NoSuchKey", "The specified key does not exist.");
    } else if (request.path == "/nobucket/x") {
      S3Error(response, 404, "NoSuchBucket", "The specified bucket does not exist");
    } else {
      S3Error(response, 403, "AccessDenied", "Access Denied &amp; logged");
    }
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<HttpResponse> missing = client.CallRest(Service::kS3, "GET", "/archive/missing", {}, "");
  ASSERT_TRUE(missing.ok()) << missing.error().message;
  EXPECT_EQ(missing->status, 404);
  Error error = AwsErrorFromResponse(Service::kS3, "GetObject", *missing, "archive/missing");
  EXPECT_EQ(error.code, ErrorCode::kNotFound);
  EXPECT_EQ(error.message,
            "s3 GetObject: NoSuchKey: The specified key does not exist. (archive/missing)");
  EXPECT_EQ(AwsErrorType(error), "NoSuchKey");

  Result<HttpResponse> bucket = client.CallRest(Service::kS3, "GET", "/nobucket/x?a=b", {}, "");
  ASSERT_TRUE(bucket.ok()) << bucket.error().message;
  error = AwsErrorFromResponse(Service::kS3, "GetObject", *bucket);
  EXPECT_EQ(error.code, ErrorCode::kNotFound);
  EXPECT_EQ(error.message, "s3 GetObject: NoSuchBucket: The specified bucket does not exist");

  Result<HttpResponse> denied = client.CallRest(Service::kS3, "PUT", "/archive/k", {}, "x");
  ASSERT_TRUE(denied.ok()) << denied.error().message;
  EXPECT_EQ(denied->status, 403);
  error = AwsErrorFromResponse(Service::kS3, "PutObject", *denied, "archive/k");
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(error.message.starts_with(
      "s3 PutObject: AccessDenied: Access Denied & logged (archive/k); check the credentials"))
      << error.message;
  EXPECT_EQ(AwsErrorType(error), "AccessDenied");
  EXPECT_EQ(service.RequestCount(), 3);  // none retried
}

TEST(AwsClientRest, BodilessAnswersAreNamedAfterTheirStatus) {
  FakeService service([](const httplib::Request& request, httplib::Response& response, int) {
    response.status = request.path == "/archive/k" ? 404 : 412;
  });
  AwsClient client = LocalClient(service.Endpoint());
  Result<HttpResponse> head = client.CallRest(Service::kS3, "HEAD", "/archive/k", {}, "");
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 404);
  Error error = AwsErrorFromResponse(Service::kS3, "HeadObject", *head);
  EXPECT_EQ(error.code, ErrorCode::kNotFound);
  EXPECT_EQ(error.message, "s3 HeadObject: NotFound");
  EXPECT_EQ(AwsErrorType(error), "NotFound");

  Result<HttpResponse> put =
      client.CallRest(Service::kS3, "PUT", "/archive/other", {{"If-None-Match", "*"}}, "x");
  ASSERT_TRUE(put.ok()) << put.error().message;
  error = AwsErrorFromResponse(Service::kS3, "PutObject", *put);
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(AwsErrorType(error), "PreconditionFailed");
  EXPECT_EQ(service.RequestCount(), 2);
}

TEST(AwsClientRest, SlowDownAndInternalErrorAreRetried) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int n) {
    if (n == 1) {
      S3Error(response, 503, "SlowDown", "Please reduce your request rate.");
    } else if (n == 2) {
      S3Error(response, 500, "InternalError", "We encountered an internal error.");
    } else {
      response.set_content("ok", "text/plain");
    }
  });
  AwsClient client = LocalClient(service.Endpoint(), 4);
  Result<HttpResponse> get = client.CallRest(Service::kS3, "GET", "/archive/k", {}, "");
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "ok");
  EXPECT_EQ(service.RequestCount(), 3);
}

TEST(AwsClientRest, SlowDownStopsAtMaxAttemptsWithTheLastAnswer) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    S3Error(response, 503, "SlowDown", "Please reduce your request rate.");
  });
  AwsClient client = LocalClient(service.Endpoint(), 3);
  Result<HttpResponse> put = client.CallRest(Service::kS3, "PUT", "/archive/k", {}, "x");
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->status, 503);
  EXPECT_EQ(service.RequestCount(), 3);
  Error error = AwsErrorFromResponse(Service::kS3, "PutObject", *put, "archive/k");
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(error.message, "s3 PutObject: SlowDown: Please reduce your request rate. (archive/k)");
  EXPECT_EQ(AwsErrorType(error), "SlowDown");
}

TEST(AwsClientRest, ConnectionRefusedIsUnavailableAfterTheRetries) {
  std::string endpoint = "http://127.0.0.1:" + std::to_string(ClosedPort());
  AwsClient client = LocalClient(endpoint, 2);
  Result<HttpResponse> get = client.CallRest(Service::kS3, "GET", "/archive/k", {}, "");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(get.error().message.starts_with("s3 GET: no response after 2 attempts: GET " +
                                              endpoint + "/archive/k: "))
      << get.error().message;
}

// --- Retries without a network: a fault-injecting transport -----------------------------------

// Answers 200 "{}" to everything, counting requests.
class StubTransport : public HttpTransport {
 public:
  Result<HttpResponse> Send(const HttpRequest&) override {
    ++calls;
    HttpResponse response;
    response.status = 200;
    response.body = R"({"ok":true})";
    return response;
  }
  std::atomic<int> calls{0};
};

// Wraps a transport and replaces the first answers by scripted faults; records what was sent.
class FaultInjectingTransport : public HttpTransport {
 public:
  enum class Fault { kNone, kNoResponse, kServerError, kThrottled, kValidation };

  FaultInjectingTransport(HttpTransport* inner, std::vector<Fault> script)
      : inner_(inner), script_(std::move(script)) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard lock(mu_);
    sent_.push_back(request);
    size_t n = sent_.size() - 1;
    Fault fault = n < script_.size() ? script_[n] : Fault::kNone;
    HttpResponse response;
    switch (fault) {
      case Fault::kNone:
        return inner_->Send(request);
      case Fault::kNoResponse:
        return Error::Make(ErrorCode::kUnavailable,
                           request.method + " " + request.url + ": injected: connection reset");
      case Fault::kServerError:
        response.status = 500;
        response.body = R"({"__type":"InternalFailure"})";
        return response;
      case Fault::kThrottled:
        response.status = 400;
        response.body = R"({"__type":"LimitExceededException","message":"Rate exceeded"})";
        return response;
      case Fault::kValidation:
        response.status = 400;
        response.body = R"({"__type":"InvalidArgumentException","message":"bad"})";
        return response;
    }
    return response;
  }

  std::vector<HttpRequest> Sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  HttpTransport* inner_;
  std::vector<Fault> script_;
  std::mutex mu_;
  std::vector<HttpRequest> sent_;
};

using Fault = FaultInjectingTransport::Fault;

std::string SentHeader(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST(AwsClientFaults, LostAndThrottledAttemptsAreRetriedAndSignedAgain) {
  StubTransport stub;
  auto faults = std::make_unique<FaultInjectingTransport>(
      &stub, std::vector<Fault>{Fault::kNoResponse, Fault::kThrottled, Fault::kServerError});
  FaultInjectingTransport* wrapper = faults.get();
  int64_t clock = kPinnedTime;
  AwsClient client(LocalConfig("http://127.0.0.1:9"), std::move(faults), FastRetry(5),
                   [&clock] { return clock++; });
  Result<nlohmann::json> reply = client.CallJson(Service::kKinesis, "GetRecords", {});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ((*reply)["ok"], true);
  EXPECT_EQ(stub.calls.load(), 1);
  std::vector<HttpRequest> sent = wrapper->Sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(SentHeader(sent[0], "X-Amz-Date"), "20260102T030405Z");
  EXPECT_EQ(SentHeader(sent[3], "X-Amz-Date"), "20260102T030408Z");
  EXPECT_NE(SentHeader(sent[0], "Authorization"), SentHeader(sent[3], "Authorization"));
}

TEST(AwsClientFaults, EveryAttemptLostIsUnavailableAfterMaxAttempts) {
  StubTransport stub;
  std::vector<Fault> script(10, Fault::kNoResponse);
  auto faults = std::make_unique<FaultInjectingTransport>(&stub, script);
  FaultInjectingTransport* wrapper = faults.get();
  AwsClient client(LocalConfig("http://127.0.0.1:9"), std::move(faults), FastRetry(5));
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "PutItem", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(reply.error().message,
            "dynamodb PutItem: no response after 5 attempts: POST http://127.0.0.1:9/: injected: "
            "connection reset");
  EXPECT_EQ(wrapper->Sent().size(), 5u);
  EXPECT_EQ(stub.calls.load(), 0);
}

TEST(AwsClientFaults, ClientErrorsEndTheRetries) {
  StubTransport stub;
  auto faults = std::make_unique<FaultInjectingTransport>(
      &stub, std::vector<Fault>{Fault::kServerError, Fault::kValidation});
  FaultInjectingTransport* wrapper = faults.get();
  AwsClient client(LocalConfig("http://127.0.0.1:9"), std::move(faults), FastRetry(5));
  Result<nlohmann::json> reply = client.CallJson(Service::kKinesis, "PutRecords", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(reply.error().message, "kinesis PutRecords: InvalidArgumentException: bad");
  EXPECT_EQ(wrapper->Sent().size(), 2u);
  EXPECT_EQ(stub.calls.load(), 0);
}

TEST(AwsClientFaults, OneAttemptWhenRetriesAreOff) {
  StubTransport stub;
  auto faults = std::make_unique<FaultInjectingTransport>(
      &stub, std::vector<Fault>{Fault::kThrottled, Fault::kThrottled});
  FaultInjectingTransport* wrapper = faults.get();
  AwsClient client(LocalConfig("http://127.0.0.1:9"), std::move(faults), FastRetry(1));
  Result<nlohmann::json> reply = client.CallJson(Service::kKinesis, "GetRecords", {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(AwsErrorType(reply.error()), "LimitExceededException");
  EXPECT_NE(reply.error().message.find("(gave up after 1 attempt)"), std::string::npos);
  EXPECT_EQ(wrapper->Sent().size(), 1u);
}

// The wrapper in front of libcurl on loopback: injected losses never reach the server.
TEST(AwsClientFaults, InjectedLossesInFrontOfCurl) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content(R"({"TableNames":["t"]})", "application/x-amz-json-1.0");
  });
  std::unique_ptr<HttpTransport> curl = NewCurlTransport();
  auto faults = std::make_unique<FaultInjectingTransport>(
      curl.get(), std::vector<Fault>{Fault::kNoResponse, Fault::kNoResponse});
  AwsClient client(LocalConfig(service.Endpoint()), std::move(faults), FastRetry(3));
  Result<nlohmann::json> reply = client.CallJson(Service::kDynamoDb, "ListTables", {});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ((*reply)["TableNames"][0], "t");
  EXPECT_EQ(service.RequestCount(), 1);
}

TEST(RetryPolicy, FullJitterStaysUnderTheExponentialCeilingAndTheCap) {
  RetryPolicy policy{8, std::chrono::milliseconds(25), std::chrono::milliseconds(2000)};
  for (int retry = 0; retry < 12; ++retry) {
    int64_t ceiling = std::min<int64_t>(2000, int64_t{25} << retry);
    for (uint64_t random : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, ~uint64_t{0}}) {
      auto delay = FullJitterDelay(policy, retry, random).count();
      EXPECT_GE(delay, 0);
      EXPECT_LT(delay, ceiling) << "retry " << retry;
    }
  }
  EXPECT_EQ(FullJitterDelay(policy, 0, 0).count(), 0);
  EXPECT_EQ(FullJitterDelay(policy, 3, 199).count(), 199);       // ceiling 200
  EXPECT_EQ(FullJitterDelay(policy, 1000, 1999).count(), 1999);  // no overflow, capped
  EXPECT_EQ(FullJitterDelay({3, std::chrono::milliseconds(0), std::chrono::milliseconds(0)}, 2, 7)
                .count(),
            0);
}

TEST(RetryPolicy, WhatIsRetried) {
  EXPECT_TRUE(IsRetryable(500, ""));
  EXPECT_TRUE(IsRetryable(503, "SlowDown"));
  EXPECT_TRUE(IsRetryable(429, ""));
  EXPECT_TRUE(IsRetryable(400, "ThrottlingException"));
  EXPECT_TRUE(IsRetryable(400, "ProvisionedThroughputExceededException"));
  EXPECT_TRUE(IsRetryable(400, "RequestLimitExceeded"));
  EXPECT_TRUE(IsRetryable(400, "RequestTimeout"));
  EXPECT_FALSE(IsRetryable(400, "ValidationException"));
  EXPECT_FALSE(IsRetryable(400, "ConditionalCheckFailedException"));
  EXPECT_FALSE(IsRetryable(400, "ResourceNotFoundException"));
  EXPECT_FALSE(IsRetryable(403, "AccessDenied"));
  EXPECT_FALSE(IsRetryable(404, "NoSuchKey"));
}

// --- Settings from the environment -------------------------------------------------------------

class AwsEnvironment : public ::testing::Test {
 protected:
  static constexpr const char* kVariables[] = {
      "AWS_ACCESS_KEY_ID",         "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",         "AWS_REGION",
      "AWS_DEFAULT_REGION",        "AWS_ENDPOINT_URL",
      "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KINESIS",
      "AWS_ENDPOINT_URL_S3"};

  void SetUp() override {
    for (const char* name : kVariables) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
    Set("AWS_ACCESS_KEY_ID", "AKIDENV");
    Set("AWS_SECRET_ACCESS_KEY", "env-secret");
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  static void Set(const char* name, const char* value) { ::setenv(name, value, 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(AwsEnvironment, CredentialsAndDefaults) {
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(config->credentials.secret_access_key, "env-secret");
  EXPECT_EQ(config->credentials.session_token, "");
  EXPECT_EQ(config->region, "us-east-1");
  EXPECT_EQ(config->Endpoint(Service::kDynamoDb), "https://dynamodb.us-east-1.amazonaws.com");
  EXPECT_EQ(config->Endpoint(Service::kKinesis), "https://kinesis.us-east-1.amazonaws.com");
  EXPECT_EQ(config->Endpoint(Service::kS3), "https://s3.us-east-1.amazonaws.com");

  Set("AWS_SESSION_TOKEN", "token");
  config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->credentials.session_token, "token");
}

TEST_F(AwsEnvironment, MissingCredentialsNameTheVariable) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(config.error().message.starts_with("AWS_ACCESS_KEY_ID is not set"));

  Set("AWS_ACCESS_KEY_ID", "AKIDENV");
  Set("AWS_SECRET_ACCESS_KEY", "");
  config = AwsConfigFromEnvironment();
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(config.error().message.starts_with("AWS_SECRET_ACCESS_KEY is not set"));
}

TEST_F(AwsEnvironment, RegionPrefersAwsRegionOverAwsDefaultRegion) {
  Set("AWS_DEFAULT_REGION", "eu-west-1");
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->region, "eu-west-1");
  EXPECT_EQ(config->Endpoint(Service::kS3), "https://s3.eu-west-1.amazonaws.com");
  Set("AWS_REGION", "ap-south-1");
  config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->region, "ap-south-1");
}

TEST_F(AwsEnvironment, ServiceEndpointOverridesTheGeneralOne) {
  Set("AWS_ENDPOINT_URL", "http://127.0.0.1:4566");
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Endpoint(Service::kDynamoDb), "http://127.0.0.1:4566");
  EXPECT_EQ(config->Endpoint(Service::kKinesis), "http://127.0.0.1:4566");
  EXPECT_EQ(config->Endpoint(Service::kS3), "http://127.0.0.1:4566");

  Set("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000");
  Set("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567");
  config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Endpoint(Service::kDynamoDb), "http://127.0.0.1:8000");
  EXPECT_EQ(config->Endpoint(Service::kKinesis), "http://127.0.0.1:4567");
  EXPECT_EQ(config->Endpoint(Service::kS3), "http://127.0.0.1:4566");

  ::unsetenv("AWS_ENDPOINT_URL");
  Set("AWS_ENDPOINT_URL_S3", "https://127.0.0.1:4569");
  config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Endpoint(Service::kDynamoDb), "http://127.0.0.1:8000");
  EXPECT_EQ(config->Endpoint(Service::kS3), "https://127.0.0.1:4569");
}

TEST_F(AwsEnvironment, EndpointMustBeAnHttpUrl) {
  Set("AWS_ENDPOINT_URL_KINESIS", "127.0.0.1:4567");
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(config.error().message.find("AWS_ENDPOINT_URL_KINESIS"), std::string::npos);
  ::unsetenv("AWS_ENDPOINT_URL_KINESIS");
  Set("AWS_ENDPOINT_URL", "ftp://127.0.0.1");
  config = AwsConfigFromEnvironment();
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(config.error().message.starts_with("AWS_ENDPOINT_URL is not"));
}

// The configuration from the environment drives a client end to end.
TEST_F(AwsEnvironment, ClientFromTheEnvironmentReachesTheOverride) {
  FakeService service([](const httplib::Request&, httplib::Response& response, int) {
    response.set_content("{}", "application/x-amz-json-1.1");
  });
  Set("AWS_ENDPOINT_URL_KINESIS", (service.Endpoint() + "/").c_str());
  Set("AWS_REGION", "us-east-1");
  Result<AwsConfig> config = AwsConfigFromEnvironment();
  ASSERT_TRUE(config.ok()) << config.error().message;
  AwsClient client(*config, NewCurlTransport(), FastRetry(2), [] { return kPinnedTime; });
  ASSERT_TRUE(client.CallJson(Service::kKinesis, "ListStreams", {}).ok());
  std::vector<Seen> seen = service.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/");
  ExpectSignatureMatches(seen[0], "kinesis", config->credentials, service.Endpoint());
}

}  // namespace
}  // namespace evs::aws
