// Sealing, revealing and forgetting (evs/personal_data.h), and the binding of an event store to
// the key store its sealed fields need.
#include "evs/personal_data.h"

#include "personal/aead.h"

namespace evs {
namespace {

constexpr std::string_view kBoundType = "KeyStoreBound";

// Authenticated with every sealed field: the format and the subject.
std::string AssociatedData(const std::string& subject) { return "evs-enc-v1|" + subject; }

// The id of the key store `store` is bound to; "" when it is not bound.
Result<std::string> BoundKeyStoreId(EventStore& store) {
  ReadStreamOptions first;
  first.from = 1;
  first.limit = 1;
  auto page = store.ReadStream(kKeyStoreStream, first);
  if (!page.ok()) {
    if (page.error().code == ErrorCode::kNotFound) return std::string();
    return page.error();
  }
  if (page->events.empty()) return std::string();
  nlohmann::json data = nlohmann::json::parse(page->events.front().data, nullptr, false);
  const auto id = data.is_object() ? data.find("key_store_id") : data.end();
  if (id == data.end() || !id->is_string() || id->get<std::string>().empty()) {
    return Error::Make(ErrorCode::kCorruption, "the first event of stream '" +
                                                   std::string(kKeyStoreStream) +
                                                   "' does not name a key store");
  }
  return id->get<std::string>();
}

Error NotThisKeyStore(const std::string& bound_id, const KeyStore* keys, const Error* open_error) {
  const std::string found = open_error != nullptr ? "cannot be opened: " + open_error->message
                                                  : keys->name() + " is key store " + keys->id();
  return Error::Make(ErrorCode::kCorruption,
                     "this event store holds personal data sealed with keys of key store " +
                         bound_id + ", and " + found +
                         ". Restore that key store's file (or table) from its backup; without it "
                         "every sealed field would be unreadable, so evs will not start a new one");
}

}  // namespace

Result<std::unique_ptr<PersonalData>> PersonalData::Open(EventStore& store,
                                                         KeyStoreOpener open_keys) {
  auto bound_id = BoundKeyStoreId(store);
  if (!bound_id.ok()) return bound_id.error();
  std::unique_ptr<PersonalData> personal(new PersonalData(store, std::move(open_keys)));
  if (bound_id->empty()) return personal;
  auto keys = personal->open_keys_(/*create_if_missing=*/false);
  if (!keys.ok()) return NotThisKeyStore(*bound_id, nullptr, &keys.error());
  if ((*keys)->id() != *bound_id) return NotThisKeyStore(*bound_id, keys->get(), nullptr);
  personal->keys_ = std::move(keys).value();
  personal->bound_ = true;
  return personal;
}

Result<KeyStore*> PersonalData::Keys(bool for_sealing) {
  std::lock_guard lock(mu_);
  if (!keys_) {
    auto keys = open_keys_(for_sealing);
    if (!keys.ok()) return keys.error();
    keys_ = std::move(keys).value();
  }
  if (for_sealing && !bound_) {
    // Recorded before the first key is made, so that a store with sealed fields always says
    // which key store they need. Another process may have bound it meanwhile: then it must be
    // to this key store.
    nlohmann::json data = {{"key_store_id", keys_->id()}, {"key_store", keys_->name()}};
    EventData bound;
    bound.id = Uuid::Random();
    bound.type = std::string(kBoundType);
    bound.data = data.dump();
    auto appended = store_.Append(kKeyStoreStream, ExpectedVersion::NoStream(), {bound});
    if (!appended.ok() && appended.error().code != ErrorCode::kWrongExpectedVersion) {
      return appended.error();
    }
    if (!appended.ok()) {
      auto bound_id = BoundKeyStoreId(store_);
      if (!bound_id.ok()) return bound_id.error();
      if (*bound_id != keys_->id()) return NotThisKeyStore(*bound_id, keys_.get(), nullptr);
    }
    bound_ = true;
  }
  return keys_.get();
}

Result<SealedField> PersonalData::Seal(const std::string& subject, std::string_view text) {
  if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
  if (text.size() > kMaxSealedTextBytes) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       "a personal field is " + std::to_string(text.size()) +
                           " bytes; the limit is " + std::to_string(kMaxSealedTextBytes));
  }
  auto keys = Keys(/*for_sealing=*/true);
  if (!keys.ok()) return keys.error();
  auto key = (*keys)->KeyFor(subject);
  if (!key.ok()) return key.error();
  auto nonce = personal::RandomBytes(personal::kNonceBytes);
  if (!nonce.ok()) return nonce.error();
  auto ciphertext = personal::Encrypt(*key, *nonce, AssociatedData(subject), text);
  if (!ciphertext.ok()) return ciphertext.error();
  return SealedField{subject, std::move(nonce).value(), std::move(ciphertext).value()};
}

Result<std::string> PersonalData::Reveal(const SealedField& field) {
  auto keys = Keys(/*for_sealing=*/false);
  if (!keys.ok()) {
    return Error::Make(ErrorCode::kCorruption, "the personal data of subject '" + field.subject +
                                                   "' cannot be read: " + keys.error().message);
  }
  auto found = (*keys)->Find(field.subject);
  if (!found.ok()) return found.error();
  switch (found->state) {
    case SubjectKey::State::kForgotten:
      return std::string(kRedacted);
    case SubjectKey::State::kUnknown:
      return Error::Make(ErrorCode::kCorruption, "subject '" + field.subject + "' has no key in " +
                                                     (*keys)->name() +
                                                     ", nor was it forgotten: is this the key "
                                                     "store of this event store?");
    case SubjectKey::State::kActive:
      break;
  }
  auto text =
      personal::Decrypt(found->key, field.nonce, AssociatedData(field.subject), field.ciphertext);
  if (!text.ok()) {
    return Error::Make(text.error().code, "a sealed field of subject '" + field.subject +
                                              "': " + text.error().message);
  }
  return text;
}

Result<bool> PersonalData::Forget(const std::string& subject) {
  if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
  auto keys = Keys(/*for_sealing=*/false);
  if (!keys.ok()) {
    if (keys.error().code != ErrorCode::kNotFound) return keys.error();
    return Error::Make(ErrorCode::kNotFound, "subject '" + subject +
                                                 "' is unknown: no personal data was ever "
                                                 "sealed here (" +
                                                 keys.error().message + ")");
  }
  return (*keys)->Forget(subject);
}

Result<std::unique_ptr<PersonalData>> OpenSqlitePersonalData(EventStore& store,
                                                             const std::string& key_store_path) {
  return PersonalData::Open(store, [key_store_path](bool create_if_missing) {
    return OpenSqliteKeyStore({.path = key_store_path, .create_if_missing = create_if_missing});
  });
}

}  // namespace evs
