#include "personal/wrapped_key_store.h"

#include "personal/aead.h"
#include "personal/key_wrap.h"

namespace evs::personal {
namespace {

Error Forgotten(const std::string& subject) {
  return Error::Make(ErrorCode::kInvalidArgument,
                     "subject '" + subject +
                         "' was forgotten; no personal data can be stored under that id again");
}

}  // namespace

std::string WrappedKeyStore::Aad(const std::string& subject) const {
  return "evs-key-v1|" + id_ + "|" + subject;
}

Result<std::string> WrappedKeyStore::KeyFor(const std::string& subject) {
  if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
  auto found = Find(subject);
  if (!found.ok()) return found.error();
  if (found->state == SubjectKey::State::kActive) return std::move(found->key);
  if (found->state == SubjectKey::State::kForgotten) return Forgotten(subject);
  auto key = RandomBytes(kKeyBytes);
  if (!key.ok()) return key.error();
  auto wrapped = WrapKey(master_key_, Aad(subject), *key);
  if (!wrapped.ok()) return wrapped.error();
  // The first key committed wins; a process that loses the race reads the winner's back.
  auto inserted = InsertIfAbsent(subject, *wrapped);
  if (!inserted.ok()) return inserted.error();
  if (*inserted) return key;
  found = Find(subject);
  if (!found.ok()) return found.error();
  if (found->state == SubjectKey::State::kActive) return std::move(found->key);
  return Forgotten(subject);
}

Result<SubjectKey> WrappedKeyStore::Find(const std::string& subject) {
  auto stored = Read(subject);
  if (!stored.ok()) return stored.error();
  SubjectKey found;
  if (stored->kind == Stored::Kind::kNone) return found;
  if (stored->kind == Stored::Kind::kTombstone) {
    found.state = SubjectKey::State::kForgotten;
    return found;
  }
  auto key = UnwrapKey(master_key_, Aad(subject), stored->wrapped);
  if (!key.ok() || key->size() != kKeyBytes) {
    return Error::Make(ErrorCode::kCorruption, "the wrapped key of subject '" + subject + "' in " +
                                                   name() + " does not unwrap with the master key");
  }
  found.state = SubjectKey::State::kActive;
  found.key = std::move(key).value();
  return found;
}

Result<bool> WrappedKeyStore::Forget(const std::string& subject) {
  if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
  // The tombstone replaces the wrapped key, unless another process's did first.
  auto forgot = TombstoneIfWrapped(subject);
  if (!forgot.ok()) return forgot.error();
  if (*forgot) return true;
  auto found = Find(subject);
  if (!found.ok()) return found.error();
  if (found->state == SubjectKey::State::kUnknown) {
    return Error::Make(ErrorCode::kNotFound,
                       "subject '" + subject + "' is unknown: " + name() + " has no key for it");
  }
  return false;
}

}  // namespace evs::personal
