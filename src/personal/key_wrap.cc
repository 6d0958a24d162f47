#include "personal/key_wrap.h"

#include "common/base64.h"
#include "personal/aead.h"

namespace evs::personal {

Result<std::string> WrapKey(std::string_view master_key, std::string_view aad,
                            std::string_view plain) {
  auto nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.error();
  auto sealed = Encrypt(master_key, *nonce, aad, plain);
  if (!sealed.ok()) return sealed.error();
  return Base64Encode(*nonce + *sealed);
}

Result<std::string> UnwrapKey(std::string_view master_key, std::string_view aad,
                              std::string_view wrapped) {
  auto bytes = Base64Decode(wrapped);
  if (!bytes.ok() || bytes->size() < kNonceBytes + kTagBytes) {
    return Error::Make(ErrorCode::kCorruption, "a wrapped key is not base64 of a sealed key");
  }
  return Decrypt(master_key, std::string_view(*bytes).substr(0, kNonceBytes), aad,
                 std::string_view(*bytes).substr(kNonceBytes));
}

}  // namespace evs::personal
