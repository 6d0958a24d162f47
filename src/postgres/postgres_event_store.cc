// The EventStore on PostgreSQL (evs/postgres.h): appends through the writer (pg_writer.h), reads
// from a small pool of connections, wake-ups from LISTEN/NOTIFY (pg_listener.h).
#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

#include "evs/postgres.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_listener.h"
#include "postgres/pg_schema.h"
#include "postgres/pg_writer.h"
#include "store/append_validation.h"
#include "store/completion.h"
#include "store/read_validation.h"

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
    auto version = StreamVersion(stream_id);
    if (!version) return version.error();
    if (*version == 0) {
      return Error::Make(ErrorCode::kNotFound, "stream '" + std::string(stream_id) + "' not found");
    }
    StreamPage page;
    page.stream_version = *version;
    const auto limit = static_cast<int64_t>(options.limit);
    Result<pg::ResultPtr> rows = Error::Make(ErrorCode::kUnavailable, "not run");
    if (options.direction == Direction::kForward) {
      rows = reads_.Exec(std::string("SELECT ") + kPgEventColumns +
                             " FROM evs_events WHERE stream_id = $1::text AND version >= $2::int8 "
                             "AND version <= $3::int8 ORDER BY version LIMIT $4::int8",
                         pg::Params()
                             .Text(stream_id)
                             .Int8(std::max<int64_t>(options.from, 1))
                             .Int8(*version)
                             .Int8(limit));
    } else {
      const int64_t top = options.from <= 0 || options.from > *version ? *version : options.from;
      rows = reads_.Exec(std::string("SELECT ") + kPgEventColumns +
                             " FROM evs_events WHERE stream_id = $1::text AND version <= $2::int8 "
                             "ORDER BY version DESC LIMIT $3::int8",
                         pg::Params().Text(stream_id).Int8(top).Int8(limit));
    }
    if (!rows) return rows.error();
    const int n = PQntuples(rows->get());
    page.events.reserve(static_cast<size_t>(n));
    for (int row = 0; row < n; ++row) page.events.push_back(PgEventAt(rows->get(), row, 0));
    if (options.direction == Direction::kForward) {
      page.end_of_stream = page.events.size() < options.limit ||
                           (!page.events.empty() && page.events.back().version >= *version);
    } else {
      page.end_of_stream = page.events.size() < options.limit ||
                           (!page.events.empty() && page.events.back().version <= 1);
    }
    return page;
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
        "ORDER BY stream_id LIMIT $2::int8",
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
    auto rows = reads_.Exec("SELECT version FROM evs_streams WHERE stream_id = $1::text",
                            pg::Params().Text(stream_id));
    if (!rows) return rows.error();
    return PQntuples(rows->get()) == 0 ? 0 : pg::GetInt8(rows->get(), 0, 0);
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

 private:
  const PostgresStoreOptions options_;
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
  auto connection = pg::Connection::Open(options.url);
  if (!connection) return connection.error();
  if (options.create_schema) {
    if (auto version = pg::MigrateSchema(**connection); !version) return version.error();
  } else if (auto s = pg::CheckSchema(**connection); !s) {
    return s.error();
  }
  return std::unique_ptr<EventStore>(
      new PostgresEventStore(options, std::move(connection).value()));
}

Result<int> InitPostgresSchema(const std::string& url) {
  auto connection = pg::Connection::Open(url);
  if (!connection) return connection.error();
  return pg::MigrateSchema(**connection);
}

}  // namespace evs
