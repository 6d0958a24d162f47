// Object stores by location, with Amazon S3 among them. Part of the evs::aws component
// (find_package(evs COMPONENTS aws), target evs::aws; pkg-config evs-aws).
#pragma once

#include <memory>
#include <string_view>

#include "evs/object_store.h"
#include "evs/status.h"

namespace evs {

// The store a location names:
//  * "s3://bucket/prefix": objects in S3 under that prefix, with credentials, region and endpoint
//    from the AWS environment variables as the AWS SDKs read them (AWS_ACCESS_KEY_ID,
//    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL_S3 or
//    AWS_ENDPOINT_URL for a local stand-in). Puts are atomic (S3 has no partial objects).
//  * a folder path, or "file://" + an absolute path: OpenDirectoryObjectStore (object_store.h),
//    created when missing, durable.
// An empty location, a relative "file://" path or missing AWS settings are kInvalidArgument.
Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view location);

}  // namespace evs
