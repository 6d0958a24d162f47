// `evs-bench archive`: archiving the log into segments and replaying them.
//
//   The log: a fresh store filled with --events cart events (not measured): carts of one
//   CartOpened, 3 to 12 ItemAdded ({"name","quantity","unit_price_cents"}, names from a list of
//   64 products), sometimes an ItemRemoved, and a CartCheckedOut; metadata "{}", as `evs serve`
//   writes them; stream ids "cart-<uuid>"; one append per cart from 4 threads.
//
//   archive        evs: ArchiveOnce() from position 0 into a fresh folder object store (durable
//                  puts, default segments, zstd level 1): events/s over the whole run. The JSON
//                  adds the archive's bytes, the JSON lines' bytes and their ratio (the target
//                  is at most 0.3). Baseline "log-read": reading the same log with ReadLog in
//                  pages of 4096, which archiving includes.
//   replay         evs: ArchiveReader::Replay() of the whole archive (every segment fetched,
//                  decompressed, checksummed, parsed, delivered in batches of 4096) into an
//                  in-memory projection: events per stream and per type (it does not parse the
//                  events' data). Baseline "feed-catchup": the same projection behind a
//                  Subscription catching up from the SQLite store (what a rebuild without the
//                  archive reads).
//
// Each row runs kRounds times, alternating with its baseline, and reports its best round.
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench.h"
#include "engines.h"
#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/subscription.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFillThreads = 4;
constexpr int kRounds = 3;
constexpr size_t kPageSize = 4096;
constexpr auto kCatchUpTimeout = std::chrono::minutes(10);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

uint64_t ZstdContentSize(const std::string& frame) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  return size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ? 0 : size;
}

// Events per stream and per type.
class CountingProjection final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    for (const RecordedEvent& e : batch) {
      if (e.position != next_) {
        return Error::Make(ErrorCode::kCorruption, "position " + std::to_string(e.position) +
                                                       " where " + std::to_string(next_) +
                                                       " belongs");
      }
      ++next_;
      ++per_stream_[e.stream_id];
      ++per_type_[e.type];
    }
    return OkStatus();
  }
  int64_t events() const { return next_ - 1; }

 private:
  int64_t next_ = 1;
  std::unordered_map<std::string, int64_t> per_stream_;
  std::unordered_map<std::string, int64_t> per_type_;
};

}  // namespace

Row MakeEventsRow(const std::string& bench, const std::string& system, int64_t events,
                  double seconds) {
  Row row;
  row.bench = bench;
  row.system = system;
  row.ops = events;
  row.seconds = seconds;
  row.ops_per_s = seconds > 0 ? static_cast<double>(events) / seconds : 0;
  return row;
}

// The events of one cart, as the cart application writes them.
static std::vector<EventData> CartEvents(std::mt19937_64& random) {
  static const std::vector<std::string> kProducts = [] {
    std::vector<std::string> names;
    const char* kinds[] = {"coffee", "tea",   "cocoa",  "honey",
                           "jam",    "bread", "cheese", "olive oil"};
    const char* sizes[] = {"250 g", "500 g", "1 kg", "2 kg", "small", "medium", "large", "family"};
    for (const char* kind : kinds) {
      for (const char* size : sizes) names.push_back(std::string(kind) + ", " + size);
    }
    return names;
  }();
  std::vector<EventData> events;
  auto add = [&](const char* type, std::string data) {
    EventData& e = events.emplace_back();
    e.id = Uuid::Random();
    e.type = type;
    e.data = std::move(data);
  };
  add("CartOpened", "{}");
  const int items = 3 + static_cast<int>(random() % 10);
  std::vector<size_t> added;
  for (int i = 0; i < items; ++i) {
    const size_t product = random() % kProducts.size();
    added.push_back(product);
    add("ItemAdded", "{\"name\":\"" + kProducts[product] +
                         "\",\"quantity\":" + std::to_string(1 + random() % 5) +
                         ",\"unit_price_cents\":" + std::to_string(99 + product * 50) + "}");
  }
  if (random() % 4 == 0) {
    add("ItemRemoved", "{\"name\":\"" + kProducts[added[random() % added.size()]] + "\"}");
  }
  add("CartCheckedOut", "{}");
  return events;
}

Status FillCarts(EventStore& store, int64_t events) {
  std::atomic<int64_t> written{0};
  std::mutex error_mu;
  std::optional<Error> error;
  std::vector<std::thread> pool;
  for (int t = 0; t < kFillThreads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<uint64_t>(t) + 1);
      while (written.load() < events) {
        std::vector<EventData> cart = CartEvents(random);
        const auto n = static_cast<int64_t>(cart.size());
        auto result = store.Append("cart-" + Uuid::Random().ToString(), ExpectedVersion::NoStream(),
                                   std::move(cart));
        if (!result.ok()) {
          std::lock_guard guard(error_mu);
          if (!error) error = result.error();
          written.store(events);
          return;
        }
        written.fetch_add(n);
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (error) return *error;
  return OkStatus();
}

Status RunArchiveBench(const BenchOptions& options, Reporter& reporter) {
  auto store = OpenDefaultStore(options.dir + "/archive-bench", /*durable=*/false);
  if (!store.ok()) return store.error();
  std::fprintf(stderr, "archive: filling the log with %lld cart events...\n",
               static_cast<long long>(options.feed_events));
  if (auto s = FillCarts(**store, options.feed_events); !s) return s;
  auto head = (*store)->HeadPosition();
  if (!head.ok()) return head.error();
  reporter.Comment("archive: " + std::to_string(*head) + " cart events, default segments (" +
                   std::to_string(ArchiverOptions{}.segment_max_events) + " events), zstd level " +
                   std::to_string(ArchiverOptions{}.compression_level));

  // archive vs log-read
  std::optional<Row> best_archive, best_read;
  uint64_t archive_bytes = 0;
  size_t segments = 0;
  const std::string archive_dir = options.dir + "/archive";
  for (int round = 0; round < kRounds; ++round) {
    {
      const auto start = Clock::now();
      int64_t read = 0;
      for (int64_t after = 0;;) {
        auto page = (*store)->ReadLog(after, kPageSize);
        if (!page.ok()) return page.error();
        if (page->events.empty()) break;
        read += static_cast<int64_t>(page->events.size());
        after = page->events.back().position;
      }
      Row row = MakeEventsRow("archive", "log-read", read, Seconds(Clock::now() - start));
      if (!best_read || row.ops_per_s > best_read->ops_per_s) best_read = row;
    }
    std::error_code ignored;
    std::filesystem::remove_all(archive_dir, ignored);
    DirectoryObjectStoreOptions dir_options;
    dir_options.path = archive_dir;
    auto objects = OpenDirectoryObjectStore(dir_options);
    if (!objects.ok()) return objects.error();
    const auto start = Clock::now();
    auto archived = ArchiveOnce(**store, **objects, ArchiverOptions{});
    const double seconds = Seconds(Clock::now() - start);
    if (!archived.ok()) return archived.error();
    Row row = MakeEventsRow("archive", "evs", archived->archived_up_to, seconds);
    if (!best_archive || row.ops_per_s > best_archive->ops_per_s) best_archive = row;
    auto reader = ArchiveReader::Open(**objects);
    if (!reader.ok()) return reader.error();
    archive_bytes = 0;
    segments = (*reader)->Segments().size();
    for (const SegmentInfo& s : (*reader)->Segments()) archive_bytes += s.size;
  }

  // The JSON lines' size: the segments decompressed (measured once, outside the timings).
  uint64_t text_bytes = 0;
  {
    DirectoryObjectStoreOptions dir_options;
    dir_options.path = archive_dir;
    auto objects = OpenDirectoryObjectStore(dir_options);
    if (!objects.ok()) return objects.error();
    for (const auto& entry : std::filesystem::recursive_directory_iterator(archive_dir)) {
      if (!entry.is_regular_file()) continue;
      const std::string key = std::filesystem::relative(entry.path(), archive_dir).generic_string();
      auto object = (*objects)->Get(key);
      if (!object.ok()) return object.error();
      text_bytes += ZstdContentSize(*object);
    }
  }
  SetRatio(*best_read, *best_read);
  SetRatio(*best_archive, *best_read);
  const double ratio =
      text_bytes ? static_cast<double>(archive_bytes) / static_cast<double>(text_bytes) : 0;
  best_archive->extra["archive_bytes"] = archive_bytes;
  best_archive->extra["json_lines_bytes"] = text_bytes;
  best_archive->extra["compression_ratio"] = std::round(ratio * 1000) / 1000;
  best_archive->extra["segments"] = segments;
  char note[160];
  std::snprintf(note, sizeof(note), "%zu segments, %.1f MB of %.1f MB JSON lines (%.3f)", segments,
                static_cast<double>(archive_bytes) / 1e6, static_cast<double>(text_bytes) / 1e6,
                ratio);
  best_archive->note = note;
  reporter.Add(*best_read);
  reporter.Add(*best_archive);

  // replay vs feed-catchup
  DirectoryObjectStoreOptions dir_options;
  dir_options.path = archive_dir;
  auto objects = OpenDirectoryObjectStore(dir_options);
  if (!objects.ok()) return objects.error();
  auto reader = ArchiveReader::Open(**objects);
  if (!reader.ok()) return reader.error();
  std::optional<Row> best_replay, best_catchup;
  for (int round = 0; round < kRounds; ++round) {
    {
      CountingProjection projection;
      auto checkpoints = OpenSqliteCheckpointStore(options.dir + "/checkpoints-" +
                                                   std::to_string(round) + ".sqlite");
      if (!checkpoints.ok()) return checkpoints.error();
      SubscriptionOptions sub;
      sub.name = "bench";
      const auto start = Clock::now();
      auto subscription = Subscription::Start(**store, **checkpoints, projection, sub);
      if (!subscription.ok()) return subscription.error();
      if (!(*subscription)->WaitUntil(*head, kCatchUpTimeout)) {
        return Error::Make(ErrorCode::kIOError, "the feed did not catch up");
      }
      const double seconds = Seconds(Clock::now() - start);
      subscription->reset();
      Row row = MakeEventsRow("replay", "feed-catchup", projection.events(), seconds);
      if (!best_catchup || row.ops_per_s > best_catchup->ops_per_s) best_catchup = row;
    }
    CountingProjection projection;
    const auto start = Clock::now();
    auto replayed = (*reader)->Replay(ReplayOptions{}, projection);
    const double seconds = Seconds(Clock::now() - start);
    if (!replayed.ok()) return replayed.error();
    Row row = MakeEventsRow("replay", "evs", replayed->events, seconds);
    if (!best_replay || row.ops_per_s > best_replay->ops_per_s) best_replay = row;
  }
  SetRatio(*best_catchup, *best_catchup);
  SetRatio(*best_replay, *best_catchup);
  reporter.Add(*best_catchup);
  reporter.Add(*best_replay);
  return OkStatus();
}

}  // namespace evs::bench
