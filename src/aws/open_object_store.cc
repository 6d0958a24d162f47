// OpenObjectStore: the folder backend, or S3 for "s3://" locations with the settings of the AWS
// environment variables. It lives with the AWS layer so that evs_core needs no network code.
#include "aws/aws_client.h"
#include "aws/s3_object_store.h"
#include "evs/s3.h"

namespace evs {

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view location) {
  if (location.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the object store location is empty; give a folder path, "
                       "\"file:///absolute/path\" or \"s3://bucket/prefix\"");
  }
  if (location.starts_with("s3://")) {
    auto config = aws::AwsConfigFromEnvironment();
    if (!config.ok()) return config.error();
    auto client =
        std::make_shared<aws::AwsClient>(std::move(config).value(), aws::NewCurlTransport());
    return aws::NewS3ObjectStore(std::move(client), location);
  }
  std::string path(location);
  if (location.starts_with("file://")) {
    path = std::string(location.substr(7));
    if (!path.starts_with('/')) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "object store location " + std::string(location) +
                             ": after \"file://\" an absolute path is needed, as in "
                             "\"file:///var/lib/evs/archive\"");
    }
  }
  DirectoryObjectStoreOptions options;
  options.path = std::move(path);
  options.create_if_missing = true;
  options.durable = true;
  return OpenDirectoryObjectStore(options);
}

}  // namespace evs
