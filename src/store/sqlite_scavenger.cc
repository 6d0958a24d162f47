#include "store/sqlite_scavenger.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "store/scavenge_tally.h"
#include "store/sqlite.h"
#include "store/stream_lifecycle.h"

namespace evs::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Candidate {
  std::string stream_id;
  int64_t stream_no = 0;
  int64_t scavenged_through = 0;
};

// Pages one vacuum step gives back: 256 KiB of 4 KiB pages, a few ms of writer time.
constexpr int kVacuumPagesPerStep = 64;

Status Exec(Database& db, const char* sql) { return db.Exec(sql); }

class Scavenger {
 public:
  Scavenger(const ScavengeContext& context, const ScavengeOptions& options)
      : context_(context), options_(options), step_(std::max<size_t>(1, options.events_per_step)) {}

  Result<ScavengeReport> Run() {
    // Recent commits may still be in the WAL only: copied first, the file's size says what the
    // store holds.
    if (auto s = Job([](Database&) { return OkStatus(); }, /*checkpoint_after=*/true); !s) {
      return s.error();
    }
    tally_.report.file_bytes_before = context_.file_bytes();
    auto candidates = Candidates();
    if (!candidates.ok()) return candidates.error();
    tally_.progress.streams_total = tally_.report.streams_examined =
        static_cast<int64_t>(candidates->size());
    for (Candidate& candidate : *candidates) {
      if (auto s = ScavengeStream(candidate); !s) return s.error();
      ++tally_.progress.streams_done;
      tally_.Report();
    }
    if (auto s = GiveSpaceBack(); !s) return s.error();
    tally_.report.file_bytes_after = context_.file_bytes();
    return tally_.Finish();
  }

 private:
  // Runs `job` through the writer, timing how long it held appends back; then leaves the
  // writer to appends for as long again, so that scavenging takes at most half its time.
  Status Job(const std::function<Status(Database&)>& job, bool checkpoint_after = false) {
    double ms = 0;
    Status status = context_.writer.RunExclusive(
        [&](Database& db) {
          const auto start = SteadyClock::now();
          Status done = job(db);
          ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
          return done;
        },
        checkpoint_after);
    tally_.report.longest_step_ms = std::max(tally_.report.longest_step_ms, ms);
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
    return status;
  }

  Result<std::vector<Candidate>> Candidates() {
    std::vector<Candidate> candidates;
    Status listed = Job([&](Database& db) -> Status {
      auto stmt = db.Prepare(
          "SELECT s.stream_id, m.stream_no, m.scavenged_through FROM stream_meta m "
          "JOIN streams s ON s.stream_no = m.stream_no ORDER BY m.stream_no");
      if (!stmt) return stmt.error();
      int rc;
      while ((rc = stmt->Step()) == SQLITE_ROW) {
        candidates.push_back(Candidate{std::string(stmt->Text(0)), stmt->Int(1), stmt->Int(2)});
      }
      if (rc != SQLITE_DONE) return stmt->LastError("listing streams to scavenge");
      return OkStatus();
    });
    if (!listed.ok()) return listed.error();
    return candidates;
  }

  // Steps through the stream's hidden prefix from where the last scavenge stopped.
  Status ScavengeStream(Candidate& candidate) {
    for (;;) {
      // Decided afresh each step from the durable head: a step never hides more than reads do.
      const StreamHead head = context_.planner.Heads().Find(candidate.stream_id);
      if (head.number != candidate.stream_no) return OkStatus();  // not durable yet
      const int64_t below = head.hard_deleted ? head.version + 1 : FirstVisibleVersion(head);
      const int64_t cutoff = AgeCutoffMicros(head, context_.clock.NowMicros());
      const int64_t first = candidate.scavenged_through + 1;
      const int64_t last = std::min(head.version, first + static_cast<int64_t>(step_) - 1);
      if (first > last) return OkStatus();
      int64_t changed = 0;
      Status stepped = Job([&](Database& db) -> Status {
        if (auto s = Exec(db, "BEGIN IMMEDIATE"); !s) return s;
        // Deleted and written again small, rather than updated in place: SQLite frees the pages
        // of deleted rows, while a row that shrinks keeps its page.
        auto hidden = db.Prepare(
            "SELECT position, version, event_id, recorded_at_us FROM events WHERE stream_no = ?1 "
            "AND version >= ?2 AND version <= ?3 AND (version < ?4 OR recorded_at_us < ?5) "
            "ORDER BY version");
        if (!hidden) return hidden.error();
        hidden->Bind(1, candidate.stream_no);
        hidden->Bind(2, first);
        hidden->Bind(3, last);
        hidden->Bind(4, below);
        hidden->Bind(5, cutoff);
        struct Marker {
          int64_t position, version;
          std::string id;
          int64_t recorded_at_us;
        };
        std::vector<Marker> markers;
        int rc;
        while ((rc = hidden->Step()) == SQLITE_ROW) {
          if (hidden->Int(1) != first + static_cast<int64_t>(markers.size())) break;  // prefix
          markers.push_back(
              Marker{hidden->Int(0), hidden->Int(1), std::string(hidden->Text(2)), hidden->Int(3)});
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return hidden->LastError("finding events");
        hidden->Reset();
        changed = static_cast<int64_t>(markers.size());
        if (changed > 0) {
          auto erase = db.Prepare(
              "DELETE FROM events WHERE stream_no = ?1 AND version >= ?2 AND version <= ?3");
          if (!erase) return erase.error();
          erase->Bind(1, candidate.stream_no);
          erase->Bind(2, first);
          erase->Bind(3, first + changed - 1);
          if (erase->Step() != SQLITE_DONE) return erase->LastError("scavenging events");
          auto insert = db.Prepare(
              "INSERT INTO events(position, stream_no, version, event_id, type, data, metadata, "
              "recorded_at_us) VALUES (?, ?, ?, ?, '" +
              std::string(kScavengedEventType) + "', '{}', '{}', ?)");
          if (!insert) return insert.error();
          for (const Marker& m : markers) {
            insert->Bind(1, m.position);
            insert->Bind(2, candidate.stream_no);
            insert->Bind(3, m.version);
            insert->Bind(4, std::string_view(m.id));
            insert->Bind(5, m.recorded_at_us);
            if (insert->Step() != SQLITE_DONE) return insert->LastError("writing markers");
            insert->Reset();
          }
        }
        auto progress =
            db.Prepare("UPDATE stream_meta SET scavenged_through = ?2 WHERE stream_no = ?1");
        if (!progress) return progress.error();
        progress->Bind(1, candidate.stream_no);
        progress->Bind(2, first + changed - 1);
        if (progress->Step() != SQLITE_DONE) return progress->LastError("recording scavenging");
        return Exec(db, "COMMIT");
      });
      if (!stepped.ok()) return stepped;
      candidate.scavenged_through = first + changed - 1;
      tally_.report.events_scavenged += changed;
      if (changed > 0) tally_.Report();
      // The hidden prefix ends inside this range: the rest of the stream is read.
      if (changed < last - first + 1) return OkStatus();
    }
  }

  Status GiveSpaceBack() {
    int64_t auto_vacuum = 0;
    if (auto s = Job([&](Database& db) -> Status {
          auto stmt = db.Prepare("PRAGMA auto_vacuum");
          if (!stmt) return stmt.error();
          if (stmt->Step() != SQLITE_ROW) return stmt->LastError("reading auto_vacuum");
          auto_vacuum = stmt->Int(0);
          return OkStatus();
        });
        !s) {
      return s;
    }
    if (auto_vacuum != 2 && !options_.compact) {
      tally_.report.file_shrinks = false;
      return OkStatus();
    }
    if (auto_vacuum != 2) {
      // A store from before incremental vacuum: rewritten whole, and incremental from then on.
      return Job([](Database& db) { return db.Exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM"); },
                 /*checkpoint_after=*/true);
    }
    bool freed = tally_.report.events_scavenged > 0;
    for (;;) {
      int64_t free_pages = 0;
      Status stepped = Job([&](Database& db) -> Status {
        if (auto s =
                db.Exec("PRAGMA incremental_vacuum(" + std::to_string(kVacuumPagesPerStep) + ")");
            !s) {
          return s;
        }
        auto count = db.Prepare("PRAGMA freelist_count");
        if (!count) return count.error();
        if (count->Step() != SQLITE_ROW) return count->LastError("counting free pages");
        free_pages = count->Int(0);
        return OkStatus();
      });
      if (!stepped.ok()) return stepped;
      if (free_pages == 0) break;
      freed = true;
    }
    if (!freed) return OkStatus();
    // The file shrinks when a checkpoint copies the last commit in whole; readers in the middle
    // of a read can hold one back for a moment.
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (auto s = Job([](Database&) { return OkStatus(); }, /*checkpoint_after=*/true); !s) {
        return s;
      }
      if (context_.file_bytes() < tally_.report.file_bytes_before) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return OkStatus();
  }

  const ScavengeContext& context_;
  const ScavengeOptions& options_;
  const size_t step_;
  ScavengeTally tally_{options_};
};

}  // namespace

Result<ScavengeReport> ScavengeSqlite(const ScavengeContext& context,
                                      const ScavengeOptions& options) {
  return Scavenger(context, options).Run();
}

}  // namespace evs::store
