// Personal data that can be forgotten ("crypto-shredding").
//
// The domain decides which fields of its events are personal, and seals each one under the key of
// the data subject it belongs to (a customer, a user): the event holds a SealedField, never the
// text, so the text is written nowhere (store, WAL, archive, Kinesis, DynamoDB, snapshots, read
// models, logs). Forgetting the subject destroys its key; from then on every copy of its sealed
// fields, wherever it is, reveals as kRedacted. Events never change, so the log and its archive
// still verify, replay and restore.
//
//   struct CustomerRegistered {                       // an event of a domain
//     static constexpr std::string_view kType = "CustomerRegistered";
//     std::string customer_id;                        // the subject's id, in clear
//     evs::SealedField email;                         // converts to and from JSON by itself
//   };
//   auto email = personal.Seal(customer_id, "ann@example.com");  // the key exists, durably
//   if (!email.ok()) return email.error();
//   ... Raise(CustomerRegistered{customer_id, *email}) ...
//   auto shown = personal.Reveal(event.email);        // the text, or kRedacted once forgotten
//
// Aggregates keep fields sealed in their state (so snapshots hold ciphertext too) and reveal them
// where they are shown.
//
// A sealed field in JSON (the format is "v1"):
//   {"$enc": "v1", "subject": "<subject id>", "nonce": "<base64, 12 bytes>",
//    "ct": "<base64: the AES-256-GCM ciphertext followed by its 16-byte tag>"}
// The key is 32 random bytes of the subject's own; the nonce is fresh from OpenSSL's RAND_bytes for
// every field; "evs-enc-v1" and the subject are authenticated with it, so a field moved to another
// subject or altered in any byte does not decrypt: Reveal says kCorruption. That is an error, not
// a redaction, on purpose: it means the stored data is not what evs wrote.
//
// Thread safety: PersonalData and the key stores may be used from any number of threads.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "evs/event_store.h"
#include "evs/status.h"

namespace evs {

// What a field of a forgotten subject reveals as.
inline constexpr std::string_view kRedacted = "[redacted]";

// Subject ids: 1 to kMaxSubjectBytes bytes of UTF-8 without control characters.
inline constexpr size_t kMaxSubjectBytes = 200;
// The longest text one field seals.
inline constexpr size_t kMaxSealedTextBytes = 64 * 1024;

// kInvalidArgument (kLimitExceeded when too long) saying what is wrong with a subject id.
Status ValidateSubject(std::string_view subject);

// A personal field as events and aggregate states hold it: its text sealed under the key of its
// subject (see above). Made by PersonalData::Seal; converts to and from JSON by itself.
struct SealedField {
  std::string subject;     // the data subject's id, in clear
  std::string nonce;       // 12 bytes
  std::string ciphertext;  // the encrypted text followed by the 16-byte GCM tag
  // Bytewise: two seals of the same text differ, as their nonces do.
  bool operator==(const SealedField&) const = default;
};

// Writes the JSON form above; nlohmann::json calls it.
void to_json(nlohmann::json& j, const SealedField& field);
// Reads the JSON form above; nlohmann::json calls it. Throws nlohmann::json exceptions for
// anything else, so that EventTypes::Decode reports an event with a malformed field as
// kCorruption.
void from_json(const nlohmann::json& j, SealedField& field);
// The same, never throwing: kCorruption saying what is wrong.
Result<SealedField> ParseSealedField(const nlohmann::json& j);

// What a key store knows of a subject.
struct SubjectKey {
  // kUnknown: the key store never had the subject; kActive: it holds the subject's key;
  // kForgotten: the key was destroyed, and a tombstone says so.
  enum class State { kUnknown, kActive, kForgotten };
  // The subject's state in the key store.
  State state = State::kUnknown;
  std::string key;  // 32 bytes when kActive
};

// Where the subjects' keys live. Keys are created on first use and destroyed by Forget; a
// forgotten subject leaves a tombstone (its id and when), so that its fields reveal as redacted
// rather than as a missing key.
class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // A random UUID recorded when the key store was created; PersonalData checks it against the
  // one its event store recorded (see PersonalData::Open).
  virtual const std::string& id() const = 0;
  // Where it is, for messages: a file's path, "DynamoDB table T".
  virtual std::string name() const = 0;

  // The subject's key, created when it has none; durable before it returns, so no event sealed
  // with it is acknowledged before its key. kInvalidArgument for a forgotten subject: its id
  // cannot hold personal data again.
  virtual Result<std::string> KeyFor(const std::string& subject) = 0;
  // The subject's key or state, creating nothing.
  virtual Result<SubjectKey> Find(const std::string& subject) = 0;
  // Destroys the subject's key so that no copy remains in the key store (see the backends);
  // true when it did, false when the subject was already forgotten. kNotFound for a subject the
  // key store never had.
  virtual Result<bool> Forget(const std::string& subject) = 0;
};

// The embedded key store: a SQLite file of its own (KeyStorePathFor the store's file) with
// secure_delete on, synchronous=FULL and the WAL checkpointed and truncated after every Forget,
// so that a destroyed key is left in neither the file, its free pages nor its WAL. Keys are kept
// as they are (no master key): the file is made readable by its owner only.
struct SqliteKeyStoreOptions {
  std::string path;  // the file; by convention KeyStorePathFor(the store's path)
  // Create the file when it is missing; otherwise a missing file is kNotFound.
  bool create_if_missing = true;
};
// Opens the embedded key store (see SqliteKeyStoreOptions); a file it creates is readable by its
// owner only. kInvalidArgument for an empty path; kNotFound for a missing file without
// create_if_missing.
Result<std::unique_ptr<KeyStore>> OpenSqliteKeyStore(const SqliteKeyStoreOptions& options);

// "<store_path>-keys": the key store beside an embedded store's file.
std::string KeyStorePathFor(const std::string& store_path);

// The stream in which an event store records the key store its sealed fields need: one event,
// "KeyStoreBound" {"key_store_id", "key_store"}, appended before the first key is made.
inline constexpr std::string_view kKeyStoreStream = "$evs-key-store";

// Seals and reveals personal fields of the events of one event store, with keys of one key store.
class PersonalData {
 public:
  // Opens the key store with open_keys(create_if_missing).
  using KeyStoreOpener = std::function<Result<std::unique_ptr<KeyStore>>(bool create_if_missing)>;

  // Reads which key store `store` is bound to. When it is bound, the key store must open without
  // being created and have that id; otherwise the error (kCorruption) says that the store holds
  // personal data sealed with keys of a key store that is missing or another one, and to
  // restore it; never a fresh, empty key store. When it is not bound, the key store is opened
  // (and created) only on the first Seal. `store` must outlive the PersonalData.
  static Result<std::unique_ptr<PersonalData>> Open(EventStore& store, KeyStoreOpener open_keys);

  // Seals `text` under the subject's key, creating the key (and binding the store, the first
  // time) when needed. kInvalidArgument for a bad or forgotten subject, kLimitExceeded for a text
  // over kMaxSealedTextBytes.
  Result<SealedField> Seal(const std::string& subject, std::string_view text);
  // The text of `field`, or kRedacted when its subject was forgotten. kCorruption when it does not
  // decrypt (altered, or moved to another subject) or its subject has no key and no tombstone.
  Result<std::string> Reveal(const SealedField& field);
  // KeyStore::Forget.
  Result<bool> Forget(const std::string& subject);

 private:
  PersonalData(EventStore& store, KeyStoreOpener open_keys) noexcept
      : store_(store), open_keys_(std::move(open_keys)) {}
  // The key store, opened on first use; bound to the store when `for_sealing`.
  Result<KeyStore*> Keys(bool for_sealing);

  EventStore& store_;
  KeyStoreOpener open_keys_;
  std::mutex mu_;
  std::unique_ptr<KeyStore> keys_;
  bool bound_ = false;
};

// PersonalData on the embedded key store at `key_store_path`.
Result<std::unique_ptr<PersonalData>> OpenSqlitePersonalData(EventStore& store,
                                                             const std::string& key_store_path);

}  // namespace evs
