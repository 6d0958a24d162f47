// The functions of the original, as handlers of the `bootstrap` custom runtime, chosen by
// _HANDLER (the function's handler setting):
//   api      API Gateway HTTP API events (payload format 2.0) through the same routes and error
//            mapping as `evs serve` (http::Api), on the DynamoDB store.
//   relay    DynamoDB Streams batches -> Kinesis (aws::KinesisRelay); answers
//            {"batchItemFailures": [...]} so that only the failed records are retried.
//   consume  Kinesis batches -> the event log (JSON lines on stdout, i.e. CloudWatch Logs), the
//            cart projection (when EVS_READ_MODEL names its file, e.g. on EFS) and the archiver
//            (when EVS_ARCHIVE names it); partial batch failures likewise.
//   replay   {"archive": "s3://...", "kinesis_stream": "...", "from": P, "to": P} -> the archived
//            events re-published to Kinesis (aws::ReplayToKinesis) until the deadline is near;
//            answers {"next_from": P, "done": bool, ...} to continue from (replay_function.cc).
// Settings come from the environment, with the values the CLI takes: EVS_STORE
// ("dynamodb:TABLE"), EVS_KINESIS_STREAM, EVS_ARCHIVE ("s3://bucket/prefix"), EVS_READ_MODEL.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "aws/aws_client.h"
#include "evs/status.h"
#include "lambda/runtime_client.h"

namespace evs::lambda {

struct FunctionSettings {
  std::string handler;         // _HANDLER
  std::string table;           // from EVS_STORE=dynamodb:TABLE (api)
  std::string kinesis_stream;  // EVS_KINESIS_STREAM (relay)
  std::string archive;         // EVS_ARCHIVE (consume; optional)
  std::string read_model;      // EVS_READ_MODEL (api, consume; optional)
  // Work stops this long before the invocation's deadline, leaving time to answer.
  std::chrono::milliseconds deadline_margin{500};
};

// Reads and checks the settings `_HANDLER` needs; kInvalidArgument names what is missing or
// wrong (an init error).
Result<FunctionSettings> SettingsFromEnvironment();

// What one invocation comes to: the answer (a JSON document) or the error to report.
struct Outcome {
  bool ok = true;
  std::string answer;
  FunctionError error;
  static Outcome Answer(std::string answer) { return {true, std::move(answer), {}}; }
  // Error types: "InvalidEvent" (an event the function cannot read), "DeadlineTooClose" (too
  // little time left to start), "HandlerError" (the work failed).
  static Outcome Failed(std::string type, std::string message) {
    return {false, {}, {std::move(type), std::move(message)}};
  }
};

class Function {
 public:
  virtual ~Function() = default;
  // Never throws. The runtime reports the outcome and goes on with the next invocation.
  virtual Outcome Invoke(const Invocation& invocation) = 0;
};

// The function `settings.handler` names, set up (store, relay, archive, read model opened).
Result<std::unique_ptr<Function>> NewFunction(const FunctionSettings& settings,
                                              std::shared_ptr<aws::AwsClient> client);

// The DeadlineTooClose failure when `left_ms` (MillisecondsLeft) is within the settings'
// deadline_margin: nothing is started then. Nothing otherwise.
std::optional<Outcome> RefuseNearDeadline(int64_t left_ms, const FunctionSettings& settings);

// Milliseconds from now until `deadline_ms` (Unix ms); negative when past; 15 minutes (Lambda's
// longest timeout) when the Runtime API gave none (0).
int64_t MillisecondsLeft(int64_t deadline_ms);

}  // namespace evs::lambda
