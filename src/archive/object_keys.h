// The key rules every ObjectStore keeps (object_store.h), shared by the backends so that an
// archive written to one can be copied to another.
#pragma once

#include <string>
#include <string_view>

#include "evs/status.h"

namespace evs::archive {

// Names of temporary files of interrupted puts; no key part may start with it.
inline constexpr std::string_view kTempPrefix = ".evs-tmp-";

// Why `key` is not a valid key, or empty when it is.
std::string KeyProblem(std::string_view key);

// OK, or kInvalidArgument naming the key (as `what`, e.g. "key") and what is wrong with it.
Status CheckKey(std::string_view key, std::string_view what);

// `text` in quotes with control characters escaped, cut at 200 bytes: safe in a message.
std::string Quote(std::string_view text);

}  // namespace evs::archive
