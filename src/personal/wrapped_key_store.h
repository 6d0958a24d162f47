// A key store that keeps each subject's key wrapped by a master key (key_wrap.h) in a table that
// many processes share (DynamoDB, PostgreSQL). The protocol is here, once: a subject's first key
// is made and wrapped here, the first one committed wins and every loser reads it back; forget
// replaces the wrapped key by a tombstone. A derived store supplies the table's three operations
// (each one atomic in its database) and its name.
#pragma once

#include <string>

#include "evs/personal_data.h"

namespace evs::personal {

class WrappedKeyStore : public KeyStore {
 public:
  const std::string& id() const final { return id_; }
  Result<std::string> KeyFor(const std::string& subject) final;
  Result<SubjectKey> Find(const std::string& subject) final;
  Result<bool> Forget(const std::string& subject) final;

 protected:
  // `master_key` (32 bytes) wraps the keys; `id` is the key store's (bound into each wrap).
  WrappedKeyStore(std::string master_key, std::string id)
      : master_key_(std::move(master_key)), id_(std::move(id)) {}

  // What the table holds for a subject: no row, a tombstone, or a wrapped key.
  struct Stored {
    enum class Kind { kNone, kTombstone, kWrapped } kind = Kind::kNone;
    std::string wrapped;
  };
  virtual Result<Stored> Read(const std::string& subject) = 0;
  // Stores `wrapped` unless the subject has a row already (a key or a tombstone): false then.
  virtual Result<bool> InsertIfAbsent(const std::string& subject, const std::string& wrapped) = 0;
  // Replaces the subject's wrapped key by a tombstone: false when it had none (no row, or a
  // tombstone already).
  virtual Result<bool> TombstoneIfWrapped(const std::string& subject) = 0;

 private:
  std::string Aad(const std::string& subject) const;

  const std::string master_key_;
  const std::string id_;
};

}  // namespace evs::personal
