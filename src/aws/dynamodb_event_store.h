// The DynamoDB event store over an AwsClient, so that tests can inject transports (faults, lost
// answers). include/evs/dynamodb.h is the public face and states the contract.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "aws/aws_client.h"
#include "evs/dynamodb.h"
#include "evs/event_store.h"

namespace evs::aws {

// Checks the table (creating it when the options say so) and returns the store on it.
Result<std::unique_ptr<EventStore>> NewDynamoDbEventStore(std::shared_ptr<AwsClient> client,
                                                          const DynamoDbStoreOptions& options);

// Creates the table with evs's key schema, or accepts an existing one with that schema, and
// waits at most `wait` for it to be ACTIVE (kUnavailable after that).
Status CreateEventTable(AwsClient& client, const std::string& table, bool with_stream,
                        std::chrono::milliseconds wait = std::chrono::minutes(2));

}  // namespace evs::aws
