// The DynamoDB key store over an AwsClient, so that tests can pass their own.
// include/evs/dynamodb_key_store.h is the public face and states the contract.
#pragma once

#include <memory>

#include "aws/aws_client.h"
#include "evs/dynamodb_key_store.h"

namespace evs::aws {

Result<std::unique_ptr<KeyStore>> NewDynamoDbKeyStore(std::shared_ptr<AwsClient> client,
                                                      const DynamoDbKeyStoreOptions& options);

}  // namespace evs::aws
