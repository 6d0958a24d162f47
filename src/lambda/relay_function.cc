// The relay function: the change capture of the original. A DynamoDB Streams batch goes to
// Kinesis through aws::KinesisRelay; records not published are answered as batchItemFailures,
// so Lambda retries from the first of them (and per-stream order holds: a failed commit holds
// back the later commits of its stream, which are reported with it).
#include <nlohmann/json.hpp>

#include "aws/kinesis_relay.h"
#include "lambda/function_registry.h"

namespace evs::lambda {
namespace {

using nlohmann::json;

class RelayFunction final : public Function {
 public:
  RelayFunction(std::shared_ptr<aws::AwsClient> client, const FunctionSettings& settings)
      : client_(std::move(client)), settings_(settings) {}

  Outcome Invoke(const Invocation& invocation) override {
    const int64_t left = MillisecondsLeft(invocation.deadline_ms);
    if (auto refused = RefuseNearDeadline(left, settings_)) return *refused;
    const json event = json::parse(invocation.event, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) return Outcome::Failed("InvalidEvent", "the event is not JSON");
    aws::RelayOptions options;
    options.stream_name = settings_.kinesis_stream;
    // Stop publishing in time to answer; what is left is reported and comes again.
    options.time_budget = std::chrono::milliseconds(left - settings_.deadline_margin.count());
    aws::KinesisRelay relay(client_, options);
    auto result = relay.Relay(event);
    if (!result.ok()) {
      if (result.error().code == ErrorCode::kInvalidArgument) {
        return Outcome::Failed("InvalidEvent", result.error().message);
      }
      return Outcome::Failed("HandlerError", result.error().message);
    }
    json failures = json::array();
    for (const aws::RelayFailure& failure : result->failed) {
      failures.push_back({{"itemIdentifier", failure.sequence_number}});
      std::fprintf(stderr, "evs relay: not published: %s (%s): %s\n",
                   failure.sequence_number.c_str(), failure.stream_id.c_str(),
                   failure.reason.c_str());
    }
    return Outcome::Answer(json{{"batchItemFailures", failures}}.dump());
  }

 private:
  const std::shared_ptr<aws::AwsClient> client_;
  const FunctionSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Function>> NewRelayFunction(const FunctionSettings& settings,
                                                   std::shared_ptr<aws::AwsClient> client) {
  return std::unique_ptr<Function>(std::make_unique<RelayFunction>(std::move(client), settings));
}

}  // namespace evs::lambda
