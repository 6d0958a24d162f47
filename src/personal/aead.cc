#include "personal/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <memory>

namespace evs::personal {
namespace {

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

Error Failed(const char* what) {
  return Error::Make(ErrorCode::kIOError, std::string("AES-256-GCM: ") + what + " failed");
}

Status CheckSizes(std::string_view key, std::string_view nonce, std::string_view aad,
                  std::string_view text) {
  if (key.size() != kKeyBytes || nonce.size() != kNonceBytes) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "AES-256-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (aad.size() > INT_MAX || text.size() > INT_MAX - kTagBytes) {
    return Error::Make(ErrorCode::kLimitExceeded, "AES-256-GCM: the input is over 2 GiB");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > INT_MAX || RAND_bytes(Bytes(out), static_cast<int>(n)) != 1) {
    return Error::Make(ErrorCode::kIOError, "the random number generator gave no bytes");
  }
  return out;
}

Result<std::string> Encrypt(std::string_view key, std::string_view nonce, std::string_view aad,
                            std::string_view plaintext) {
  if (Status s = CheckSizes(key, nonce, aad, plaintext); !s.ok()) return s.error();
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out(plaintext.size() + kTagBytes, '\0');
  int n = 0;
  int final_n = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key), Bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), Bytes(out), &n, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), Bytes(out) + n, &final_n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          Bytes(out) + plaintext.size()) != 1) {
    return Failed("encryption");
  }
  return out;
}

Result<std::string> Decrypt(std::string_view key, std::string_view nonce, std::string_view aad,
                            std::string_view ciphertext_and_tag) {
  if (Status s = CheckSizes(key, nonce, aad, ciphertext_and_tag); !s.ok()) return s.error();
  if (ciphertext_and_tag.size() < kTagBytes) {
    return Error::Make(ErrorCode::kCorruption, "the ciphertext is shorter than its tag");
  }
  const size_t text_size = ciphertext_and_tag.size() - kTagBytes;
  std::string tag(ciphertext_and_tag.substr(text_size));
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out(text_size, '\0');
  int n = 0;
  int final_n = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key), Bytes(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), Bytes(out), &n, Bytes(ciphertext_and_tag),
                        static_cast<int>(text_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          Bytes(tag)) != 1) {
    return Failed("decryption");
  }
  // The tag is checked here: anything altered fails.
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(out) + n, &final_n) != 1) {
    return Error::Make(ErrorCode::kCorruption,
                       "the ciphertext does not authenticate: it was altered or belongs to "
                       "another key or subject");
  }
  return out;
}

}  // namespace evs::personal
