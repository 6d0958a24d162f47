// The key store of personal data (evs/personal_data.h) on PostgreSQL, shared by every evs
// process on the database, as the PostgreSQL store is. Part of the evs::postgres component.
//
// Two tables of the evs schema (version 3 and later; InitPostgresSchema makes or migrates them):
//   evs_key_store (id = 1, key_store_id, master_key_check)   one row: the key store's id (a
//       UUID) and an empty text sealed with the master key, so that opening with another master
//       key is a clear error, not garbage later;
//   evs_keys (subject, wrapped_key, created_at_us, forgotten_at_us)   each subject's key sealed
//       with AES-256-GCM under the master key (base64 of nonce, ciphertext and tag; the key
//       store's id and the subject authenticated), or, once forgotten, a tombstone: no
//       wrapped_key, and when.
// The master key never goes to the database: the operator keeps it in a file
// (ReadMasterKeyFile, evs/dynamodb_key_store.h) or a secret manager. Forget replaces the wrapped
// key by the tombstone in one UPDATE; PostgreSQL keeps the old row version in the table's pages
// until vacuum reuses them, and in its WAL, base backups and replicas for as long as they last,
// which is why keys are wrapped: without the master key they are noise.
//
// Processes share it safely: a new key is INSERT ... ON CONFLICT DO NOTHING and then read back,
// so two processes that make a subject's first key at once agree on the one that committed
// first; every call reads the committed state (no cache), so a Forget anywhere takes effect on
// every process's next Reveal. Each statement commits on its own (synchronous_commit as the
// server is set, on by default): a key is durable before KeyFor returns it.
#pragma once

#include <memory>
#include <string>

#include "evs/personal_data.h"
#include "evs/status.h"

namespace evs {

// How OpenPostgresKeyStore opens the key store. `url` and `master_key` must be set.
struct PostgresKeyStoreOptions {
  std::string url;         // a libpq connection string, as PostgresStoreOptions::url
  std::string master_key;  // 32 bytes (ReadMasterKeyFile reads the operator's file)
  // Create the schema (or migrate an older one) when the database does not have this release's.
  // Otherwise such a database is kNotFound ("run evs pg init").
  bool create_schema = true;
  // Make the key store (its evs_key_store row) when the database has none; otherwise that is
  // kNotFound.
  bool create_if_missing = true;
};

// Connects and opens the key store (one connection, reconnected when lost; thread-safe).
// kInvalidArgument for a master key that is not 32 bytes or not the one the key store was made
// with; kUnavailable when the server cannot be reached; kNotFound as the options say.
Result<std::unique_ptr<KeyStore>> OpenPostgresKeyStore(const PostgresKeyStoreOptions& options);

}  // namespace evs
