// The JSON form of a sealed field (evs/personal_data.h), read strictly: whatever a store hands
// back, parsing it never throws past ParseSealedField and never accepts a field that is not one.
#include "common/base64.h"
#include "evs/personal_data.h"
#include "evs/text.h"
#include "personal/aead.h"

namespace evs {
namespace {

constexpr std::string_view kFormat = "v1";

Error Malformed(const std::string& why) {
  return Error::Make(ErrorCode::kCorruption, "not a sealed field: " + why);
}

// The string at `key` of an object, or null.
const std::string* StringAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

}  // namespace

Status ValidateSubject(std::string_view subject) {
  if (subject.empty()) return Error::Make(ErrorCode::kInvalidArgument, "the subject id is empty");
  if (subject.size() > kMaxSubjectBytes) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       "the subject id is " + std::to_string(subject.size()) +
                           " bytes; the limit is " + std::to_string(kMaxSubjectBytes));
  }
  if (!IsValidUtf8(subject)) {
    return Error::Make(ErrorCode::kInvalidArgument, "the subject id is not valid UTF-8");
  }
  for (unsigned char c : subject) {
    if (c < 0x20 || c == 0x7f) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "the subject id contains a control character");
    }
  }
  return OkStatus();
}

void to_json(nlohmann::json& j, const SealedField& field) {
  j = {{"$enc", kFormat},
       {"subject", field.subject},
       {"nonce", Base64Encode(field.nonce)},
       {"ct", Base64Encode(field.ciphertext)}};
}

void from_json(const nlohmann::json& j, SealedField& field) {
  auto parsed = ParseSealedField(j);
  if (!parsed.ok()) throw nlohmann::json::type_error::create(302, parsed.error().message, &j);
  field = std::move(parsed).value();
}

Result<SealedField> ParseSealedField(const nlohmann::json& j) {
  if (!j.is_object()) return Malformed("it is not a JSON object");
  const std::string* format = StringAt(j, "$enc");
  if (format == nullptr) return Malformed("\"$enc\" is missing or not a string");
  if (*format != kFormat) return Malformed("format '" + *format + "' is not v1");
  if (j.size() != 4) return Malformed("it has other fields than $enc, subject, nonce and ct");
  const std::string* subject = StringAt(j, "subject");
  const std::string* nonce = StringAt(j, "nonce");
  const std::string* ct = StringAt(j, "ct");
  if (subject == nullptr || nonce == nullptr || ct == nullptr) {
    return Malformed("subject, nonce and ct must be strings");
  }
  if (Status s = ValidateSubject(*subject); !s.ok()) return Malformed(s.error().message);
  SealedField field;
  field.subject = *subject;
  auto nonce_bytes = Base64Decode(*nonce);
  auto ct_bytes = Base64Decode(*ct);
  if (!nonce_bytes.ok() || nonce_bytes->size() != personal::kNonceBytes) {
    return Malformed("the nonce is not 12 bytes of base64");
  }
  if (!ct_bytes.ok() || ct_bytes->size() < personal::kTagBytes) {
    return Malformed("ct is not base64 of at least a 16-byte tag");
  }
  field.nonce = std::move(nonce_bytes).value();
  field.ciphertext = std::move(ct_bytes).value();
  return field;
}

}  // namespace evs
