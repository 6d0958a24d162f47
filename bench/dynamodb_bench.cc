// `evs-bench dynamodb`: the evs DynamoDB store and the original design, side by side on the same
// DynamoDB endpoint (dynalite locally) in one run, driven by the same AwsClient.
//
//   evs        the evs store (one item per commit, conditional PutItem): an append is one event
//              with an exact expected version (a one-item Query for the commit it follows, then
//              the PutItem); a fetch is ReadStream of the whole stream in pages of 1000, as
//              Repository::Fetch reads it.
//   original   docs/architecture.md, "Where it comes from": a table keyed by Uuid (S), all events
//   of an aggregate in one
//              `Events` list of {Name, Data}. An append is one UpdateItem
//              `SET #e = list_append(if_not_exists(#e, :empty), :new)` of one event, with no
//              condition (no version check); a fetch is GetItem (ConsistentRead) of the whole item,
//              then every event taken out of it. The baseline of every row.
//   evs-unbatched  fetch only: evs streams written with one event per append (one item per
//              event), as an application that appends event by event leaves them; the "evs"
//              streams are prepared with up to 100 events per append (fewer, larger items).
//
// Rows: bench "dynamodb_fetch" and "dynamodb_append" at events_per_stream = 20 and 2000, one
// thread, each operation timed. Streams are prepared first (not timed): 500 streams of 20
// events and 4 of 2000 per system (the original with list_append of 100 events per UpdateItem,
// evs with appends of 100 events). Fetches run before appends, so they read exactly N events;
// appends go round-robin over the streams, which grow during the row (the JSON says how far:
// events_per_stream_end_min/max). Event data is 100 bytes of JSON ("ItemAdded").
//
// The original's item grows with its stream and DynamoDB refuses items over 400 KB: the rows
// carry the item's size (DynamoDB's own size rules, which dynalite follows), and one more stream
// is pushed until an append fails (at most kProbeMaxEvents events), to report where; an evs
// stream is then grown past that point and appended to.
//
// The endpoint and credentials come from the environment (AWS_ENDPOINT_URL_DYNAMODB or
// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION): scripts/standins
// start DIR, then source DIR/env. Both tables get unique names and are deleted at the end.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aws/aws_client.h"
#include "aws/dynamodb_event_store.h"
#include "bench.h"
#include "common/strings.h"
#include "evs/dynamodb.h"
#include "evs/event_store.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

using aws::AwsClient;
using aws::Service;
using nlohmann::json;

constexpr int kSmallEvents = 20;
constexpr int kLargeEvents = 2000;
constexpr int kSmallStreams = 500;  // appends spread over them, so that each grows little
constexpr int kLargeStreams = 4;
constexpr int kUnbatchedSmallStreams = 16;  // fetch only: they do not grow
constexpr int kPrepareBatch = 100;          // events per prepared append / UpdateItem
constexpr int kPrepareThreads = 8;
constexpr int kProbeMaxEvents = 5000;  // the limit probe stops here if nothing failed
constexpr size_t kEventDataBytes = 100;
constexpr size_t kReadPage = 1000;  // Repository's default read_page_size
constexpr size_t kItemLimitBytes = 400 * 1024;

constexpr const char* kEventType = "ItemAdded";
constexpr const char* kKeyAttribute = "Uuid";
constexpr const char* kEventsAttribute = "Events";

constexpr const char* kStartStandIns =
    "start the local stand-ins and load their settings first:\n"
    "    D=$(mktemp -d); scripts/standins start $D; source $D/env\n"
    "  (and `scripts/standins stop $D` afterwards); the benchmark creates its own tables there "
    "and deletes them at the end";

// The data of one event: cart-like JSON of exactly kEventDataBytes bytes.
std::string EventDataJson(int64_t i) {
  static constexpr const char* kProducts[] = {
      "organic whole-bean coffee, 1 kg", "merino wool socks, size 42", "cast iron skillet, 26 cm",
      "bamboo toothbrush, pack of 4",    "linen tea towel, natural",   "noise-cancelling earbuds",
  };
  constexpr int64_t kCount = sizeof(kProducts) / sizeof(kProducts[0]);
  std::string head = "{\"name\":\"" + std::string(kProducts[i % kCount]) +
                     "\",\"quantity\":" + std::to_string(1 + i % 3) +
                     ",\"unit_price_cents\":" + std::to_string(199 + (i % 50) * 100) +
                     ",\"sku\":\"SKU-";
  const std::string tail = "\"}";
  std::string digits = std::to_string(i);
  const size_t room = kEventDataBytes - std::min(kEventDataBytes, head.size() + tail.size());
  if (digits.size() < room) digits.insert(0, room - digits.size(), '0');
  return head + digits + tail;
}

// ---- the original design ------------------------------------------------------------------

// One event as the original stores it: {"Name": S, "Data": S}.
json OriginalEvent(int64_t i) {
  return {{"M", {{"Name", {{"S", kEventType}}}, {"Data", {{"S", EventDataJson(i)}}}}}};
}

// DynamoDB's size of the original item {Uuid, Events} with `events` events (the documented
// rules, which dynalite implements: names and values, lists and maps 3 bytes plus 1 per element).
size_t OriginalItemBytes(const std::string& uuid, int64_t events) {
  const size_t per_event = 1 + 3 + (1 + 4 + std::string(kEventType).size()) +
                           (1 + 4 + kEventDataBytes);  // element, map, Name, Data
  return std::string(kKeyAttribute).size() + uuid.size() + std::string(kEventsAttribute).size() +
         3 + per_event * static_cast<size_t>(events);
}

std::string Kb(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f KB", static_cast<double>(bytes) / 1024.0);
  return buf;
}

json OriginalKey(const std::string& uuid) { return {{kKeyAttribute, {{"S", uuid}}}}; }

// The original's store(): list_append of events first..first+count-1, no condition.
Status OriginalAppend(AwsClient& client, const std::string& table, const std::string& uuid,
                      int64_t first, int64_t count) {
  json events = json::array();
  for (int64_t i = 0; i < count; ++i) events.push_back(OriginalEvent(first + i));
  json body = {{"TableName", table},
               {"Key", OriginalKey(uuid)},
               {"UpdateExpression", "SET #e = list_append(if_not_exists(#e, :empty), :new)"},
               {"ExpressionAttributeNames", {{"#e", kEventsAttribute}}},
               {"ExpressionAttributeValues",
                {{":empty", {{"L", json::array()}}}, {":new", {{"L", std::move(events)}}}}}};
  auto response = client.CallJson(Service::kDynamoDb, "UpdateItem", body);
  if (!response.ok()) return response.error();
  return OkStatus();
}

// The original's fetch(): the whole item, every event taken out of it. Returns the event count.
Result<int64_t> OriginalFetch(AwsClient& client, const std::string& table,
                              const std::string& uuid) {
  json body = {{"TableName", table}, {"Key", OriginalKey(uuid)}, {"ConsistentRead", true}};
  auto response = client.CallJson(Service::kDynamoDb, "GetItem", body);
  if (!response.ok()) return response.error();
  struct Event {
    std::string name;
    std::string data;
  };
  std::vector<Event> applied;
  auto item = response->find("Item");
  if (item == response->end() || !item->contains(kEventsAttribute)) {
    return Error::Make(ErrorCode::kNotFound, "aggregate " + uuid + " not found");
  }
  for (const json& e : (*item)[kEventsAttribute]["L"]) {
    const json& m = e["M"];
    applied.push_back(Event{m["Name"]["S"].get<std::string>(), m["Data"]["S"].get<std::string>()});
  }
  return static_cast<int64_t>(applied.size());
}

Status CreateOriginalTable(AwsClient& client, const std::string& table) {
  json body = {
      {"TableName", table},
      {"AttributeDefinitions", {{{"AttributeName", kKeyAttribute}, {"AttributeType", "S"}}}},
      {"KeySchema", {{{"AttributeName", kKeyAttribute}, {"KeyType", "HASH"}}}},
      {"BillingMode", "PAY_PER_REQUEST"}};
  auto created = client.CallJson(Service::kDynamoDb, "CreateTable", body);
  if (!created.ok()) return created.error();
  for (int polls = 0; polls < 600; ++polls) {
    auto described = client.CallJson(Service::kDynamoDb, "DescribeTable", {{"TableName", table}});
    if (described.ok() && (*described)["Table"].value("TableStatus", "") == "ACTIVE") {
      return OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error::Make(ErrorCode::kUnavailable, "table '" + table + "' did not become ACTIVE");
}

// Deletes the benchmark's tables when the run ends, however it ends.
class TableCleanup {
 public:
  explicit TableCleanup(AwsClient& client) : client_(client) {}
  ~TableCleanup() {
    for (const std::string& table : tables_) {
      auto deleted = client_.CallJson(Service::kDynamoDb, "DeleteTable", {{"TableName", table}});
      if (deleted.ok()) {
        std::fprintf(stderr, "dynamodb: deleted table %s\n", table.c_str());
      } else {
        std::fprintf(stderr, "dynamodb: could not delete table %s: %s\n", table.c_str(),
                     deleted.error().message.c_str());
      }
    }
  }
  TableCleanup(const TableCleanup&) = delete;
  TableCleanup& operator=(const TableCleanup&) = delete;
  void Add(const std::string& table) { tables_.push_back(table); }

 private:
  AwsClient& client_;
  std::vector<std::string> tables_;
};

// ---- evs ----------------------------------------------------------------------------------

std::vector<EventData> EvsEvents(int64_t first, int64_t count) {
  std::vector<EventData> events(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    EventData& e = events[static_cast<size_t>(i)];
    e.id = Uuid::Random();
    e.type = kEventType;
    e.data = EventDataJson(first + i);
  }
  return events;
}

ExpectedVersion At(int64_t version) {
  return version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(version);
}

// Appends events from+1..to to an evs stream at version `from`, `batch` per append.
Status EvsGrow(EventStore& store, const std::string& stream, int64_t from, int64_t to,
               int64_t batch) {
  for (int64_t version = from; version < to;) {
    const int64_t n = std::min(batch, to - version);
    auto appended = store.Append(stream, At(version), EvsEvents(version + 1, n));
    if (!appended.ok()) return appended.error();
    version = appended->last_version;
  }
  return OkStatus();
}

// The whole stream, page by page as Repository::Fetch reads it. Returns the event count.
Result<int64_t> EvsFetch(EventStore& store, const std::string& stream) {
  std::vector<RecordedEvent> events;
  ReadStreamOptions read;
  read.limit = kReadPage;
  for (;;) {
    read.from = static_cast<int64_t>(events.size()) + 1;
    auto page = store.ReadStream(stream, read);
    if (!page.ok()) return page.error();
    for (RecordedEvent& e : page->events) events.push_back(std::move(e));
    if (page->end_of_stream || page->events.empty()) break;
  }
  return static_cast<int64_t>(events.size());
}

// ---- running ------------------------------------------------------------------------------

// Runs fn(0..count-1) on up to `threads` threads; the first error wins.
Status ParallelFor(int count, int threads, const std::function<Status(int)>& fn) {
  std::atomic<int> next{0};
  std::mutex mu;
  std::optional<Error> error;
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min(count, threads); ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < count;) {
        Status s = fn(i);
        if (!s.ok()) {
          std::lock_guard guard(mu);
          if (!error) error = s.error();
          next.store(count);
          return;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (error) return *error;
  return OkStatus();
}

struct StreamSet {
  int events = 0;                      // per stream when prepared
  std::vector<std::string> original;   // Uuids in the original table
  std::vector<std::string> evs;        // stream ids, prepared in appends of up to 100 events
  std::vector<std::string> unbatched;  // stream ids, one event per append (fetch only)
};

Result<StreamSet> Prepare(AwsClient& client, EventStore& store, const std::string& table,
                          int events, int streams, int unbatched_streams) {
  StreamSet set;
  set.events = events;
  const std::string tag = "bench-" + std::to_string(events) + "-";
  for (int i = 0; i < streams; ++i) {
    set.original.push_back(Uuid::Random().ToString());
    set.evs.push_back(tag + Uuid::Random().ToString());
  }
  for (int i = 0; i < unbatched_streams; ++i) {
    set.unbatched.push_back(tag + "unbatched-" + Uuid::Random().ToString());
  }
  const auto start = std::chrono::steady_clock::now();
  auto s = ParallelFor(streams, kPrepareThreads, [&](int i) -> Status {
    for (int64_t have = 0; have < events; have += kPrepareBatch) {
      const int64_t n = std::min<int64_t>(kPrepareBatch, events - have);
      if (auto st =
              OriginalAppend(client, table, set.original[static_cast<size_t>(i)], have + 1, n);
          !st) {
        return st;
      }
    }
    return EvsGrow(store, set.evs[static_cast<size_t>(i)], 0, events, kPrepareBatch);
  });
  if (!s.ok()) return s.error();
  s = ParallelFor(unbatched_streams, kPrepareThreads, [&](int i) -> Status {
    return EvsGrow(store, set.unbatched[static_cast<size_t>(i)], 0, events, 1);
  });
  if (!s.ok()) return s.error();
  std::fprintf(stderr, "dynamodb: prepared %d + %d streams of %d events per system in %.1f s\n",
               streams, unbatched_streams, events,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return set;
}

Row Finish(Row row, const char* bench, const char* system, int events) {
  row.bench = bench;
  row.system = system;
  row.concurrency_name = "events_per_stream";
  row.concurrency = events;
  return row;
}

TimedRunOptions OneThread(const BenchOptions& options) {
  TimedRunOptions timed;
  timed.threads = 1;
  timed.warmup_seconds = options.warmup_seconds;
  timed.seconds = options.seconds;
  return timed;
}

// Fetch rows at one stream length: original (baseline), evs, evs-unbatched.
void FetchRows(const BenchOptions& options, Reporter& reporter, AwsClient& client,
               EventStore& store, const std::string& table, const StreamSet& set) {
  const int64_t n = set.events;
  auto check = [n](const Result<int64_t>& got) -> Status {
    if (!got.ok()) return got.error();
    if (*got != n) {
      return Error::Make(ErrorCode::kCorruption, "fetched " + std::to_string(*got) +
                                                     " events where " + std::to_string(n) +
                                                     " were written");
    }
    return OkStatus();
  };
  auto round_robin = [](const std::vector<std::string>& ids,
                        const std::function<Status(const std::string&)>& fetch) {
    return [&ids, fetch](int) -> Worker {
      auto next = std::make_shared<size_t>(0);
      return [&ids, fetch, next] { return fetch(ids[(*next)++ % ids.size()]); };
    };
  };
  Row original = Finish(
      RunTimed(OneThread(options), round_robin(set.original,
                                               [&](const std::string& uuid) {
                                                 return check(OriginalFetch(client, table, uuid));
                                               })),
      "dynamodb_fetch", "original", set.events);
  Row evs = Finish(RunTimed(OneThread(options), round_robin(set.evs,
                                                            [&](const std::string& stream) {
                                                              return check(EvsFetch(store, stream));
                                                            })),
                   "dynamodb_fetch", "evs", set.events);
  Row unbatched =
      Finish(RunTimed(OneThread(options), round_robin(set.unbatched,
                                                      [&](const std::string& stream) {
                                                        return check(EvsFetch(store, stream));
                                                      })),
             "dynamodb_fetch", "evs-unbatched", set.events);
  const size_t item_bytes = OriginalItemBytes(set.original[0], n);
  original.extra["item_bytes"] = item_bytes;
  original.extra["streams"] = set.original.size();
  original.note = "1 item of " + Kb(item_bytes);
  const int64_t items = (n + kPrepareBatch - 1) / kPrepareBatch;
  evs.extra["items_per_stream"] = items;
  evs.extra["streams"] = set.evs.size();
  evs.note = std::to_string(items) + (items == 1 ? " item of " : " items of up to ") +
             std::to_string(std::min<int64_t>(n, kPrepareBatch)) + " events";
  unbatched.extra["items_per_stream"] = n;
  unbatched.extra["streams"] = set.unbatched.size();
  unbatched.note = std::to_string(n) + " items of 1 event";
  SetRatio(original, original);
  SetRatio(evs, original);
  SetRatio(unbatched, original);
  reporter.Add(original);
  reporter.Add(evs);
  reporter.Add(unbatched);
}

// Append rows at one stream length: original (baseline), evs. The streams grow.
void AppendRows(const BenchOptions& options, Reporter& reporter, AwsClient& client,
                EventStore& store, const std::string& table, const StreamSet& set,
                const json& probe) {
  auto spread = [](const std::vector<int64_t>& counts, Row& row) {
    row.extra["events_per_stream_end_min"] = *std::min_element(counts.begin(), counts.end());
    row.extra["events_per_stream_end_max"] = *std::max_element(counts.begin(), counts.end());
  };
  std::vector<int64_t> counts(set.original.size(), set.events);
  Row original =
      Finish(RunTimed(OneThread(options),
                      [&](int) -> Worker {
                        return [&, next = size_t{0}]() mutable -> Status {
                          const size_t i = next++ % counts.size();
                          auto s = OriginalAppend(client, table, set.original[i], counts[i] + 1, 1);
                          if (s.ok()) ++counts[i];
                          return s;
                        };
                      }),
             "dynamodb_append", "original", set.events);
  spread(counts, original);
  const int64_t grown = *std::max_element(counts.begin(), counts.end());
  original.extra["item_bytes_start"] = OriginalItemBytes(set.original[0], set.events);
  original.extra["item_bytes_end_max"] = OriginalItemBytes(set.original[0], grown);
  original.note = "item " + Kb(OriginalItemBytes(set.original[0], set.events)) + " -> " +
                  Kb(OriginalItemBytes(set.original[0], grown)) + ", rewritten on every append";
  if (!probe.is_null()) original.extra["limit_probe"] = probe;

  std::vector<int64_t> versions(set.evs.size(), set.events);
  Row evs = Finish(RunTimed(OneThread(options),
                            [&](int) -> Worker {
                              return [&, next = size_t{0}]() mutable -> Status {
                                const size_t i = next++ % versions.size();
                                auto appended = store.Append(set.evs[i], At(versions[i]),
                                                             EvsEvents(versions[i] + 1, 1));
                                if (!appended.ok()) {
                                  if (appended.error().conflict) {
                                    versions[i] = appended.error().conflict->actual;
                                  }
                                  return appended.error();
                                }
                                versions[i] = appended->last_version;
                                return OkStatus();
                              };
                            }),
                   "dynamodb_append", "evs", set.events);
  spread(versions, evs);
  evs.note = "1 new item of 1 event per append";
  SetRatio(original, original);
  SetRatio(evs, original);
  reporter.Add(original);
  reporter.Add(evs);
}

// Pushes one original aggregate until an append fails (or kProbeMaxEvents): batches of
// kPrepareBatch, then one event at a time from the last batch that fitted. Then grows an evs
// stream past that point and appends one event there.
json LimitProbe(AwsClient& client, EventStore& store, const std::string& table) {
  const std::string uuid = Uuid::Random().ToString();
  int64_t count = 0;
  std::optional<Error> failure;
  int64_t step = kPrepareBatch;
  while (count < kProbeMaxEvents) {
    const int64_t n = std::min<int64_t>(step, kProbeMaxEvents - count);
    Status s = OriginalAppend(client, table, uuid, count + 1, n);
    if (s.ok()) {
      count += n;
    } else if (step > 1) {
      step = 1;  // find the exact count with single events
    } else {
      failure = s.error();
      break;
    }
  }
  json probe = {{"original_events", count},
                {"original_item_bytes", OriginalItemBytes(uuid, count)},
                {"item_limit_bytes", kItemLimitBytes}};
  if (failure) {
    probe["original_append_failed_at_events"] = count;
    probe["original_error"] = failure->message;
  } else {
    probe["original_append_failed_at_events"] = nullptr;
  }
  // evs past the same point: no item holds more than one commit.
  const int64_t target = count + kPrepareBatch;
  const std::string stream = "bench-probe-" + Uuid::Random().ToString();
  Status grown = EvsGrow(store, stream, 0, target, kPrepareBatch);
  if (grown.ok()) grown = EvsGrow(store, stream, target, target + 1, 1);
  probe["evs_events"] = grown.ok() ? target + 1 : target;
  probe["evs_append_ok"] = grown.ok();
  if (!grown.ok()) probe["evs_error"] = grown.error().message;
  return probe;
}

}  // namespace

Status RunDynamoDbBench(const BenchOptions& options, Reporter& reporter) {
  if (EnvOrEmpty("AWS_ENDPOINT_URL_DYNAMODB").empty() && EnvOrEmpty("AWS_ENDPOINT_URL").empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       std::string("no DynamoDB endpoint in the environment "
                                   "(AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL): ") +
                           kStartStandIns);
  }
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) {
    return Error::Make(config.error().code, config.error().message + "; " + kStartStandIns);
  }
  const std::string endpoint = config->Endpoint(Service::kDynamoDb);
  auto client = std::make_shared<AwsClient>(std::move(config).value(), aws::NewCurlTransport());
  if (auto listed = client->CallJson(Service::kDynamoDb, "ListTables", json::object());
      !listed.ok()) {
    return Error::Make(listed.error().code, "DynamoDB at " + endpoint + " does not answer: " +
                                                listed.error().message + "; " + kStartStandIns);
  }

  const std::string run = Uuid::Random().ToString().substr(0, 8);
  const std::string evs_table = "evs-bench-" + run + "-evs";
  const std::string original_table = "evs-bench-" + run + "-original";
  TableCleanup cleanup(*client);
  cleanup.Add(evs_table);
  if (auto s = aws::CreateEventTable(*client, evs_table, /*with_stream=*/false); !s) return s;
  cleanup.Add(original_table);
  if (auto s = CreateOriginalTable(*client, original_table); !s) return s;
  DynamoDbStoreOptions store_options;
  store_options.table = evs_table;
  auto store = aws::NewDynamoDbEventStore(client, store_options);
  if (!store.ok()) return store.error();

  reporter.Comment("dynamodb: " + endpoint + ", tables " + evs_table + " and " + original_table +
                   "; one thread; events of " + std::to_string(kEventDataBytes) +
                   " bytes of data; baseline: the original design (one item per aggregate, "
                   "list_append, no version check)");

  auto small = Prepare(*client, **store, original_table, kSmallEvents, kSmallStreams,
                       kUnbatchedSmallStreams);
  if (!small.ok()) return small.error();
  auto large =
      Prepare(*client, **store, original_table, kLargeEvents, kLargeStreams, kLargeStreams);
  if (!large.ok()) return large.error();

  FetchRows(options, reporter, *client, **store, original_table, *small);
  FetchRows(options, reporter, *client, **store, original_table, *large);

  std::fprintf(stderr, "dynamodb: pushing one original aggregate to its item limit...\n");
  const json probe = LimitProbe(*client, **store, original_table);
  {
    std::string text = "dynamodb limit: the original's append ";
    if (probe["original_append_failed_at_events"].is_null()) {
      text += "did not fail up to " + std::to_string(kProbeMaxEvents) + " events";
    } else {
      text += "failed on an item of " + probe["original_events"].dump() + " events (" +
              Kb(probe["original_item_bytes"].get<size_t>()) + " by DynamoDB's size rules; limit " +
              Kb(kItemLimitBytes) + "): " + probe["original_error"].get<std::string>();
    }
    text += "; an evs stream grown to " + probe["evs_events"].dump() + " events: " +
            (probe["evs_append_ok"].get<bool>() ? "ok" : probe.value("evs_error", "failed"));
    reporter.Comment(text);
  }

  AppendRows(options, reporter, *client, **store, original_table, *small, json());
  AppendRows(options, reporter, *client, **store, original_table, *large, probe);
  return OkStatus();
}

}  // namespace evs::bench
