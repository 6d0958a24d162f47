// The DynamoDB snapshot store over an AwsClient and a Clock, so that tests can pass their own.
// include/evs/dynamodb.h is the public face and states the contract.
#pragma once

#include <memory>
#include <string>

#include "aws/aws_client.h"
#include "evs/clock.h"
#include "evs/dynamodb.h"
#include "evs/snapshot.h"

namespace evs::aws {

// "<table>-snapshots": where the snapshots of the events table `table` are kept.
std::string SnapshotTableFor(const std::string& table);

// Checks the snapshot table of options.table (creating it when the options say so) and returns
// the store on it. Null clock: SystemClock().
Result<std::unique_ptr<SnapshotStore>> NewDynamoDbSnapshotStore(
    std::shared_ptr<AwsClient> client, const DynamoDbStoreOptions& options,
    std::shared_ptr<Clock> clock = nullptr);

}  // namespace evs::aws
