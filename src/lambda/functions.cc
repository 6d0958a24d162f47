#include "lambda/functions.h"

#include "lambda/function_registry.h"

namespace evs::lambda {

Result<std::unique_ptr<Function>> NewFunction(const FunctionSettings& settings,
                                              std::shared_ptr<aws::AwsClient> client) {
  if (settings.handler == "api") return NewApiFunction(settings, std::move(client));
  if (settings.handler == "relay") return NewRelayFunction(settings, std::move(client));
  if (settings.handler == "consume") return NewConsumeFunction(settings, std::move(client));
  if (settings.handler == "replay") return NewReplayFunction(settings, std::move(client));
  return Error::Make(ErrorCode::kInvalidArgument, "unknown handler '" + settings.handler +
                                                      "'; expected api, relay, consume or replay");
}

}  // namespace evs::lambda
