// The Lambda Runtime API (version 2018-06-01) as a custom runtime speaks it: ask for the next
// invocation, then post its response or its error; an error during start-up is posted as an init
// error. The API is plain HTTP at $AWS_LAMBDA_RUNTIME_API (host:port).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "aws/aws_client.h"
#include "evs/status.h"

namespace evs::lambda {

// One invocation as the Runtime API hands it over.
struct Invocation {
  std::string request_id;    // Lambda-Runtime-Aws-Request-Id
  int64_t deadline_ms = 0;   // Lambda-Runtime-Deadline-Ms: Unix time in ms when it times out
  std::string function_arn;  // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;      // Lambda-Runtime-Trace-Id (X-Ray), "" when absent
  std::string event;         // the event document (JSON)
};

// What a function reports when it cannot answer: an error type (e.g. "InvalidEvent") and a
// message. Posted as {"errorType", "errorMessage", "stackTrace": []}.
struct FunctionError {
  std::string type;
  std::string message;
};

// Thread-compatible (a runtime asks for one invocation at a time).
class RuntimeClient {
 public:
  // `endpoint` is host:port, as in AWS_LAMBDA_RUNTIME_API. The transport must not time out
  // requests on its own: Next() waits as long as no invocation comes.
  RuntimeClient(std::string endpoint, std::unique_ptr<aws::HttpTransport> transport);

  // Waits for the next invocation. kUnavailable when the Runtime API cannot be reached;
  // kInvalidArgument when its answer lacks a request id.
  Result<Invocation> Next();
  Status Respond(const std::string& request_id, const std::string& body);
  Status ReportError(const std::string& request_id, const FunctionError& error);
  Status ReportInitError(const FunctionError& error);

 private:
  Status Post(const std::string& path, const std::string& body, const FunctionError* error);

  const std::string base_;  // http://host:port/2018-06-01
  std::unique_ptr<aws::HttpTransport> transport_;
};

}  // namespace evs::lambda
