#include "lambda/runtime_client.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace evs::lambda {

RuntimeClient::RuntimeClient(std::string endpoint, std::unique_ptr<aws::HttpTransport> transport)
    : base_("http://" + endpoint + "/2018-06-01"), transport_(std::move(transport)) {}

Result<Invocation> RuntimeClient::Next() {
  aws::HttpRequest request;
  request.method = "GET";
  request.url = base_ + "/runtime/invocation/next";
  auto response = transport_->Send(request);
  if (!response.ok()) return response.error();
  if (response->status != 200) {
    return Error::Make(ErrorCode::kUnavailable, "the Runtime API answered next with " +
                                                    std::to_string(response->status) + ": " +
                                                    response->body.substr(0, 200));
  }
  Invocation invocation;
  invocation.request_id = response->Header("lambda-runtime-aws-request-id");
  if (invocation.request_id.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the Runtime API's next invocation has no Lambda-Runtime-Aws-Request-Id");
  }
  const std::string deadline = response->Header("lambda-runtime-deadline-ms");
  std::from_chars(deadline.data(), deadline.data() + deadline.size(), invocation.deadline_ms);
  invocation.function_arn = response->Header("lambda-runtime-invoked-function-arn");
  invocation.trace_id = response->Header("lambda-runtime-trace-id");
  invocation.event = std::move(response->body);
  return invocation;
}

Status RuntimeClient::Respond(const std::string& request_id, const std::string& body) {
  return Post("/runtime/invocation/" + request_id + "/response", body, nullptr);
}

Status RuntimeClient::ReportError(const std::string& request_id, const FunctionError& error) {
  return Post("/runtime/invocation/" + request_id + "/error", "", &error);
}

Status RuntimeClient::ReportInitError(const FunctionError& error) {
  return Post("/runtime/init/error", "", &error);
}

Status RuntimeClient::Post(const std::string& path, const std::string& body,
                           const FunctionError* error) {
  aws::HttpRequest request;
  request.method = "POST";
  request.url = base_ + path;
  request.headers.emplace_back("Content-Type", "application/json");
  if (error != nullptr) {
    request.headers.emplace_back("Lambda-Runtime-Function-Error-Type", error->type);
    request.body = nlohmann::json{{"errorType", error->type},
                                  {"errorMessage", error->message},
                                  {"stackTrace", nlohmann::json::array()}}
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    request.body = body;
  }
  auto response = transport_->Send(request);
  if (!response.ok()) return response.error();
  if (response->status != 202) {
    return Error::Make(ErrorCode::kUnavailable, "the Runtime API answered " + path + " with " +
                                                    std::to_string(response->status) + ": " +
                                                    response->body.substr(0, 200));
  }
  return OkStatus();
}

}  // namespace evs::lambda
