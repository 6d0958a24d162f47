// The EventStore on PostgreSQL (evs/postgres.h): appends through the writer (pg_writer.h), reads
// from a small pool of connections, wake-ups from LISTEN/NOTIFY (pg_listener.h).
#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "evs/postgres.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_listener.h"
#include "postgres/pg_scavenger.h"
#include "postgres/pg_schema.h"
#include "postgres/pg_stream_head.h"
#include "postgres/pg_writer.h"
#include "store/append_validation.h"
#include "store/completion.h"
#include "store/read_validation.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

// The most events of one append (one statement's parameters bound it): above any sane
// Limits::max_events_per_append.
constexpr size_t kPgMaxEventsPerAppend = 8000;

// The events' columns, in the order PgEventAt reads them.
constexpr const char* kPgEventColumns =
    "stream_id, version, position, event_id, type, data, metadata, recorded_at_us";

RecordedEvent PgEventAt(const PGresult* result, int row, int first_column) {
  RecordedEvent e;
  e.stream_id = pg::GetText(result, row, first_column);
  e.version = pg::GetInt8(result, row, first_column + 1);
  e.position = pg::GetInt8(result, row, first_column + 2);
  e.id = pg::GetId(result, row, first_column + 3);
  e.type = pg::GetText(result, row, first_column + 4);
  e.data = pg::GetText(result, row, first_column + 5);
  e.metadata = pg::GetText(result, row, first_column + 6);
  e.recorded_at_us = pg::GetInt8(result, row, first_column + 7);
  return e;
}

// A nullable bigint parameter, sent as text: '' for NULL (Change() turns it back with NULLIF).
std::string PgOptional(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : std::string();
}

// Connections for reads: taken for one statement, given back after it.
class PgReadPool {
 public:
  PgReadPool(std::string url, size_t size)
      : url_(std::move(url)), size_(std::max<size_t>(1, size)) {}

  // Runs `sql` on a pooled connection; once more on a fresh one if the connection was lost.
  Result<pg::ResultPtr> Exec(std::string_view sql, const pg::Params& params) {
    Result<pg::ResultPtr> result = Error::Make(ErrorCode::kUnavailable, "not run");
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto connection = Take();
      if (!connection) return connection.error();
      result = (*connection)->Exec(sql, params);
      const bool broken = (*connection)->Broken();
      Give(std::move(connection).value());  // a broken one is closed, and its place freed
      if (result.ok() || !broken) return result;
    }
    return result;
  }

  // Runs `fn` (reads only, so that it may run twice) on a pooled connection; once more on a
  // fresh one if the connection was lost.
  template <typename T>
  Result<T> Read(const std::function<Result<T>(pg::Connection&)>& fn) {
    Result<T> result = Error::Make(ErrorCode::kUnavailable, "not run");
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto connection = Take();
      if (!connection) return connection.error();
      result = fn(**connection);
      const bool broken = (*connection)->Broken();
      Give(std::move(connection).value());
      if (result.ok() || !broken) return result;
    }
    return result;
  }

  // Runs `fn` on one pooled connection (for a transaction of several statements); not retried.
  template <typename T>
  Result<T> With(const std::function<Result<T>(pg::Connection&)>& fn) {
    auto connection = Take();
    if (!connection) return connection.error();
    Result<T> result = fn(**connection);
    Give(std::move(connection).value());
    return result;
  }

 private:
  Result<std::unique_ptr<pg::Connection>> Take() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
      if (!idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        return connection;
      }
      ++open_;
    }
    auto connection = pg::Connection::Open(url_);
    if (!connection) {
      std::lock_guard guard(mu_);
      --open_;
      cv_.notify_one();
    }
    return connection;
  }

  void Give(std::unique_ptr<pg::Connection> connection) {
    std::lock_guard guard(mu_);
    if (connection->Broken()) {
      // The server went away (restart, cut connections): the idle ones are gone too.
      open_ -= 1 + idle_.size();
      idle_.clear();
    } else {
      idle_.push_back(std::move(connection));
    }
    cv_.notify_one();
  }

  const std::string url_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;
  size_t open_ = 0;  // idle and taken
};

class PostgresEventStore final : public EventStore {
 public:
  PostgresEventStore(const PostgresStoreOptions& options,
                     std::unique_ptr<pg::Connection> writer_connection)
      : options_(options),
        reads_(options.url, options.read_connections),
        listener_(options.url),
        writer_(options, std::move(writer_connection), [this] { listener_.Bump(); }) {}

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    std::optional<Result<AppendResult>> outcome;
    store::Completion done;
    AppendAsync(stream_id, expected, std::move(events), [&](Result<AppendResult> result) {
      outcome.emplace(std::move(result));
      done.Signal();
    });
    done.Wait();
    return std::move(*outcome);
  }

  void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                   std::vector<EventData> events, AppendCallback callback) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, expected, events); !s) {
      callback(s.error());
      return;
    }
    if (events.size() > kPgMaxEventsPerAppend) {
      callback(Error::Make(ErrorCode::kLimitExceeded,
                           "an append to the PostgreSQL store holds at most " +
                               std::to_string(kPgMaxEventsPerAppend) + " events, this one " +
                               std::to_string(events.size()) + "; split it"));
      return;
    }
    writer_.Submit(pg::PendingAppend{std::string(stream_id), expected, std::move(events),
                                     std::move(callback)});
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    return reads_.Read<StreamPage>(
        [&](pg::Connection& c) { return ReadStreamOn(c, stream_id, options); });
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    // The head and the page in one statement, one snapshot: positions up to the head.
    auto rows = reads_.Exec(
        std::string("SELECT h.position, e.* FROM evs_log_head h LEFT JOIN LATERAL (SELECT ") +
            kPgEventColumns +
            " FROM evs_events WHERE position > $1::int8 AND position <= h.position "
            "ORDER BY position LIMIT $2::int8) e ON true WHERE h.id = 1",
        pg::Params().Int8(after).Int8(static_cast<int64_t>(limit)));
    if (!rows) return rows.error();
    LogPage page;
    const int n = PQntuples(rows->get());
    if (n == 0) {
      return Error::Make(ErrorCode::kCorruption,
                         "evs_log_head has no row: the schema was changed outside evs");
    }
    page.head_position = pg::GetInt8(rows->get(), 0, 0);
    for (int row = 0; row < n; ++row) {
      if (pg::IsNull(rows->get(), row, 1)) break;  // no events: one row of NULLs
      page.events.push_back(PgEventAt(rows->get(), row, 1));
    }
    page.next_position = page.events.empty() ? after : page.events.back().position;
    return page;
  }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    auto rows = reads_.Exec(
        "SELECT stream_id, version FROM evs_streams WHERE stream_id > $1::text AND version > 0 "
        "AND NOT hard_deleted AND deleted_through <> version ORDER BY stream_id LIMIT $2::int8",
        pg::Params().Text(after).Int8(static_cast<int64_t>(limit)));
    if (!rows) return rows.error();
    StreamsPage page;
    for (int row = 0; row < PQntuples(rows->get()); ++row) {
      page.streams.push_back(
          StreamInfo{pg::GetText(rows->get(), row, 0), pg::GetInt8(rows->get(), row, 1)});
    }
    if (page.streams.size() == limit && limit > 0) page.next_after = page.streams.back().stream_id;
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    auto head = Head(stream_id);
    if (!head) return head.error();
    return head->Deleted() ? 0 : head->version;
  }

  Result<int64_t> HeadPosition() override {
    auto rows = reads_.Exec("SELECT position FROM evs_log_head WHERE id = 1", pg::Params());
    if (!rows) return rows.error();
    if (PQntuples(rows->get()) != 1) {
      return Error::Make(ErrorCode::kCorruption,
                         "evs_log_head has no row: the schema was changed outside evs");
    }
    return pg::GetInt8(rows->get(), 0, 0);
  }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const uint64_t seen = listener_.Generation();
      auto head = HeadPosition();
      if (!head || *head > after || std::chrono::steady_clock::now() >= deadline) return head;
      listener_.WaitPast(seen, deadline);
    }
  }

  StoreStats Stats() override {
    StoreStats stats;
    stats.commits = writer_.commits();
    return stats;
  }

  Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id) override {
    auto head = Head(stream_id);
    if (!head) return head.error();
    return store::LifecycleOf(stream_id, *head);
  }

  Status SetStreamMetadata(std::string_view stream_id, const StreamMetadata& metadata) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    if (auto s = ValidateStreamMetadata(metadata); !s) return s;
    store::LifecycleChange change;
    change.metadata = std::make_shared<const StreamMetadata>(metadata);
    return Change(stream_id, ExpectedVersion::Any(), change);
  }

  Status DeleteStream(std::string_view stream_id, DeleteMode mode,
                      ExpectedVersion expected) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    store::LifecycleChange change;
    change.kind = mode == DeleteMode::kHard ? store::LifecycleChange::Kind::kHardDelete
                                            : store::LifecycleChange::Kind::kSoftDelete;
    return Change(stream_id, expected, change);
  }

  Result<ScavengeReport> Scavenge(const ScavengeOptions& options) override {
    return pg::Scavenge(options_.url, StoreClock(), options);
  }

 private:
  evs::Clock& StoreClock() const { return options_.clock ? *options_.clock : *system_clock_; }

  // The stream's row and its events in one REPEATABLE READ transaction, so both come from one
  // snapshot: a lifecycle change or a scavenge step that commits between the two statements
  // (the row read before it, the events after it: markers, or events the row does not hide)
  // is either wholly seen or not at all. Two round trips, as two statements would take: BEGIN
  // goes with the row's SELECT, COMMIT with the events'.
  Result<StreamPage> ReadStreamOn(pg::Connection& c, std::string_view stream_id,
                                  const ReadStreamOptions& options) {
    auto fail = [&](Error error) -> Result<StreamPage> {
      if (!c.Broken()) (void)c.ExecScript("ROLLBACK");
      return error;
    };
    auto first = c.Pipeline({{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", pg::Params(), ""},
                             {std::string("SELECT ") + pg::kHeadColumns +
                                  " FROM evs_streams WHERE stream_id = $1::text",
                              pg::Params().Text(stream_id), "evs_read_head"}});
    if (!first) return fail(first.error());
    const PGresult* row = (*first)[1].get();
    const store::StreamHead head =
        PQntuples(row) == 0 ? store::StreamHead{} : pg::HeadAt(row, 0, 0);
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return fail(*unreadable);
    // As the embedded store reads (store::ReadStreamPage): the visible versions, in range.
    StreamPage page;
    page.stream_version = head.version;
    const bool forward = options.direction == Direction::kForward;
    int64_t low = store::FirstVisibleVersion(head), high = head.version;
    if (forward) low = std::max(low, options.from);
    if (!forward && options.from > 0) high = std::min(high, options.from);
    const int64_t cutoff = store::AgeCutoffMicros(head, StoreClock().NowMicros());
    auto second = c.Pipeline(
        {{std::string("SELECT ") + kPgEventColumns +
              " FROM evs_events WHERE stream_id = $1::text AND version >= $2::int8 "
              "AND version <= $3::int8 AND recorded_at_us >= $4::int8 ORDER BY version " +
              (forward ? "" : "DESC ") + "LIMIT $5::int8",
          pg::Params().Text(stream_id).Int8(low).Int8(high).Int8(cutoff).Int8(
              static_cast<int64_t>(options.limit)),
          forward ? "evs_read_forward" : "evs_read_backward"},
         {"COMMIT", pg::Params(), ""}});
    if (!second) return fail(second.error());
    const PGresult* rows = (*second)[0].get();
    const int n = PQntuples(rows);
    page.events.reserve(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) page.events.push_back(PgEventAt(rows, r, 0));
    page.end_of_stream =
        page.events.empty() || page.events.size() < options.limit ||
        (forward ? page.events.back().version >= high : page.events.back().version <= low);
    return page;
  }

  // A stream's head as committed (version 0 and nothing set when it has no row).
  Result<store::StreamHead> Head(std::string_view stream_id) {
    auto rows = reads_.Exec(
        std::string("SELECT ") + pg::kHeadColumns + " FROM evs_streams WHERE stream_id = $1::text",
        pg::Params().Text(stream_id));
    if (!rows) return rows.error();
    if (PQntuples(rows->get()) == 0) return store::StreamHead{};
    return pg::HeadAt(rows->get(), 0, 0);
  }

  // Decides a lifecycle change in one transaction that locks the stream's row, as the writer
  // locks it for appends (so that appends and changes from any process are serialized on it),
  // with the embedded store's decisions (store::CommitPlanner::PlanChange).
  Status Change(std::string_view stream_id, const ExpectedVersion& expected,
                const store::LifecycleChange& change) {
    auto done = reads_.With<bool>([&](pg::Connection& c) -> Result<bool> {
      auto fail = [&](Error error) -> Result<bool> {
        if (!c.Broken()) (void)c.ExecScript("ROLLBACK");
        return error;
      };
      if (auto s = c.ExecScript("BEGIN ISOLATION LEVEL READ COMMITTED"); !s) return s.error();
      if (auto r = c.Exec("INSERT INTO evs_streams (stream_id, version) VALUES ($1::text, 0) "
                          "ON CONFLICT DO NOTHING",
                          pg::Params().Text(stream_id));
          !r) {
        return fail(r.error());
      }
      auto rows = c.Exec(std::string("SELECT ") + pg::kHeadColumns +
                             " FROM evs_streams WHERE stream_id = $1::text FOR UPDATE",
                         pg::Params().Text(stream_id));
      if (!rows) return fail(rows.error());
      if (PQntuples(rows->get()) != 1) {
        return fail(Error::Make(ErrorCode::kIOError, "evs_streams lost the row of stream '" +
                                                         std::string(stream_id) + "'"));
      }
      store::CommitPlanner planner(0);
      planner.LoadHead(stream_id, pg::HeadAt(rows->get(), 0, 0));
      const store::AppendDecision decision = planner.PlanChange(stream_id, expected, change);
      if (decision.kind == store::AppendDecision::Kind::kFail) return fail(*decision.error);
      const store::StreamHead next = planner.Current(stream_id);
      const StreamMetadata metadata = next.metadata ? *next.metadata : StreamMetadata{};
      if (auto r = c.Exec(
              "UPDATE evs_streams SET deleted_through = $2::int8, hard_deleted = $3::int8 <> 0, "
              "max_count = NULLIF($4::text, '')::int8, "
              "max_age_seconds = NULLIF($5::text, '')::int8, "
              "truncate_before = NULLIF($6::text, '')::int8, custom = NULLIF($7::text, '') "
              "WHERE stream_id = $1::text",
              pg::Params()
                  .Text(stream_id)
                  .Int8(next.deleted_through)
                  .Int8(next.hard_deleted ? 1 : 0)
                  .Text(PgOptional(metadata.max_count))
                  .Text(PgOptional(metadata.max_age_seconds))
                  .Text(PgOptional(metadata.truncate_before))
                  .Text(metadata.custom));
          !r) {
        return fail(r.error());
      }
      if (auto s = c.ExecScript("COMMIT"); !s) return fail(s.error());
      return true;
    });
    if (!done) return done.error();
    return OkStatus();
  }

  const PostgresStoreOptions options_;
  const std::shared_ptr<evs::Clock> system_clock_ = SystemClock();
  PgReadPool reads_;
  pg::Listener listener_;
  pg::Writer writer_;  // last: destroyed first, completing every append in flight
};

}  // namespace

bool IsPostgresUrl(std::string_view text) {
  return text.rfind("postgres://", 0) == 0 || text.rfind("postgresql://", 0) == 0;
}

Result<std::unique_ptr<EventStore>> OpenPostgresEventStore(const PostgresStoreOptions& options) {
  if (options.url.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "no PostgreSQL url: set postgres://USER@HOST:PORT/DB");
  }
  auto connection = pg::OpenWithSchema(options.url, options.create_schema);
  if (!connection) return connection.error();
  return std::unique_ptr<EventStore>(
      new PostgresEventStore(options, std::move(connection).value()));
}

Result<int> InitPostgresSchema(const std::string& url) {
  auto connection = pg::Connection::Open(url);
  if (!connection) return connection.error();
  return pg::MigrateSchema(**connection);
}

}  // namespace evs
