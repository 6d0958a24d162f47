// Subjects' keys wrapped by a master key: what the key stores that many processes share
// (DynamoDB, PostgreSQL) keep instead of the keys, so that their copies (backups, WAL, replicas)
// are noise without the master key, which the operator keeps apart.
#pragma once

#include <string>
#include <string_view>

#include "evs/status.h"

namespace evs::personal {

// `plain` sealed under `master_key` (AES-256-GCM, a fresh random nonce) with `aad`
// authenticated: base64 of the nonce, the ciphertext and the tag.
Result<std::string> WrapKey(std::string_view master_key, std::string_view aad,
                            std::string_view plain);

// The reverse of WrapKey. kCorruption when `wrapped` is not base64 of a sealed text, or does not
// open with `master_key` and `aad` (another master key, altered, or moved to another subject).
Result<std::string> UnwrapKey(std::string_view master_key, std::string_view aad,
                              std::string_view wrapped);

}  // namespace evs::personal
