// Creating the Kinesis stream the relay writes and the consumers read (for local stand-ins and
// first steps; on AWS, Terraform makes it).
#pragma once

#include <chrono>
#include <string>

#include "aws/aws_client.h"
#include "evs/status.h"

namespace evs::aws {

// Creates `stream` with `shards` shards, or finds it already there, and waits until it is ACTIVE
// (at most `wait`: kUnavailable after). kInvalidArgument for a shard count outside 1..1024.
Status CreateKinesisStream(AwsClient& client, const std::string& stream, int shards,
                           std::chrono::milliseconds wait = std::chrono::minutes(2));

}  // namespace evs::aws
