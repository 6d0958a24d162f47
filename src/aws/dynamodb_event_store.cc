// The event store on DynamoDB: one item per commit (aws/dynamodb_items.h), keyed by stream id
// and the commit's first version, written with a conditional PutItem. The condition
// (attribute_not_exists) is the whole concurrency check: two appends that target the same next
// version race for the same key, and DynamoDB lets exactly one of them write it. Everything else
// is reads with ConsistentRead, so a reader sees every acknowledged append.
//
// An exact expected version must be a commit boundary (the commit containing it ends there),
// or the next key would sit inside an existing commit's versions; any/exists read the last
// commit and take the key after it, retrying a few times when another writer wins the race.
#include "aws/dynamodb_event_store.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "aws/dynamodb_items.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "store/append_validation.h"
#include "store/read_validation.h"

namespace evs::aws {
namespace {

// any/exists: how many times an append re-reads the stream's end after losing the race for the
// next key to another writer, before it gives up with kUnavailable. With jittered backoff (up to
// 64 ms) a writer is all but sure to win within this many tries (10 was too few for 8 writers on
// one stream on a loaded machine).
constexpr int kMaxAppendAttempts = 40;
// Bound on the pages of one read (Query, Scan); far above any real table.
constexpr int kMaxPages = 1'000'000;
// Items asked for per Query page: each commit holds at least one event, so a read of n events
// never needs more than n items; DynamoDB still cuts a page at 1 MB.
constexpr size_t kMaxQueryItems = 1000;

constexpr const char* kLastVersionAttribute = "LastVersion";
constexpr const char* kNoGlobalLog =
    "DynamoDB has no global log; consume the change feed through DynamoDB Streams and Kinesis";

bool IsConditionFailed(const Error& error) {
  return AwsErrorType(error) == "ConditionalCheckFailedException";
}

std::string Quoted(std::string_view stream) { return "'" + std::string(stream) + "'"; }

Error Unsupported(const char* what) {
  return Error::Make(ErrorCode::kUnsupported, std::string(what) + ": " + kNoGlobalLog);
}

Error Conflict(std::string_view stream, const ExpectedVersion& expected, int64_t actual,
               const std::string& detail = "") {
  Error error = Error::Make(ErrorCode::kWrongExpectedVersion,
                            "stream " + Quoted(stream) + " is at version " +
                                std::to_string(actual) + ", but the append expected " +
                                expected.ToString() + detail + "; reload it and decide again");
  error.conflict = VersionConflict{expected.ToString(), actual};
  return error;
}

Error DuplicateId(std::string_view stream, const RecordedEvent& committed) {
  return Error::Make(ErrorCode::kDuplicateEventId,
                     "event id " + committed.id.ToString() + " is already committed in stream " +
                         Quoted(stream) + " at version " + std::to_string(committed.version) +
                         "; a retry must resend the same events with the same expected version");
}

// The commit's event whose id is also one of `events`', or nullptr.
const RecordedEvent* SharedId(const Commit& commit, const std::vector<EventData>& events) {
  for (const RecordedEvent& committed : commit.events) {
    for (const EventData& e : events) {
      if (committed.id == e.id) return &committed;
    }
  }
  return nullptr;
}

// Whether the commit is exactly these events' ids, in order: the append was already made.
bool SameIds(const Commit& commit, const std::vector<EventData>& events) {
  if (commit.events.size() != events.size()) return false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (commit.events[i].id != events[i].id) return false;
  }
  return true;
}

AppendResult ResultOf(const Commit& commit) {
  return AppendResult{commit.first_version, commit.last_version, 0, 0};
}

// Sleeps a random moment before another try against other writers, so that they spread out.
void PauseBeforeRetry(int attempt) {
  using std::chrono::milliseconds;
  std::this_thread::sleep_for(
      FullJitter(ExponentialDelay(milliseconds(2), milliseconds(64), attempt), JitterRandom()));
}

nlohmann::json AttributeNames(std::initializer_list<std::pair<const char*, const char*>> names) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [placeholder, name] : names) out[placeholder] = name;
  return out;
}

// One Query of a stream's commits. `op` ("<=", ">", "") bounds the sort key by `version`.
struct QuerySpec {
  const char* op = "";
  int64_t version = 0;
  bool forward = true;
  size_t limit = 1;
  bool last_version_only = false;  // project LastVersion only
};

class DynamoDbEventStore final : public EventStore {
 public:
  DynamoDbEventStore(std::shared_ptr<AwsClient> client, std::string table, const Limits& limits)
      : client_(std::move(client)), table_(std::move(table)), limits_(limits) {}

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    if (auto s = store::ValidateAppend(limits_, stream_id, expected, events); !s) return s.error();
    if (size_t bytes = EstimateCommitItemBytes(stream_id, events); bytes > kMaxCommitItemBytes) {
      return Error::Make(ErrorCode::kLimitExceeded,
                         "append of " + std::to_string(events.size()) + " events is about " +
                             std::to_string(bytes) + " bytes as a DynamoDB item; the limit is " +
                             std::to_string(kMaxCommitItemBytes) +
                             " per append (DynamoDB items are at most 400 KB): split the "
                             "events over several appends");
    }
    const bool exact = expected.kind() == ExpectedVersion::Kind::kExact ||
                       expected.kind() == ExpectedVersion::Kind::kNoStream;
    bool duplicate = false;
    auto result = exact ? AppendExact(stream_id, expected, events, duplicate)
                        : AppendAtEnd(stream_id, expected, events, duplicate);
    if (result.ok() && duplicate) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
    } else if (result.ok()) {
      appends_.fetch_add(1, std::memory_order_relaxed);
      events_.fetch_add(events.size(), std::memory_order_relaxed);
    } else if (result.error().code == ErrorCode::kWrongExpectedVersion) {
      conflicts_.fetch_add(1, std::memory_order_relaxed);
    }
    return result;
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    return options.direction == Direction::kForward ? ReadForward(stream_id, options)
                                                    : ReadBackward(stream_id, options);
  }

  Result<LogPage> ReadLog(int64_t, size_t) override { return Unsupported("ReadLog"); }

  // Scans the table for each stream's first commit (Version = 1), so its cost grows with the
  // table: for tests and operators, not for a request path.
  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    std::set<std::string> ids;
    nlohmann::json start;
    for (int pages = 0;; ++pages) {
      if (pages == kMaxPages) return TooManyPages("list streams");
      nlohmann::json body = {
          {"TableName", table_},
          {"FilterExpression", "#v = :one"},
          {"ProjectionExpression", "#k"},
          {"ExpressionAttributeNames",
           AttributeNames({{"#k", kStreamIdAttribute}, {"#v", kVersionAttribute}})},
          {"ExpressionAttributeValues", {{":one", {{"N", "1"}}}}},
          {"ConsistentRead", true}};
      if (!start.is_null()) body["ExclusiveStartKey"] = std::move(start);
      auto response = Call("Scan", body, "list streams");
      if (!response.ok()) return response.error();
      for (const nlohmann::json& item : Items(*response)) {
        auto stream = item.find(kStreamIdAttribute);
        if (stream != item.end() && stream->contains("S") && (*stream)["S"].is_string()) {
          std::string id = (*stream)["S"].get<std::string>();
          if (id <= after) continue;
          ids.insert(std::move(id));
          // The page and one more (which says whether there is a next page) are all it needs.
          if (ids.size() - 1 > limit) ids.erase(std::prev(ids.end()));
        }
      }
      auto next = response->find("LastEvaluatedKey");
      if (next == response->end() || next->empty()) break;
      start = std::move(*next);
    }
    StreamsPage page;
    for (auto it = ids.begin(); it != ids.end() && page.streams.size() < limit; ++it) {
      auto version = StreamVersion(*it);
      if (!version.ok()) return version.error();
      page.streams.push_back(StreamInfo{*it, *version});
    }
    if (!page.streams.empty() && ids.size() > page.streams.size()) {
      page.next_after = page.streams.back().stream_id;
    }
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    QuerySpec spec;
    spec.forward = false;
    spec.last_version_only = true;
    auto response = Query(stream_id, spec, nullptr, "read the version of stream");
    if (!response.ok()) return response.error();
    const nlohmann::json& items = Items(*response);
    if (items.empty()) return int64_t{0};
    return NumberAttribute(items[0], kLastVersionAttribute);
  }

  Result<int64_t> HeadPosition() override { return Unsupported("HeadPosition"); }

  Result<int64_t> WaitForHead(int64_t, std::chrono::milliseconds) override {
    return Unsupported("WaitForHead");
  }

  StoreStats Stats() override {
    StoreStats stats;
    stats.appends = appends_.load(std::memory_order_relaxed);
    stats.events = events_.load(std::memory_order_relaxed);
    stats.conflicts = conflicts_.load(std::memory_order_relaxed);
    stats.duplicates = duplicates_.load(std::memory_order_relaxed);
    stats.commits = stats.appends;  // one item, one write, per append
    return stats;
  }

 private:
  // Exact N (NoStream is N = 0): N must end a commit; the append takes key N + 1.
  Result<AppendResult> AppendExact(std::string_view stream, const ExpectedVersion& expected,
                                   const std::vector<EventData>& events, bool& duplicate) {
    const int64_t n = expected.kind() == ExpectedVersion::Kind::kNoStream ? 0 : expected.version();
    int64_t recorded_floor = 0;
    if (n > 0) {
      auto before = CommitAtOrBefore(stream, n, "append to stream");
      if (!before.ok()) return before.error();
      if (!*before) return Conflict(stream, expected, 0);
      const Commit& commit = **before;
      if (const RecordedEvent* shared = SharedId(commit, events)) {
        return DuplicateId(stream, *shared);
      }
      if (commit.last_version > n) {
        auto actual = StreamVersion(stream);
        if (!actual.ok()) return actual.error();
        return Conflict(stream, expected, *actual,
                        " (version " + std::to_string(n) + " is inside the commit of versions " +
                            std::to_string(commit.first_version) + " to " +
                            std::to_string(commit.last_version) + ")");
      }
      // The last commit ends before N: the stream is shorter.
      if (commit.last_version < n) return Conflict(stream, expected, commit.last_version);
      recorded_floor = commit.recorded_at_us;
    }
    auto written = Put(stream, n + 1, recorded_floor, events);
    if (!written.ok()) return written.error();
    const auto count = static_cast<int64_t>(events.size());
    if (*written) return AppendResult{n + 1, n + count, 0, 0};

    // Someone committed at N + 1 first: this append's own earlier try (a lost answer), or not.
    auto there = CommitAt(stream, n + 1);
    if (!there.ok()) return there.error();
    if (*there) {
      if (SameIds(**there, events)) {
        duplicate = true;
        return ResultOf(**there);
      }
      if (const RecordedEvent* shared = SharedId(**there, events)) {
        return DuplicateId(stream, *shared);
      }
    }
    auto actual = StreamVersion(stream);
    if (!actual.ok()) return actual.error();
    return Conflict(stream, expected, *actual);
  }

  // Any and exists: after the stream's last commit, retrying when another writer takes the key.
  Result<AppendResult> AppendAtEnd(std::string_view stream, const ExpectedVersion& expected,
                                   const std::vector<EventData>& events, bool& duplicate) {
    for (int attempt = 0; attempt < kMaxAppendAttempts; ++attempt) {
      if (attempt > 0) PauseBeforeRetry(attempt);
      QuerySpec spec;
      spec.forward = false;
      auto last = FirstCommit(stream, spec, "append to stream");
      if (!last.ok()) return last.error();
      int64_t version = 0;
      int64_t recorded_floor = 0;
      if (*last) {
        // A retry of an append that already landed (its answer was lost) finds it at the end.
        if (SameIds(**last, events)) {
          duplicate = true;
          return ResultOf(**last);
        }
        if (const RecordedEvent* shared = SharedId(**last, events)) {
          return DuplicateId(stream, *shared);
        }
        version = (*last)->last_version;
        recorded_floor = (*last)->recorded_at_us;
      }
      if (!expected.Matches(version)) return Conflict(stream, expected, version);
      auto written = Put(stream, version + 1, recorded_floor, events);
      if (!written.ok()) return written.error();
      if (*written) {
        return AppendResult{version + 1, version + static_cast<int64_t>(events.size()), 0, 0};
      }
    }
    return Error::Make(ErrorCode::kUnavailable, "append to stream " + Quoted(stream) +
                                                    ": other writers took the next version " +
                                                    std::to_string(kMaxAppendAttempts) +
                                                    " times in a row; try again later");
  }

  // Writes the commit item at `first_version` unless that key is taken: true when written,
  // false when taken. Recorded times never go back within a stream, even if the clock does.
  Result<bool> Put(std::string_view stream, int64_t first_version, int64_t recorded_floor,
                   const std::vector<EventData>& events) {
    const int64_t recorded_at = std::max(NowMicros(), recorded_floor);
    nlohmann::json body = {
        {"TableName", table_},
        {"Item", CommitItem(stream, first_version, recorded_at, events)},
        {"ConditionExpression", "attribute_not_exists(#k)"},
        {"ExpressionAttributeNames", AttributeNames({{"#k", kStreamIdAttribute}})}};
    auto response = Call("PutItem", body, "append to stream " + Quoted(stream));
    if (response.ok()) return true;
    if (IsConditionFailed(response.error())) return false;
    return response.error();
  }

  Result<StreamPage> ReadForward(std::string_view stream, const ReadStreamOptions& options) {
    const int64_t from = std::max<int64_t>(options.from, 1);
    const std::string context = "read stream";
    // The commit holding `from`, then the ones after it.
    auto start = CommitAtOrBefore(stream, from, context);
    if (!start.ok()) return start.error();
    if (!*start) return NotFound(stream);
    StreamPage page;
    auto take = [&](Commit& commit) {
      for (RecordedEvent& e : commit.events) {
        if (page.events.size() >= options.limit) return;
        if (e.version >= from) page.events.push_back(std::move(e));
      }
    };
    int64_t last_seen = (*start)->last_version;
    take(**start);
    bool at_end = false;
    if (page.events.size() < options.limit) {
      QuerySpec spec;
      spec.op = ">";
      spec.version = (*start)->first_version;
      nlohmann::json start_key;
      for (int pages = 0;; ++pages) {
        if (pages == kMaxPages) return TooManyPages(context);
        spec.limit = std::clamp<size_t>(options.limit - page.events.size(), 1, kMaxQueryItems);
        auto response = Query(stream, spec, &start_key, context);
        if (!response.ok()) return response.error();
        const nlohmann::json& items = Items(*response);
        size_t used = 0;
        for (; used < items.size() && page.events.size() < options.limit; ++used) {
          auto commit = DecodeCommitItem(items[used]);
          if (!commit.ok()) return commit.error();
          last_seen = commit->last_version;
          take(*commit);
        }
        auto next = response->find("LastEvaluatedKey");
        const bool more = next != response->end() && !next->empty();
        if (!more && used == items.size()) at_end = true;
        if (!more || page.events.size() >= options.limit) break;
        start_key = std::move(*next);
      }
    }
    if (at_end) {
      page.stream_version = last_seen;
    } else {
      auto version = StreamVersion(stream);
      if (!version.ok()) return version.error();
      page.stream_version = *version;
    }
    page.end_of_stream = page.events.empty() || page.events.back().version == page.stream_version;
    return page;
  }

  Result<StreamPage> ReadBackward(std::string_view stream, const ReadStreamOptions& options) {
    const std::string context = "read stream";
    StreamPage page;
    QuerySpec spec;
    spec.forward = false;
    int64_t from = options.from;
    if (from > 0) {
      auto version = StreamVersion(stream);
      if (!version.ok()) return version.error();
      if (*version == 0) return NotFound(stream);
      page.stream_version = *version;
      from = std::min(from, *version);
      spec.op = "<=";
      spec.version = from;
    }
    nlohmann::json start_key;
    for (int pages = 0;; ++pages) {
      if (pages == kMaxPages) return TooManyPages(context);
      spec.limit = std::clamp<size_t>(options.limit - page.events.size(), 1, kMaxQueryItems);
      auto response = Query(stream, spec, &start_key, context);
      if (!response.ok()) return response.error();
      const nlohmann::json& items = Items(*response);
      if (from <= 0) {  // from the end: the first commit read is the last one
        if (items.empty()) return NotFound(stream);
        auto last = NumberAttribute(items[0], kLastVersionAttribute);
        if (!last.ok()) return last.error();
        from = *last;
        page.stream_version = from;
      }
      for (size_t i = 0; i < items.size() && page.events.size() < options.limit; ++i) {
        auto commit = DecodeCommitItem(items[i]);
        if (!commit.ok()) return commit.error();
        for (auto e = commit->events.rbegin();
             e != commit->events.rend() && page.events.size() < options.limit; ++e) {
          if (e->version <= from) page.events.push_back(std::move(*e));
        }
      }
      auto next = response->find("LastEvaluatedKey");
      if (next == response->end() || next->empty() || page.events.size() >= options.limit) break;
      start_key = std::move(*next);
    }
    page.end_of_stream = page.events.empty() || page.events.back().version == 1;
    return page;
  }

  // The commit holding `version` (the last one starting at or before it), if any.
  Result<std::optional<Commit>> CommitAtOrBefore(std::string_view stream, int64_t version,
                                                 const std::string& context) {
    QuerySpec spec;
    spec.op = "<=";
    spec.version = version;
    spec.forward = false;
    return FirstCommit(stream, spec, context);
  }

  // The first commit a one-item Query finds, if any.
  Result<std::optional<Commit>> FirstCommit(std::string_view stream, const QuerySpec& spec,
                                            const std::string& context) {
    auto response = Query(stream, spec, nullptr, context);
    if (!response.ok()) return response.error();
    const nlohmann::json& items = Items(*response);
    if (items.empty()) return std::optional<Commit>();
    auto commit = DecodeCommitItem(items[0]);
    if (!commit.ok()) return commit.error();
    return std::optional<Commit>(std::move(commit).value());
  }

  // The commit starting at `version`, if any.
  Result<std::optional<Commit>> CommitAt(std::string_view stream, int64_t version) {
    nlohmann::json body = {{"TableName", table_},
                           {"Key",
                            {{kStreamIdAttribute, {{"S", std::string(stream)}}},
                             {kVersionAttribute, {{"N", std::to_string(version)}}}}},
                           {"ConsistentRead", true}};
    auto response = Call("GetItem", body, "append to stream " + Quoted(stream));
    if (!response.ok()) return response.error();
    auto item = response->find("Item");
    if (item == response->end() || item->empty()) return std::optional<Commit>();
    auto commit = DecodeCommitItem(*item);
    if (!commit.ok()) return commit.error();
    return std::optional<Commit>(std::move(commit).value());
  }

  // One page of a Query; `start_key` (when not null) continues from a LastEvaluatedKey.
  Result<nlohmann::json> Query(std::string_view stream, const QuerySpec& spec,
                               const nlohmann::json* start_key, const std::string& context) {
    nlohmann::json names = AttributeNames({{"#k", kStreamIdAttribute}});
    nlohmann::json values = {{":s", {{"S", std::string(stream)}}}};
    std::string condition = "#k = :s";
    if (*spec.op != '\0') {
      condition += std::string(" AND #v ") + spec.op + " :v";
      names["#v"] = kVersionAttribute;
      values[":v"] = {{"N", std::to_string(spec.version)}};
    }
    nlohmann::json body = {{"TableName", table_},
                           {"KeyConditionExpression", std::move(condition)},
                           {"ExpressionAttributeValues", std::move(values)},
                           {"ScanIndexForward", spec.forward},
                           {"Limit", spec.limit},
                           {"ConsistentRead", true}};
    if (spec.last_version_only) {
      body["ProjectionExpression"] = "#l";
      names["#l"] = kLastVersionAttribute;
    }
    body["ExpressionAttributeNames"] = std::move(names);
    if (start_key != nullptr && !start_key->is_null()) body["ExclusiveStartKey"] = *start_key;
    return Call("Query", body, context + " " + Quoted(stream));
  }

  // A DynamoDB call; errors get `context` in front. A missing table is kUnavailable (the store
  // cannot work at all), not the kNotFound of a missing stream.
  Result<nlohmann::json> Call(std::string_view operation, const nlohmann::json& body,
                              const std::string& context) {
    auto response = client_->CallJson(Service::kDynamoDb, operation, body);
    if (response.ok() || IsConditionFailed(response.error())) return response;
    Error error = std::move(response.error());
    error.message = context + ": " + error.message;
    if (error.code == ErrorCode::kNotFound) {
      error.code = ErrorCode::kUnavailable;
      error.message +=
          " (is the table '" + table_ + "' there? evs aws init --table " + table_ + " creates it)";
    }
    return error;
  }

  static const nlohmann::json& Items(const nlohmann::json& response) {
    static const nlohmann::json kNone = nlohmann::json::array();
    auto items = response.find("Items");
    return items != response.end() && items->is_array() ? *items : kNone;
  }

  static Error NotFound(std::string_view stream) {
    return Error::Make(ErrorCode::kNotFound, "stream " + Quoted(stream) + " not found");
  }

  static Error TooManyPages(const std::string& what) {
    return Error::Make(ErrorCode::kIOError, what + ": DynamoDB kept returning more pages after " +
                                                std::to_string(kMaxPages) + "; stopped");
  }

  const std::shared_ptr<AwsClient> client_;
  const std::string table_;
  const Limits limits_;
  std::atomic<uint64_t> appends_{0};
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> conflicts_{0};
  std::atomic<uint64_t> duplicates_{0};
};

// "StreamId HASH, Version RANGE": how DescribeTable's key schema reads for `keys`.
const char* KeySchemaText(TableKeys keys) {
  return keys == TableKeys::kStreamAndVersion ? "StreamId HASH, Version RANGE" : "StreamId HASH";
}

// Whether a DescribeTable answer's key schema is `keys`.
Status CheckKeySchema(const std::string& table, const nlohmann::json& description, TableKeys keys) {
  auto describe = [&](const char* field, const char* name_key, const char* value_key) {
    std::string out;
    auto list = description.find(field);
    if (list == description.end() || !list->is_array()) return out;
    auto text = [](const nlohmann::json& element, const char* key) {
      auto value = element.find(key);
      return value != element.end() && value->is_string() ? value->get<std::string>() : "?";
    };
    for (const nlohmann::json& element : *list) {
      if (!out.empty()) out += ", ";
      out += element.is_object() ? text(element, name_key) + " " + text(element, value_key) : "?";
    }
    return out;
  };
  const std::string found = describe("KeySchema", "AttributeName", "KeyType");
  const std::string types = describe("AttributeDefinitions", "AttributeName", "AttributeType");
  const bool with_version = keys == TableKeys::kStreamAndVersion;
  const bool keys_match = found == KeySchemaText(keys);
  const bool types_match = types.find("StreamId S") != std::string::npos &&
                           (!with_version || types.find("Version N") != std::string::npos);
  if (keys_match && types_match) return OkStatus();
  return Error::Make(ErrorCode::kInvalidArgument,
                     "table '" + table + "' exists with another key schema (" + found + "; " +
                         types + "); " +
                         (with_version ? "the event store needs StreamId (S, HASH) and Version "
                                         "(N, RANGE)"
                                       : "snapshots need StreamId (S, HASH) alone") +
                         ": use another table name");
}

// Waits until DescribeTable says ACTIVE, checking the key schema each time. `created`: the
// table was just created, so a moment of ResourceNotFoundException is not yet an error;
// otherwise a missing table is kNotFound with `how_to_create` in the message.
Status WaitUntilActive(AwsClient& client, const std::string& table, TableKeys keys, bool created,
                       const std::string& how_to_create, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  evs::Backoff pause(std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
  std::string last_state = "unknown";
  for (int polls = 0;; ++polls) {
    auto response = client.CallJson(Service::kDynamoDb, "DescribeTable", {{"TableName", table}});
    if (response.ok()) {
      auto description = response->find("Table");
      if (description == response->end() || !description->is_object()) {
        return Error::Make(ErrorCode::kIOError,
                           "describe table '" + table + "': the answer has no table description");
      }
      if (auto s = CheckKeySchema(table, *description, keys); !s) return s;
      auto state = description->find("TableStatus");
      last_state =
          state != description->end() && state->is_string() ? state->get<std::string>() : "unknown";
      if (last_state == "ACTIVE") return OkStatus();
      if (last_state == "DELETING") {
        return Error::Make(ErrorCode::kUnavailable,
                           "table '" + table + "' is being deleted; try again once it is gone");
      }
    } else if (!(created && response.error().code == ErrorCode::kNotFound)) {
      Error error = std::move(response.error());
      if (error.code == ErrorCode::kNotFound) {
        error.message = "table '" + table + "' not found: " + how_to_create + ": " + error.message;
      } else {
        error.message = "describe table '" + table + "': " + error.message;
      }
      return error;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error::Make(ErrorCode::kUnavailable,
                         "table '" + table + "' is not ACTIVE after " +
                             std::to_string(wait.count()) + " ms (" + std::to_string(polls + 1) +
                             " checks; state " + last_state + "); try again later");
    }
    std::this_thread::sleep_for(pause.Next());
  }
}

}  // namespace

Status CreateTable(AwsClient& client, const std::string& table, TableKeys keys, bool with_stream,
                   std::chrono::milliseconds wait) {
  nlohmann::json definitions = {{{"AttributeName", kStreamIdAttribute}, {"AttributeType", "S"}}};
  nlohmann::json schema = {{{"AttributeName", kStreamIdAttribute}, {"KeyType", "HASH"}}};
  if (keys == TableKeys::kStreamAndVersion) {
    definitions.push_back({{"AttributeName", kVersionAttribute}, {"AttributeType", "N"}});
    schema.push_back({{"AttributeName", kVersionAttribute}, {"KeyType", "RANGE"}});
  }
  nlohmann::json body = {{"TableName", table},
                         {"AttributeDefinitions", std::move(definitions)},
                         {"KeySchema", std::move(schema)},
                         {"BillingMode", "PAY_PER_REQUEST"}};
  // The relay reads new images only: commits are never updated.
  if (with_stream) {
    body["StreamSpecification"] = {{"StreamEnabled", true}, {"StreamViewType", "NEW_IMAGE"}};
  }
  auto created = client.CallJson(Service::kDynamoDb, "CreateTable", body);
  if (!created.ok() && AwsErrorType(created.error()) != "ResourceInUseException") {
    Error error = std::move(created.error());
    error.message = "create table '" + table + "': " + error.message;
    return error;
  }
  // Also when it existed: it may still be CREATING, and its key schema must be ours.
  return WaitUntilActive(client, table, keys, /*created=*/true, "", wait);
}

Status WaitForTable(AwsClient& client, const std::string& table, TableKeys keys,
                    const std::string& how_to_create, std::chrono::milliseconds wait) {
  return WaitUntilActive(client, table, keys, /*created=*/false, how_to_create, wait);
}

Status CreateEventTable(AwsClient& client, const std::string& table, bool with_stream,
                        std::chrono::milliseconds wait) {
  return CreateTable(client, table, TableKeys::kStreamAndVersion, with_stream, wait);
}

Result<std::unique_ptr<EventStore>> NewDynamoDbEventStore(std::shared_ptr<AwsClient> client,
                                                          const DynamoDbStoreOptions& options) {
  if (options.table.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the DynamoDB table name is empty");
  }
  Status ready = options.create_table_if_missing
                     ? CreateEventTable(*client, options.table, /*with_stream=*/true)
                     : WaitForTable(*client, options.table, TableKeys::kStreamAndVersion,
                                    "create it with `evs aws init --table " + options.table +
                                        "` (or open with create_table_if_missing)");
  if (!ready.ok()) return ready.error();
  return std::unique_ptr<EventStore>(
      std::make_unique<DynamoDbEventStore>(std::move(client), options.table, options.limits));
}

Result<std::shared_ptr<AwsClient>> ClientFromEnvironment() {
  auto config = AwsConfigFromEnvironment();
  if (!config.ok()) return config.error();
  return std::make_shared<AwsClient>(std::move(config).value(), NewCurlTransport());
}

}  // namespace evs::aws

namespace evs {

Result<std::unique_ptr<EventStore>> OpenDynamoDbEventStore(const DynamoDbStoreOptions& options) {
  auto client = aws::ClientFromEnvironment();
  if (!client.ok()) return client.error();
  return aws::NewDynamoDbEventStore(std::move(client).value(), options);
}

Status CreateDynamoDbTable(const std::string& table, bool with_stream) {
  auto client = aws::ClientFromEnvironment();
  if (!client.ok()) return client.error();
  return aws::CreateEventTable(**client, table, with_stream);
}

}  // namespace evs
