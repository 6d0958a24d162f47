// Standard base64 with padding (RFC 4648 §4): how the AWS JSON protocols carry blobs, and how
// sealed personal fields carry their nonce and ciphertext in JSON.
#pragma once

#include <string>
#include <string_view>

#include "evs/status.h"

namespace evs {

std::string Base64Encode(std::string_view bytes);
// kInvalidArgument for characters outside the alphabet, bad padding or a bad length.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace evs
