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

// The key schemas of the tables evs makes: StreamId (S) as the partition key, and in the events
// table Version (N) as the sort key. A snapshot table has no sort key: one item per stream.
enum class TableKeys { kStreamAndVersion, kStreamOnly };

// Creates `table` with `keys` (on-demand billing; with `with_stream`, a DynamoDB stream of new
// images), or accepts an existing one with that key schema (kInvalidArgument for another), and
// waits at most `wait` for it to be ACTIVE (kUnavailable after that).
Status CreateTable(AwsClient& client, const std::string& table, TableKeys keys, bool with_stream,
                   std::chrono::milliseconds wait = std::chrono::minutes(2));

// Waits at most `wait` for the existing `table` to be ACTIVE, checking its key schema as
// CreateTable() does. A missing table is kNotFound, with `how_to_create` in the message.
Status WaitForTable(AwsClient& client, const std::string& table, TableKeys keys,
                    const std::string& how_to_create,
                    std::chrono::milliseconds wait = std::chrono::minutes(2));

// The events table: CreateTable(client, table, TableKeys::kStreamAndVersion, ...).
Status CreateEventTable(AwsClient& client, const std::string& table, bool with_stream,
                        std::chrono::milliseconds wait = std::chrono::minutes(2));

// A client (libcurl) with the settings of the environment (aws_client.h), as the public
// functions of evs/dynamodb.h use.
Result<std::shared_ptr<AwsClient>> ClientFromEnvironment();

}  // namespace evs::aws
