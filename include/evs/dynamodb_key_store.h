// The key store of personal data (evs/personal_data.h) on DynamoDB, for stores that run on AWS.
// Part of the evs::aws component (target evs::aws).
//
// One table, by convention "<events table>-keys", with the partition key "StreamId" (S), as the
// snapshot table has (evs aws init makes neither; CreateTable here or Terraform does). Its items:
//   "meta": KeyStoreId S (a UUID), MasterKeyCheck S (an empty text sealed with the master key, so
//           that opening with another master key is a clear error, not garbage later);
//   "subject#<id>": WrappedKey S (base64 of nonce, ciphertext, tag: the subject's key sealed with
//           AES-256-GCM under the master key, the key store id and subject authenticated),
//           CreatedAt N; or, once forgotten, a tombstone with ForgottenAt N and no WrappedKey.
// The master key never goes to AWS: the operator keeps it in a file (ReadMasterKeyFile) or a
// secret manager. Forget replaces the item with the tombstone; DynamoDB's own copies (point-in-
// time recovery, on-demand backups) keep the wrapped key for as long as they last, which is why
// keys are wrapped: without the master key they are noise.
//
// Reads are consistent, writes conditional, so processes may share the table.
#pragma once

#include <memory>
#include <string>

#include "evs/personal_data.h"
#include "evs/status.h"

namespace evs {

// How OpenDynamoDbKeyStore opens its table. `table` and `master_key` must be set.
struct DynamoDbKeyStoreOptions {
  std::string table;       // by convention KeyTableFor(the events table)
  std::string master_key;  // 32 bytes
  // Create the table (on-demand billing) when it is missing; otherwise that is kNotFound.
  bool create_table_if_missing = false;
  // Make the "meta" item when the table has none; otherwise that is kNotFound.
  bool create_if_missing = true;
};

// "<events_table>-keys".
std::string KeyTableFor(const std::string& events_table);

// The master key in `path`: 64 hexadecimal digits (trailing white space ignored; make one with
// `umask 077; openssl rand -hex 32 > master.key`). kInvalidArgument for anything else.
Result<std::string> ReadMasterKeyFile(const std::string& path);

// Settings from the environment, as OpenDynamoDbEventStore. kInvalidArgument for a master key
// that is not 32 bytes or not the table's.
Result<std::unique_ptr<KeyStore>> OpenDynamoDbKeyStore(const DynamoDbKeyStoreOptions& options);

}  // namespace evs
