#include "postgres/pg_scavenger.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "postgres/pg_connection.h"
#include "postgres/pg_stream_head.h"
#include "store/scavenge_tally.h"
#include "store/stream_lifecycle.h"

namespace evs::pg {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Candidate {
  std::string stream_id;
  int64_t scavenged_through = 0;
};

class Scavenger {
 public:
  Scavenger(std::string url, Clock& clock, const ScavengeOptions& options)
      : url_(std::move(url)),
        clock_(clock),
        options_(options),
        step_(static_cast<int64_t>(std::max<size_t>(1, options.events_per_step))) {}

  Result<ScavengeReport> Run() {
    auto before = TableBytes();
    if (!before.ok()) return before.error();
    tally_.report.file_bytes_before = *before;
    auto candidates = Candidates();
    if (!candidates.ok()) return candidates.error();
    tally_.progress.streams_total = tally_.report.streams_examined =
        static_cast<int64_t>(candidates->size());
    for (Candidate& candidate : *candidates) {
      if (auto s = ScavengeStream(candidate); !s) return s.error();
      ++tally_.progress.streams_done;
      tally_.Report();
    }
    // Plain VACUUM takes no lock that appends or reads wait for; VACUUM FULL rewrites the table
    // under an exclusive lock.
    if (tally_.report.events_scavenged > 0 || options_.compact) {
      if (auto s = WithConnection([&](Connection& c) {
            return c.ExecScript(options_.compact ? "VACUUM FULL evs_events" : "VACUUM evs_events");
          });
          !s) {
        return s.error();
      }
    }
    tally_.report.file_shrinks = options_.compact;
    auto after = TableBytes();
    if (!after.ok()) return after.error();
    tally_.report.file_bytes_after = *after;
    return tally_.Finish();
  }

 private:
  // Runs `fn` on the scavenger's connection; once more on a new one if it was lost (every
  // step is a transaction of its own, rolled back by the server when its connection goes).
  Status WithConnection(const std::function<Status(Connection&)>& fn) {
    for (int attempt = 0;; ++attempt) {
      if (connection_ == nullptr || connection_->Broken()) {
        auto connection = Connection::Open(url_);
        if (!connection) return connection.error();
        connection_ = std::move(connection).value();
      }
      Status s = fn(*connection_);
      if (s.ok() || !connection_->Broken() || attempt > 0) return s;
    }
  }

  Result<int64_t> TableBytes() {
    int64_t bytes = 0;
    Status s = WithConnection([&](Connection& c) -> Status {
      auto rows = c.Exec("SELECT pg_total_relation_size('evs_events')");
      if (!rows) return rows.error();
      bytes = GetInt8(rows->get(), 0, 0);
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return bytes;
  }

  // The streams with metadata or a delete (the others hide nothing), as the embedded store
  // lists its stream_meta rows.
  Result<std::vector<Candidate>> Candidates() {
    std::vector<Candidate> candidates;
    Status s = WithConnection([&](Connection& c) -> Status {
      candidates.clear();
      auto rows = c.Exec(
          "SELECT stream_id, scavenged_through FROM evs_streams WHERE deleted_through > 0 OR "
          "hard_deleted OR max_count IS NOT NULL OR max_age_seconds IS NOT NULL OR "
          "truncate_before IS NOT NULL OR custom IS NOT NULL ORDER BY stream_id");
      if (!rows) return rows.error();
      for (int row = 0; row < PQntuples(rows->get()); ++row) {
        candidates.push_back(Candidate{GetText(rows->get(), row, 0), GetInt8(rows->get(), row, 1)});
      }
      return OkStatus();
    });
    if (!s.ok()) return s.error();
    return candidates;
  }

  // Steps through the stream's hidden prefix from where the last scavenge stopped.
  Status ScavengeStream(Candidate& candidate) {
    for (;;) {
      int64_t first = 0, last = 0, changed = 0;
      const auto start = SteadyClock::now();
      Status stepped = WithConnection([&](Connection& c) -> Status {
        auto fail = [&](Error error) -> Status {
          if (!c.Broken()) (void)c.ExecScript("ROLLBACK");
          return error;
        };
        if (auto s = c.ExecScript("BEGIN ISOLATION LEVEL READ COMMITTED"); !s) return s;
        // Decided afresh each step from the locked row: a step never hides more than reads do,
        // and no append or lifecycle change to the stream runs meanwhile.
        auto rows = c.Exec(std::string("SELECT ") + kHeadColumns +
                               ", scavenged_through FROM evs_streams WHERE stream_id = $1::text "
                               "FOR UPDATE",
                           Params().Text(candidate.stream_id));
        if (!rows) return fail(rows.error());
        if (PQntuples(rows->get()) != 1) {
          return fail(Error::Make(ErrorCode::kIOError, "evs_streams lost the row of stream '" +
                                                           candidate.stream_id + "'"));
        }
        const store::StreamHead head = HeadAt(rows->get(), 0, 0);
        const int64_t below =
            head.hard_deleted ? head.version + 1 : store::FirstVisibleVersion(head);
        const int64_t cutoff = store::AgeCutoffMicros(head, clock_.NowMicros());
        first = GetInt8(rows->get(), 0, 7) + 1;
        last = std::min(head.version, first + step_ - 1);
        changed = 0;
        if (first > last) return c.ExecScript("ROLLBACK");  // nothing new in the stream
        // What a stream hides is a prefix of its versions: the hidden ones from `first` on.
        auto hidden = c.Exec(
            "SELECT version, (version < $4::int8 OR recorded_at_us < $5::int8)::int4::int8 "
            "FROM evs_events WHERE stream_id = $1::text AND version >= $2::int8 "
            "AND version <= $3::int8 ORDER BY version",
            Params().Text(candidate.stream_id).Int8(first).Int8(last).Int8(below).Int8(cutoff));
        if (!hidden) return fail(hidden.error());
        for (int row = 0; row < PQntuples(hidden->get()); ++row) {
          if (GetInt8(hidden->get(), row, 0) != first + changed) break;
          if (GetInt8(hidden->get(), row, 1) == 0) break;
          ++changed;
        }
        if (changed == 0) return c.ExecScript("ROLLBACK");  // the prefix ended before `first`
        auto marked = c.Exec(
            "UPDATE evs_events SET type = $4::text, data = '{}'::bytea, metadata = '{}'::bytea "
            "WHERE stream_id = $1::text AND version >= $2::int8 AND version <= $3::int8",
            Params()
                .Text(candidate.stream_id)
                .Int8(first)
                .Int8(first + changed - 1)
                .Text(kScavengedEventType));
        if (!marked) return fail(marked.error());
        auto progress =
            c.Exec("UPDATE evs_streams SET scavenged_through = $2::int8 WHERE stream_id = $1::text",
                   Params().Text(candidate.stream_id).Int8(first + changed - 1));
        if (!progress) return fail(progress.error());
        return c.ExecScript("COMMIT");
      });
      const auto took = SteadyClock::now() - start;
      tally_.report.longest_step_ms = std::max(
          tally_.report.longest_step_ms, std::chrono::duration<double, std::milli>(took).count());
      if (!stepped.ok()) return stepped;
      if (first > last) return OkStatus();
      candidate.scavenged_through = first + changed - 1;
      tally_.report.events_scavenged += changed;
      if (changed > 0) tally_.Report();
      // Leaves the stream's appends as long again: scavenging takes at most half its time.
      std::this_thread::sleep_for(took);
      // The hidden prefix ends inside this range: the rest of the stream is read.
      if (changed < last - first + 1) return OkStatus();
    }
  }

  const std::string url_;
  Clock& clock_;
  const ScavengeOptions& options_;
  const int64_t step_;
  std::unique_ptr<Connection> connection_;
  store::ScavengeTally tally_{options_};
};

}  // namespace

Result<ScavengeReport> Scavenge(const std::string& url, Clock& clock,
                                const ScavengeOptions& options) {
  return Scavenger(url, clock, options).Run();
}

}  // namespace evs::pg
