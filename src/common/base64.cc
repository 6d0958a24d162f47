#include "common/base64.h"

#include <openssl/evp.h>

#include <climits>

namespace evs {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

// OpenSSL's EVP_EncodeBlock and EVP_DecodeBlock do the work. DecodeBlock is lenient (it skips
// surrounding white space and decodes padding as zero bytes), so the text is checked first: a
// multiple of 4 long, only the alphabet, '=' only as one or two final characters.
std::string Base64Encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Error::Make(
        ErrorCode::kInvalidArgument,
        "base64: the length " + std::to_string(text.size()) + " is not a multiple of 4");
  }
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return Error::Make(ErrorCode::kInvalidArgument, "base64: the text is over 2 GiB");
  }
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const size_t bad = text.substr(0, text.size() - pad).find_first_not_of(kAlphabet);
  if (bad != std::string_view::npos) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "base64: unexpected character at offset " + std::to_string(bad));
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) {
    return Error::Make(ErrorCode::kInvalidArgument, "base64: the text does not decode");
  }
  out.resize(out.size() - pad);
  return out;
}

}  // namespace evs
