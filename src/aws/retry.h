// Retry decisions of the AWS client, apart so that tests can check them without waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "aws/aws_client.h"

namespace evs::aws {

// The wait before retry number `retry` (0: the first retry) with full jitter: `random` mapped
// into [0, min(max_delay, base_delay * 2^retry)).
std::chrono::milliseconds FullJitterDelay(const RetryPolicy& policy, int retry, uint64_t random);

// Service error types that mean "slow down" (the SDKs' standard retry list), and transient ones
// that a later attempt can pass. Both are safe to send again.
bool IsThrottlingErrorType(std::string_view type);
bool IsTransientErrorType(std::string_view type);

// Whether an answer with this status and service error type is worth another attempt: 5xx,
// 429, throttling and transient types. Everything else is the caller's problem and is final.
bool IsRetryable(int status, std::string_view type);

}  // namespace evs::aws
