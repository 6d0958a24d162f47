// Each function's constructor, for NewFunction (functions.h).
#pragma once

#include "lambda/functions.h"

namespace evs::lambda {

Result<std::unique_ptr<Function>> NewApiFunction(const FunctionSettings& settings,
                                                 std::shared_ptr<aws::AwsClient> client);
Result<std::unique_ptr<Function>> NewRelayFunction(const FunctionSettings& settings,
                                                   std::shared_ptr<aws::AwsClient> client);
Result<std::unique_ptr<Function>> NewConsumeFunction(const FunctionSettings& settings,
                                                     std::shared_ptr<aws::AwsClient> client);
Result<std::unique_ptr<Function>> NewReplayFunction(const FunctionSettings& settings,
                                                    std::shared_ptr<aws::AwsClient> client);

}  // namespace evs::lambda
