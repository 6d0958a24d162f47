// The Kinesis record format shared by the relay (writer) and the consumer (reader): one record
// per commit, partition key = the evs stream id, Data = the JSON text
//
//   {"stream_id": "cart-1", "first_version": 3,
//    "events": [{"version": 3, "id": "<uuid>", "type": "ItemAdded", "data": "<JSON text>",
//                "metadata": "<JSON text>", "recorded_at_us": 1714557600123456}, ...]}
//
// `data` and `metadata` are JSON strings holding the exact stored text, so a reader gets back
// byte for byte what the store holds. Versions are dense from first_version. Kinesis carries
// Data base64-encoded in its JSON protocol.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64.h"
#include "evs/event.h"
#include "evs/status.h"

namespace evs::aws {

// Kinesis's own limits: a record's data plus partition key, a PutRecords call's records and
// bytes (partition keys included), a partition key's length.
constexpr size_t kMaxKinesisRecordBytes = 1024 * 1024;
constexpr size_t kMaxPutRecordsCount = 500;
constexpr size_t kMaxPutRecordsBytes = 5 * 1024 * 1024;
constexpr size_t kMaxPartitionKeyBytes = 256;

// Blobs in the AWS JSON protocols are base64 (common/base64.h).
using evs::Base64Decode;
using evs::Base64Encode;

// The Data of the record for one commit: `events` are its events in version order, all of one
// stream, versions dense. kInvalidArgument when they are not, or a text is not valid UTF-8.
Result<std::string> EncodeCommitRecord(std::span<const RecordedEvent> events);

// The events of a record's Data (already base64-decoded), position 0 (Kinesis has no global
// log). kCorruption saying what is wrong when the text is not a commit record.
Result<std::vector<RecordedEvent>> DecodeCommitRecord(std::string_view data);

}  // namespace evs::aws
