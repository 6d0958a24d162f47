// The ObjectStore on S3 (object_store.h's contract), so that the archiver, verify and replay run
// unchanged on `s3://bucket/prefix`.
#pragma once

#include <memory>
#include <string_view>

#include "aws/aws_client.h"
#include "evs/object_store.h"
#include "evs/status.h"

namespace evs::aws {

// The store at `location` ("s3://bucket" or "s3://bucket/prefix"): keys are stored under the
// prefix (with a '/' added when it lacks one). kInvalidArgument for a malformed location.
Result<std::unique_ptr<ObjectStore>> NewS3ObjectStore(std::shared_ptr<AwsClient> client,
                                                      std::string_view location);

}  // namespace evs::aws
