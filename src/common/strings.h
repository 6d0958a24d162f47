// Small text and environment helpers shared by the AWS layer, the HTTP layer, the Lambda runtime
// and the benchmarks (each had its own copy). ASCII only: HTTP header names, AWS names and
// schemes are ASCII, and no locale may change what they compare equal to.
#pragma once

#include <string>
#include <string_view>

namespace evs {

// `text` with A-Z turned into a-z; other bytes as they are.
std::string AsciiLower(std::string_view text);

// Equal but for the case of A-Z.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);

// `text` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view TrimSpace(std::string_view text);

// The environment variable `name`, or "" when it is not set.
std::string EnvOrEmpty(const char* name);

}  // namespace evs
