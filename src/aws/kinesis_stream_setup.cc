#include "aws/kinesis_stream_setup.h"

#include <algorithm>
#include <thread>

#include "common/backoff.h"

namespace evs::aws {

Status CreateKinesisStream(AwsClient& client, const std::string& stream, int shards,
                           std::chrono::milliseconds wait) {
  if (shards < 1 || shards > 1024) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "a Kinesis stream needs 1..1024 shards, got " + std::to_string(shards));
  }
  auto created = client.CallJson(Service::kKinesis, "CreateStream",
                                 {{"StreamName", stream}, {"ShardCount", shards}});
  if (!created.ok() && AwsErrorType(created.error()) != "ResourceInUseException") {
    Error error = std::move(created.error());
    error.message = "create Kinesis stream '" + stream + "': " + error.message;
    return error;
  }
  // Also when it existed: it may still be CREATING.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Backoff pause(std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
  std::string state = "unknown";
  for (;;) {
    auto described =
        client.CallJson(Service::kKinesis, "DescribeStreamSummary", {{"StreamName", stream}});
    if (!described.ok()) {
      Error error = std::move(described.error());
      error.message = "describe Kinesis stream '" + stream + "': " + error.message;
      return error;
    }
    state = described->value(nlohmann::json::json_pointer("/StreamDescriptionSummary/StreamStatus"),
                             "unknown");
    if (state == "ACTIVE") return OkStatus();
    if (state == "DELETING") {
      return Error::Make(ErrorCode::kUnavailable, "Kinesis stream '" + stream +
                                                      "' is being deleted; try again once it "
                                                      "is gone");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error::Make(ErrorCode::kUnavailable, "Kinesis stream '" + stream +
                                                      "' is not ACTIVE after " +
                                                      std::to_string(wait.count()) + " ms (state " +
                                                      state + "); try again later");
    }
    std::this_thread::sleep_for(pause.Next());
  }
}

}  // namespace evs::aws
