// AES-256-GCM through OpenSSL's EVP interface, and random bytes: what sealed fields and wrapped
// keys are made of.
#pragma once

#include <string>
#include <string_view>

#include "evs/status.h"

namespace evs::personal {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;

// `n` bytes from OpenSSL's CSPRNG; kIOError when it cannot give them.
Result<std::string> RandomBytes(size_t n);

// The ciphertext of `plaintext` followed by its tag. `key` is kKeyBytes, `nonce` kNonceBytes and
// never used twice with one key (callers take a random one each time).
Result<std::string> Encrypt(std::string_view key, std::string_view nonce, std::string_view aad,
                            std::string_view plaintext);
// The plaintext; kCorruption when the ciphertext, the tag or the associated data were altered.
Result<std::string> Decrypt(std::string_view key, std::string_view nonce, std::string_view aad,
                            std::string_view ciphertext_and_tag);

}  // namespace evs::personal
