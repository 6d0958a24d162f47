// The ObjectStore on S3's REST API: PutObject, GetObject (with Range), HeadObject,
// ListObjectsV2 (with continuation and StartAfter), DeleteObject. Path-style addressing
// (endpoint/bucket/key), which every S3 endpoint and the local stand-ins accept.
#include "aws/s3_object_store.h"

#include <charconv>
#include <ctime>
#include <pugixml.hpp>

#include "archive/object_keys.h"
#include "aws/sigv4.h"

namespace evs::aws {
namespace {

constexpr size_t kMaxListKeys = 1000;

// "Wed, 12 Oct 2009 17:50:00 GMT" (HTTP) or "2009-10-12T17:50:30.000Z" (ListObjectsV2), in
// microseconds since the epoch; 0 when neither.
int64_t ParseS3Time(const std::string& text) {
  struct tm t {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t);
  if (end == nullptr) end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(timegm(&t)) * 1'000'000;
}

uint64_t ParseSize(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

class S3ObjectStore final : public ObjectStore {
 public:
  S3ObjectStore(std::shared_ptr<AwsClient> client, std::string bucket, std::string prefix)
      : client_(std::move(client)), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {}

  Status Put(std::string_view key, std::string_view bytes) override {
    if (auto s = archive::CheckKey(key, "key"); !s) return s;
    auto response =
        client_->CallRest(Service::kS3, "PUT", ObjectPath(key),
                          {{"content-type", "application/octet-stream"}}, std::string(bytes));
    if (!response.ok()) return response.error();
    if (response->status != 200) return Failure("PutObject", key, *response);
    return OkStatus();
  }

  Result<std::string> Get(std::string_view key, std::optional<ByteRange> range) override {
    if (auto s = archive::CheckKey(key, "key"); !s) return s.error();
    Headers headers;
    if (range) {
      if (range->length == 0) {
        // An empty range has no HTTP form; the object must still exist.
        auto head = Head(key);
        if (!head.ok()) return head.error();
        return std::string();
      }
      headers.emplace_back("range", "bytes=" + std::to_string(range->offset) + "-" +
                                        std::to_string(range->offset + range->length - 1));
    }
    auto response = client_->CallRest(Service::kS3, "GET", ObjectPath(key), headers, "");
    if (!response.ok()) return response.error();
    if (response->status == 200 || response->status == 206) return std::move(response->body);
    // A range that starts past the end: nothing there, as on a folder.
    if (response->status == 416) return std::string();
    return Failure("GetObject", key, *response).error();
  }

  Result<ObjectInfo> Head(std::string_view key) override {
    if (auto s = archive::CheckKey(key, "key"); !s) return s.error();
    auto response = client_->CallRest(Service::kS3, "HEAD", ObjectPath(key), {}, "");
    if (!response.ok()) return response.error();
    if (response->status != 200) return Failure("HeadObject", key, *response).error();
    ObjectInfo info;
    info.key = std::string(key);
    info.size = ParseSize(response->Header("content-length"));
    info.modified_at_us = ParseS3Time(response->Header("last-modified"));
    return info;
  }

  Result<ObjectList> List(const ListOptions& options) override {
    if (options.max_keys < 1 || options.max_keys > kMaxListKeys) {
      return Error::Make(ErrorCode::kInvalidArgument, "max_keys must be 1.." +
                                                          std::to_string(kMaxListKeys) + ", got " +
                                                          std::to_string(options.max_keys));
    }
    std::string query = "?list-type=2&max-keys=" + std::to_string(options.max_keys) +
                        "&prefix=" + UriEncode(prefix_ + std::string(options.prefix), false);
    if (!options.start_after.empty()) {
      query += "&start-after=" + UriEncode(prefix_ + std::string(options.start_after), false);
    }
    if (!options.continuation.empty()) {
      query += "&continuation-token=" + UriEncode(options.continuation, false);
    }
    auto response = client_->CallRest(Service::kS3, "GET", "/" + bucket_ + query, {}, "");
    if (!response.ok()) return response.error();
    if (response->status != 200) return Failure("ListObjectsV2", options.prefix, *response).error();
    pugi::xml_document doc;
    if (!doc.load_buffer(response->body.data(), response->body.size())) {
      return Error::Make(ErrorCode::kCorruption,
                         "s3://" + bucket_ + ": ListObjectsV2 answered with malformed XML");
    }
    const pugi::xml_node result = doc.child("ListBucketResult");
    ObjectList list;
    for (pugi::xml_node item : result.children("Contents")) {
      std::string key = item.child_value("Key");
      if (!key.starts_with(prefix_)) continue;
      key.erase(0, prefix_.size());
      // Objects put there by other tools with keys evs would refuse are not listed.
      if (!archive::KeyProblem(key).empty()) continue;
      ObjectInfo info;
      info.key = std::move(key);
      info.size = ParseSize(item.child_value("Size"));
      info.modified_at_us = ParseS3Time(item.child_value("LastModified"));
      list.objects.push_back(std::move(info));
    }
    if (std::string_view(result.child_value("IsTruncated")) == "true") {
      list.next_token = result.child_value("NextContinuationToken");
      if (list.next_token.empty()) {
        return Error::Make(
            ErrorCode::kCorruption,
            "s3://" + bucket_ + ": ListObjectsV2 said the listing goes on but gave no token");
      }
    }
    return list;
  }

  Status Delete(std::string_view key) override {
    if (auto s = archive::CheckKey(key, "key"); !s) return s;
    auto response = client_->CallRest(Service::kS3, "DELETE", ObjectPath(key), {}, "");
    if (!response.ok()) return response.error();
    if (response->status != 204 && response->status != 200 && response->status != 404) {
      return Failure("DeleteObject", key, *response);
    }
    return OkStatus();
  }

  // A PutObject is atomic on S3: nothing half-written is ever left behind.
  Result<size_t> RemoveIncompleteWrites() override { return size_t{0}; }

  std::string Location() const override { return "s3://" + bucket_ + "/" + prefix_; }

 private:
  std::string ObjectPath(std::string_view key) const {
    return "/" + bucket_ + "/" + UriEncode(prefix_ + std::string(key), true);
  }

  // An error for an S3 answer that is not the one wanted: the service's code and message, with
  // the object it was about.
  Status Failure(const char* operation, std::string_view key, const HttpResponse& response) {
    return AwsErrorFromResponse(Service::kS3, operation, response,
                                "s3://" + bucket_ + "/" + prefix_ + std::string(key));
  }

  std::shared_ptr<AwsClient> client_;
  const std::string bucket_;
  const std::string prefix_;  // "" or ending in '/'
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> NewS3ObjectStore(std::shared_ptr<AwsClient> client,
                                                      std::string_view location) {
  if (!location.starts_with("s3://")) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "'" + std::string(location) + "' is not an s3://bucket/prefix location");
  }
  std::string_view rest = location.substr(5);
  const size_t slash = rest.find('/');
  std::string bucket(rest.substr(0, slash));
  std::string prefix(slash == std::string_view::npos ? "" : rest.substr(slash + 1));
  // Bucket names: 3-63 lower-case letters, digits, dots and hyphens.
  bool valid = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  }
  if (!valid) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "'" + bucket + "' is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')");
  }
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  if (!prefix.empty() && !archive::KeyProblem(prefix.substr(0, prefix.size() - 1)).empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the prefix of '" + std::string(location) + "' is not a valid key path: " +
                           archive::KeyProblem(prefix.substr(0, prefix.size() - 1)));
  }
  return std::unique_ptr<ObjectStore>(
      std::make_unique<S3ObjectStore>(std::move(client), std::move(bucket), std::move(prefix)));
}

}  // namespace evs::aws
