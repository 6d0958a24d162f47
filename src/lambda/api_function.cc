// The api function: an API Gateway HTTP API event (payload format 2.0) becomes an http::Request
// for the same Api that `evs serve` runs, and its Response the proxy answer.
#include <nlohmann/json.hpp>

#include "aws/dynamodb_event_store.h"
#include "aws/kinesis_records.h"
#include "cart/cart_http.h"
#include "cart/cart_reports.h"
#include "evs/http/api.h"
#include "evs/http/responses.h"
#include "lambda/function_registry.h"

namespace evs::lambda {
namespace {

using nlohmann::json;

const json* Find(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string StringOr(const json& object, const char* key, std::string fallback = "") {
  const json* value = Find(object, key);
  return value && value->is_string() ? value->get<std::string>() : fallback;
}

// The request an API Gateway v2 event describes; an error naming what is missing.
Result<http::Request> ToRequest(const json& event) {
  if (!event.is_object() || StringOr(event, "version") != "2.0") {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "not an API Gateway HTTP API event of payload format 2.0 (its \"version\" "
                       "is not \"2.0\")");
  }
  const json* context = Find(event, "requestContext");
  const json* http = context ? Find(*context, "http") : nullptr;
  http::Request request;
  request.method = http ? StringOr(*http, "method") : "";
  const std::string path = StringOr(event, "rawPath");
  if (request.method.empty() || path.empty() || path[0] != '/') {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the event has no requestContext.http.method or no rawPath starting "
                       "with '/'");
  }
  request.target = path;
  const std::string query = StringOr(event, "rawQueryString");
  if (!query.empty()) request.target += "?" + query;
  if (const json* headers = Find(event, "headers"); headers && headers->is_object()) {
    for (const auto& [name, value] : headers->items()) {
      if (value.is_string()) request.headers.emplace_back(name, value.get<std::string>());
    }
  }
  std::string body = StringOr(event, "body");
  const json* encoded = Find(event, "isBase64Encoded");
  if (encoded && encoded->is_boolean() && encoded->get<bool>()) {
    auto decoded = aws::Base64Decode(body);
    if (!decoded.ok()) {
      return Error::Make(
          ErrorCode::kInvalidArgument,
          "the event's body is marked base64 but is not: " + decoded.error().message);
    }
    body = std::move(decoded).value();
  }
  request.body = std::move(body);
  return request;
}

// The proxy answer for a response (headers of one name joined with commas).
std::string ToProxyAnswer(http::Response response) {
  if (response.stream) {
    response = http::Problem(501, "not_implemented",
                             "live streams (Server-Sent Events) need `evs serve`; a Lambda "
                             "answers once");
  }
  json headers = json::object();
  headers["content-type"] = response.content_type;
  for (auto& [name, value] : response.headers) {
    std::string key = name;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (headers.contains(key)) {
      headers[key] = headers[key].get<std::string>() + ", " + value;
    } else {
      headers[key] = value;
    }
  }
  return json{{"statusCode", response.status},
              {"headers", headers},
              {"body", response.body},
              {"isBase64Encoded", false}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

class ApiFunction final : public Function {
 public:
  ApiFunction(std::unique_ptr<EventStore> store, std::unique_ptr<cart::CartReports> reports,
              const FunctionSettings& settings)
      : store_(std::move(store)),
        reports_(std::move(reports)),
        api_(*store_, ApiOptions()),
        cart_(*store_, CartOptions(reports_.get())),
        settings_(settings) {}

  Status Init() { return cart_.Register(api_.routes()); }

  static http::ApiOptions ApiOptions() {
    http::ApiOptions options;
    options.upcaster = cart::CartUpcaster();  // for ?upcast=true
    return options;
  }
  static cart::CartHttpOptions CartOptions(cart::CartReports* reports) {
    cart::CartHttpOptions options;
    options.reports = reports;
    return options;
  }

  Outcome Invoke(const Invocation& invocation) override {
    if (MillisecondsLeft(invocation.deadline_ms) < settings_.deadline_margin.count()) {
      return Outcome::Failed("DeadlineTooClose",
                             "the invocation's deadline is less than " +
                                 std::to_string(settings_.deadline_margin.count()) +
                                 " ms away: not started");
    }
    const json event = json::parse(invocation.event, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) return Outcome::Failed("InvalidEvent", "the event is not JSON");
    auto request = ToRequest(event);
    if (!request.ok()) return Outcome::Failed("InvalidEvent", request.error().message);
    return Outcome::Answer(ToProxyAnswer(api_.Handle(*request)));
  }

 private:
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<cart::CartReports> reports_;
  http::Api api_;
  cart::CartHttp cart_;
  const FunctionSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Function>> NewApiFunction(const FunctionSettings& settings,
                                                 std::shared_ptr<aws::AwsClient> client) {
  DynamoDbStoreOptions options;
  options.table = settings.table;
  auto store = aws::NewDynamoDbEventStore(std::move(client), options);
  if (!store.ok()) return store.error();
  std::unique_ptr<cart::CartReports> reports;
  if (!settings.read_model.empty()) {
    auto opened = cart::CartReports::Open(settings.read_model);
    if (!opened.ok()) return opened.error();
    reports = std::move(opened).value();
  }
  auto function =
      std::make_unique<ApiFunction>(std::move(store).value(), std::move(reports), settings);
  if (auto s = function->Init(); !s) return s.error();
  return std::unique_ptr<Function>(std::move(function));
}

}  // namespace evs::lambda
