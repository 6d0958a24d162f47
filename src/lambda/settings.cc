#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"
#include "lambda/functions.h"

namespace evs::lambda {
namespace {

Error Invalid(const std::string& message) {
  return Error::Make(ErrorCode::kInvalidArgument, message);
}

}  // namespace

Result<FunctionSettings> SettingsFromEnvironment() {
  FunctionSettings settings;
  settings.handler = EnvOrEmpty("_HANDLER");
  settings.kinesis_stream = EnvOrEmpty("EVS_KINESIS_STREAM");
  settings.archive = EnvOrEmpty("EVS_ARCHIVE");
  settings.read_model = EnvOrEmpty("EVS_READ_MODEL");
  const std::string store = EnvOrEmpty("EVS_STORE");
  if (settings.handler != "api" && settings.handler != "relay" && settings.handler != "consume" &&
      settings.handler != "replay") {
    return Invalid("_HANDLER (the function's handler setting) is '" + settings.handler +
                   "'; expected api, relay, consume or replay");
  }
  if (settings.handler == "api") {
    constexpr std::string_view kPrefix = "dynamodb:";
    if (!store.starts_with(kPrefix) || store.size() == kPrefix.size()) {
      return Invalid("EVS_STORE is '" + store +
                     "'; the api function needs the DynamoDB store: EVS_STORE=dynamodb:TABLE");
    }
    settings.table = store.substr(kPrefix.size());
  }
  if (settings.handler == "relay" && settings.kinesis_stream.empty()) {
    return Invalid("EVS_KINESIS_STREAM is not set; the relay function publishes to that stream");
  }
  if (settings.handler == "consume" && settings.archive.empty() && settings.read_model.empty()) {
    // Allowed: the event log alone. Said here so that a forgotten setting is not silent.
    std::fprintf(stderr,
                 "evs: consume runs the event log only (no EVS_ARCHIVE, no EVS_READ_MODEL)\n");
  }
  return settings;
}

std::optional<Outcome> RefuseNearDeadline(int64_t left_ms, const FunctionSettings& settings) {
  if (left_ms > settings.deadline_margin.count()) return std::nullopt;
  return Outcome::Failed("DeadlineTooClose", "the invocation's deadline is " +
                                                 std::to_string(left_ms) +
                                                 " ms away: nothing was published");
}

int64_t MillisecondsLeft(int64_t deadline_ms) {
  // No deadline given: Lambda's longest timeout.
  if (deadline_ms <= 0) return 15 * 60 * 1000;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return deadline_ms - now;
}

}  // namespace evs::lambda
