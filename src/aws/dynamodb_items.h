// The DynamoDB item of one commit, in DynamoDB's attribute-value JSON format: what PutItem
// writes, GetItem and Query return, and DynamoDB Streams carries as NewImage, so the store and
// the change-capture relay decode it the same way.
//
//   StreamId    S   the stream id (partition key)
//   Version     N   the commit's first version (sort key)
//   LastVersion N   its last version
//   Count       N   its number of events
//   RecordedAt  N   microseconds since the Unix epoch, one time for the whole commit
//   Events      L   of M {"Id": S (UUID), "Type": S, "Data": S (the JSON text exactly as
//                   appended), "Metadata": S (likewise)}, in version order
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "evs/event.h"
#include "evs/status.h"

namespace evs::aws {

// Attribute names of the table's key.
// DynamoDB attribute values: {"S": text} and {"N": "number"}.
inline nlohmann::json S(std::string_view text) { return {{"S", std::string(text)}}; }
inline nlohmann::json N(int64_t number) { return {{"N", std::to_string(number)}}; }

inline constexpr const char* kStreamIdAttribute = "StreamId";
inline constexpr const char* kVersionAttribute = "Version";

// The most bytes one commit item may take by EstimateCommitItemBytes(): DynamoDB refuses items
// over 400 KB, and the estimate's margin stays below that.
inline constexpr size_t kMaxCommitItemBytes = 350'000;

// A commit as stored: its events carry stream id, version and recorded time (position 0).
struct Commit {
  std::string stream_id;
  int64_t first_version = 0;
  int64_t last_version = 0;
  int64_t recorded_at_us = 0;
  std::vector<RecordedEvent> events;
};

// The item of a commit of `events` at versions first_version... (ids must be set: the store
// gives nil ids a random one before).
nlohmann::json CommitItem(std::string_view stream_id, int64_t first_version, int64_t recorded_at_us,
                          const std::vector<EventData>& events);

// An upper bound of the size DynamoDB counts for CommitItem(...) (attribute names, values and
// the per-element overhead of lists and maps), so that an append over the item limit is refused
// up front with a clear error instead of a ValidationException.
size_t EstimateCommitItemBytes(std::string_view stream_id, const std::vector<EventData>& events);

// Decodes a commit item (a GetItem "Item", one of Query's "Items", or a stream record's
// NewImage). kCorruption naming the stream and version when the item is not one evs wrote:
// missing or mistyped attributes, a Count or LastVersion that disagrees with Events, a bad UUID.
Result<Commit> DecodeCommitItem(const nlohmann::json& attribute_value_map);

// The events of a commit item, in version order (DecodeCommitItem(...).events).
Result<std::vector<RecordedEvent>> EventsFromCommitItem(const nlohmann::json& attribute_value_map);

// The text of a string attribute ({"S": "abc"}) of an item, or nullptr when it is missing or
// not a string.
const std::string* StringAttribute(const nlohmann::json& item, const char* name);

// The integer of a number attribute ({"N": "12"}) of an item; kCorruption naming the attribute
// when it is missing, not a number or not an integer.
Result<int64_t> NumberAttribute(const nlohmann::json& item, const char* name);

}  // namespace evs::aws
