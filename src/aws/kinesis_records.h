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
//
// A replay from the archive (`evs replay --to-kinesis`, the `replay` Lambda) writes the same
// format with two more fields, absent on live records:
//   "replay": true             on the record: it re-publishes archived events (history again);
//   "position": P              on each event: its position in the archive's global log.
// A replay record may hold several commits of one stream (consecutive versions, in position
// order). A consumer that already applied a version skips it (StreamProjectionHandler does).
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

// The same with the replay fields: "replay": true on the record and each event's "position"
// (where it has one: positions are >= 1).
Result<std::string> EncodeReplayRecord(std::span<const RecordedEvent> events);

// Building a record event by event with its exact size known before it is assembled (the replay
// packs events into records of at most 1 MiB). Entries are the events' JSON texts.
// The JSON text of one event's entry (with "position" when `with_position` and the event has
// one); kInvalidArgument when a text is not valid UTF-8.
Result<std::string> EncodeRecordEntry(const RecordedEvent& event, bool with_position);
// The bytes a record of `stream_id` takes besides its entries and the commas between them.
// kInvalidArgument when the stream id is not valid UTF-8.
Result<size_t> RecordOverheadBytes(const std::string& stream_id, int64_t first_version,
                                   bool replay);
// The record of `entries` (consecutive versions from first_version; not checked here).
std::string AssembleRecord(const std::string& stream_id, int64_t first_version, bool replay,
                           std::span<const std::string> entries);

// The events of a record's Data (already base64-decoded). Their position is the event's
// "position" when the record has one (a replay), 0 otherwise (Kinesis has no global log).
// kCorruption saying what is wrong when the text is not a commit record.
Result<std::vector<RecordedEvent>> DecodeCommitRecord(std::string_view data);

}  // namespace evs::aws
