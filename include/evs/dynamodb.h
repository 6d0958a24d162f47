// The event store on Amazon DynamoDB (docs/architecture.md): the EventStore contract on one
// table, one item per commit, for when one machine is not enough.
//
// The table has the partition key "StreamId" (S) and the sort key "Version" (N, the first version
// of a commit). Each append is one item, written with a conditional PutItem, so appends are
// atomic and checked without transactions, and a stream has no length limit. The change feed is
// DynamoDB Streams (NEW_IMAGE) relayed to Kinesis. An item holds: StreamId (S), Version (N, the
// commit's first version), LastVersion (N), Count (N), RecordedAt (N, microseconds since the Unix
// epoch) and Events (L of M {Id, Type, Data, Metadata}, all S; data and metadata are the JSON
// text as appended). Part of the evs::aws component (target evs::aws).
//
// Where it differs from the embedded store:
//  * No global log: positions are 0, and ReadLog(), HeadPosition() and WaitForHead() are
//    kUnsupported. Per-stream order is the only order.
//  * One append is at most about 350,000 bytes as an item (DynamoDB items are at most 400 KB);
//    a larger one is kLimitExceeded before anything is sent.
//  * Event ids are checked where the append lands: an idempotent retry (the same ids at the same
//    place, or for any/exists as the stream's most recent commit) returns the original result,
//    and ids that overlap the commit at the target or the commit the append follows are
//    kDuplicateEventId. Ids committed in other streams or in older commits are not looked for:
//    that would need a global index, which one item per commit leaves out.
//  * ListStreams() scans the whole table: fine for tests and operators, not for a request path.
//  * Throttling that outlasts the client's retries is kUnavailable; the service's own error type
//    and message are kept in Error::message.
//
// Credentials, region and endpoint come from the environment as the AWS SDKs read them:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and
// AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL) for a local stand-in such as dynalite.
//
// Thread safety: the store may be used from any number of threads at once, and any number of
// processes may open the same table.
#pragma once

#include <memory>
#include <string>

#include "evs/event_store.h"
#include "evs/snapshot.h"
#include "evs/status.h"

namespace evs {

// How OpenDynamoDbEventStore (and OpenDynamoDbSnapshotStore) open their table. Only `table` must
// be set.
struct DynamoDbStoreOptions {
  std::string table;  // the table's name (3 to 255 of a-z, A-Z, 0-9, '_', '-', '.')
  Limits limits;      // checked on every append, before anything is sent
  // Create the table (with its DynamoDB stream enabled, NEW_IMAGE) when it does not exist.
  // Otherwise opening a missing table is kNotFound.
  bool create_table_if_missing = false;
};

// Opens the store on an existing table (or creates it, see above) after checking that its key
// schema is evs's. kNotFound for a missing table, kInvalidArgument for a table with another key
// schema or settings missing from the environment, kUnavailable when DynamoDB does not answer.
Result<std::unique_ptr<EventStore>> OpenDynamoDbEventStore(const DynamoDbStoreOptions& options);

// Creates the table (on-demand billing; with `with_stream`, a DynamoDB stream of new images for
// the change-capture relay; the local stand-in accepts and ignores it) and waits until it is
// ACTIVE. A table that already exists with evs's key schema is fine (its stream setting is left
// as it is); one with another key schema is kInvalidArgument.
Status CreateDynamoDbTable(const std::string& table, bool with_stream);

// Snapshots (evs/snapshot.h) on DynamoDB: one item per stream in a table of their own, named
// "<options.table>-snapshots" after the events table, with the partition key "StreamId" (S)
// alone and no DynamoDB stream. Created (on-demand billing) when options.create_table_if_missing;
// otherwise a missing table is kNotFound, and one with another key schema kInvalidArgument.
// options.limits is not used. Deleting the table loses nothing but snapshots.
//
// A table of its own, not snapshot items in the events table: every reader of that table takes
// each of its items for a commit (stream reads, the stream version query, the ListStreams scan)
// and so does the change capture, which relays every new item of the table's DynamoDB stream to
// Kinesis. A snapshot item there would need an exception in each of them now and in every reader
// added later, and each save would still cost the relay a record. Here nothing can mistake one.
//
// The item: StreamId S, Version N, LastEventId S (UUID), SchemaVersion N, State S (the JSON text
// as saved), TakenAt N (microseconds since the Unix epoch). Save is one conditional PutItem that
// leaves a snapshot of a higher version in place, so concurrent writers keep the newest. States
// are at most kMaxSnapshotBytes (350,000, under DynamoDB's 400 KB item limit). A Load of an item
// that is not one evs wrote is kCorruption naming the stream. List and Drop of every snapshot
// scan the table: for operators and tests, not for a request path.
Result<std::unique_ptr<SnapshotStore>> OpenDynamoDbSnapshotStore(
    const DynamoDbStoreOptions& options);

}  // namespace evs
