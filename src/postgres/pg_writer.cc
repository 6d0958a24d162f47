#include "postgres/pg_writer.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "evs/clock.h"
#include "evs/uuid.h"
#include "store/commit_planner.h"

namespace evs::pg {
namespace {

// Where a committed (or, in this batch, planned) event id stands.
struct PgIdLocation {
  std::string stream;
  int64_t version = 0;
  int64_t position = 0;  // pending: the event's index among the batch's writes
  bool pending = false;
};

// The outcome of one append of a batch, before positions are known.
struct PgPlanned {
  enum class Kind { kWrite, kDuplicate, kFail } kind = Kind::kFail;
  std::optional<Error> error;
  PgIdLocation first;  // kWrite / kDuplicate: the first event
  PgIdLocation last;   // and the last
};

PgPlanned PgFail(Error error) {
  PgPlanned planned;
  planned.error = std::move(error);
  return planned;
}

// The most events one transaction takes (one append of up to Limits::max_events_per_append more
// may join a batch below it).
constexpr size_t kPgMaxBatchEvents = 8000;
constexpr size_t kPgMaxKnownStreams = 100000;
constexpr int kPgRaceRetries = 5;

Error PgDuplicateIdError(const Uuid& id, const PgIdLocation& at) {
  std::string where = at.pending ? "in another append of the same commit"
                                 : "at log position " + std::to_string(at.position);
  return Error::Make(ErrorCode::kDuplicateEventId,
                     "event id " + id.ToString() + " is already committed " + where +
                         "; a retry must resend the same events with the same expected version");
}

Error PgConflictError(std::string_view stream, const ExpectedVersion& expected, int64_t current) {
  Error conflict = Error::Make(ErrorCode::kWrongExpectedVersion,
                               "stream '" + std::string(stream) + "' is at version " +
                                   std::to_string(current) + ", but the append expected " +
                                   expected.ToString() + "; reload it and decide again");
  conflict.conflict = VersionConflict{expected.ToString(), current};
  return conflict;
}

std::optional<int64_t> PgTargetVersion(const ExpectedVersion& expected) {
  switch (expected.kind()) {
    case ExpectedVersion::Kind::kNoStream:
      return 1;
    case ExpectedVersion::Kind::kExact:
      return expected.version() + 1;
    default:
      return std::nullopt;
  }
}

// An append whose ids are already committed (or planned earlier in the batch): the original's
// result, or an error when they stand somewhere else. nullopt when none of them is known.
std::optional<PgPlanned> PgCheckKnownIds(
    const PendingAppend& append, const std::unordered_map<Uuid, PgIdLocation, UuidHash>& known) {
  if (known.empty()) return std::nullopt;
  const auto& events = append.events;
  auto first = known.find(events[0].id);
  if (first == known.end()) {
    for (size_t i = 1; i < events.size(); ++i) {
      auto it = known.find(events[i].id);
      if (it != known.end()) {
        return PgFail(PgDuplicateIdError(events[i].id, it->second));
      }
    }
    return std::nullopt;
  }
  const PgIdLocation& start = first->second;
  const auto target = PgTargetVersion(append.expected);
  bool same_place = start.stream == append.stream && (!target || *target == start.version);
  const PgIdLocation* last = &start;
  for (size_t i = 1; same_place && i < events.size(); ++i) {
    auto it = known.find(events[i].id);
    same_place = it != known.end() && it->second.stream == append.stream &&
                 it->second.version == start.version + static_cast<int64_t>(i);
    if (same_place) last = &it->second;
  }
  if (!same_place) {
    return PgFail(PgDuplicateIdError(events[0].id, start));
  }
  return PgPlanned{PgPlanned::Kind::kDuplicate, std::nullopt, start, *last};
}

bool PgIsRace(const std::string& sqlstate) {
  return sqlstate == kUniqueViolation || sqlstate == kDeadlock || sqlstate == kSerializationFailure;
}

// Begins the writer's transaction. Every statement of it finds rows by key: never a sequential
// scan, which PostgreSQL plans for tables without statistics yet (a new database, before
// autovacuum has analyzed it), e.g. for evs_streams' rows of a batch.
void AddBegin(std::vector<Connection::Step>& steps) {
  steps.push_back({"BEGIN ISOLATION LEVEL READ COMMITTED", Params(), ""});
  steps.push_back({"SET LOCAL enable_seqscan = off", Params(), ""});
}

using PgHeads = std::unordered_map<std::string, store::StreamHead>;
using PgIdMap = std::unordered_map<Uuid, PgIdLocation, UuidHash>;

// One event the batch writes.
struct PgWrite {
  const PendingAppend* append;
  size_t index;
  int64_t version;
};

struct PgPlan {
  std::vector<PgPlanned> planned;  // one per append
  std::vector<PgWrite> writes;     // in position order
  bool all_writes = true;          // no append failed or was a duplicate
};

// Decides each append of `batch` in order, against `heads` and the event ids in `known`, both
// updated with what it writes.
PgPlan PgDecide(const std::vector<PendingAppend>& batch, PgHeads& heads, PgIdMap& known) {
  PgPlan plan;
  plan.planned.reserve(batch.size());
  for (const auto& append : batch) {
    if (auto decided = PgCheckKnownIds(append, known)) {
      plan.planned.push_back(std::move(*decided));
      plan.all_writes = false;
      continue;
    }
    store::StreamHead& stream_head = heads[append.stream];
    if (stream_head.hard_deleted) {
      plan.planned.push_back(PgFail(store::HardDeletedError(append.stream)));
      plan.all_writes = false;
      continue;
    }
    if (!store::MatchesLifecycle(append.expected, stream_head)) {
      plan.planned.push_back(
          PgFail(PgConflictError(append.stream, append.expected, stream_head.version)));
      plan.all_writes = false;
      continue;
    }
    int64_t& head = stream_head.version;
    PgPlanned p;
    p.kind = PgPlanned::Kind::kWrite;
    for (size_t i = 0; i < append.events.size(); ++i) {
      PgIdLocation at{append.stream, head + 1, static_cast<int64_t>(plan.writes.size()), true};
      known[append.events[i].id] = at;
      if (i == 0) p.first = at;
      p.last = at;
      plan.writes.push_back(PgWrite{&append, i, head + 1});
      ++head;
    }
    plan.planned.push_back(std::move(p));
  }
  return plan;
}

// The appends' outcomes once the batch committed, its first position after `base`.
std::vector<Result<AppendResult>> PgOutcomes(PgPlan& plan, int64_t base) {
  std::vector<Result<AppendResult>> outcomes;
  outcomes.reserve(plan.planned.size());
  auto position = [base](const PgIdLocation& at) {
    return at.pending ? base + at.position + 1 : at.position;
  };
  for (auto& p : plan.planned) {
    if (p.kind == PgPlanned::Kind::kFail) {
      outcomes.emplace_back(std::move(*p.error));
    } else {
      outcomes.emplace_back(
          AppendResult{p.first.version, p.last.version, position(p.first), position(p.last)});
    }
  }
  return outcomes;
}

// The first position before the batch, from the result of the events' statement.
Result<int64_t> PgBase(const PGresult* r) {
  if (PQntuples(r) != 1) {
    return Error::Make(ErrorCode::kCorruption,
                       "evs_log_head has no row: the schema was changed outside evs");
  }
  return GetInt8(r, 0, 0);
}

void PgAddWriteSteps(const PgPlan& plan, const PgHeads& before, const PgHeads& after,
                     const std::vector<Uuid>& absent_ids, int64_t now_us,
                     std::vector<Connection::Step>& steps) {
  // The written streams' versions, checked against `before` (a prediction, or the heads the
  // transaction locked) and `absent_ids` (none of them committed): 1 / 0 fails the statement,
  // and the transaction, when a row differs or an id is there. A statement of its own, ahead of
  // the head row's lock, which it does not need.
  std::vector<std::string> stream_ids;
  std::vector<int64_t> versions, deletes, next;
  for (const auto& [stream, head] : after) {
    const store::StreamHead& was = before.at(stream);
    if (head.version == was.version) continue;
    stream_ids.push_back(stream);
    versions.push_back(was.version);
    deletes.push_back(was.deleted_through);
    next.push_back(head.version);
  }
  Params stream_params;
  stream_params.TextArray(stream_ids)
      .Int8Array(versions)
      .Int8Array(deletes)
      .Int8Array(next)
      .IdArray(absent_ids);
  steps.push_back(
      {"WITH s AS (UPDATE evs_streams AS t SET version = p.next "
       "FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) "
       "AS p(stream_id, version, deleted_through, next) "
       "WHERE t.stream_id = p.stream_id AND t.version = p.version "
       "AND t.deleted_through = p.deleted_through AND NOT t.hard_deleted "
       "AND NOT EXISTS (SELECT 1 FROM evs_events WHERE event_id = ANY($5::uuid[])) "
       "RETURNING 1) "
       "SELECT 1 / ((SELECT count(*) FROM s) = cardinality($1::text[]))::int4",
       std::move(stream_params), "evs_move_streams"});

  // The events as arrays (one statement text whatever the batch's size), positions taken from
  // the head row: from here to COMMIT's WAL flush, every writer of the database waits.
  const auto n = static_cast<int64_t>(plan.writes.size());
  std::vector<std::string_view> event_streams, types, data, metadata;
  std::vector<int64_t> event_versions;
  std::vector<Uuid> event_ids;
  for (const PgWrite& write : plan.writes) {
    const EventData& e = write.append->events[write.index];
    event_streams.push_back(write.append->stream);
    event_versions.push_back(write.version);
    event_ids.push_back(e.id);
    types.push_back(e.type);
    data.push_back(e.data);
    metadata.push_back(e.metadata);
  }
  Params params;
  params.Int8(n)
      .Int8(now_us)
      .TextArray(event_streams)
      .Int8Array(event_versions)
      .IdArray(event_ids)
      .TextArray(types)
      .ByteaArray(data)
      .ByteaArray(metadata);
  steps.push_back(
      {"WITH h AS (UPDATE evs_log_head SET position = position + $1::int8, "
       "recorded_at_us = GREATEST(recorded_at_us, $2::int8) WHERE id = 1 "
       "RETURNING position - $1::int8 AS base, recorded_at_us AS at), "
       "e AS (INSERT INTO evs_events (position, stream_id, version, event_id, type, data, "
       "metadata, recorded_at_us) SELECT h.base + v.k, v.s, v.ver, v.id, v.t, v.d, v.m, h.at "
       "FROM h, unnest($3::text[], $4::int8[], $5::uuid[], $6::text[], $7::bytea[], "
       "$8::bytea[]) WITH ORDINALITY AS v(s, ver, id, t, d, m, k) RETURNING 1) "
       "SELECT h.base, (SELECT count(*) FROM e) FROM h, pg_notify('evs_log', '')",
       std::move(params), "evs_write_events"});
  steps.push_back({"COMMIT", Params(), ""});
}

}  // namespace

Writer::Writer(PostgresStoreOptions options, std::unique_ptr<Connection> connection,
               std::function<void()> committed)
    : options_(std::move(options)), committed_(std::move(committed)) {
  lanes_[0].connection = std::move(connection);
  for (int i = 0; i < 2; ++i) threads_[i] = std::thread([this, i] { Run(lanes_[i]); });
}

Writer::~Writer() {
  {
    std::lock_guard guard(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

uint64_t Writer::commits() const {
  std::lock_guard guard(mu_);
  return commits_;
}

void Writer::Submit(PendingAppend append) {
  {
    std::lock_guard guard(mu_);
    if (!closing_) {
      queue_.push_back(std::move(append));
      cv_.notify_one();
      return;
    }
  }
  append.callback(
      Error::Make(ErrorCode::kUnavailable, "the PostgreSQL store is closing: nothing was written"));
}

void Writer::Run(Lane& lane) {
  for (;;) {
    std::vector<PendingAppend> batch;
    uint64_t seq = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and everything queued is taken
      size_t events = 0;
      while (!queue_.empty() && batch.size() < options_.max_batch_appends &&
             (batch.empty() || events + queue_.front().events.size() <=
                                   std::min(options_.max_batch_events, kPgMaxBatchEvents))) {
        events += queue_.front().events.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      seq = next_seq_++;
    }
    std::vector<Result<AppendResult>> outcomes = Commit(lane, seq, batch);
    bool wrote = false;
    for (const auto& outcome : outcomes) wrote = wrote || outcome.ok();
    {
      // Callbacks in the order the batches were taken: appends complete in submission order.
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return done_turn_ == seq; });
      if (wrote) ++commits_;
    }
    if (wrote) committed_();
    for (size_t i = 0; i < batch.size(); ++i) batch[i].callback(std::move(outcomes[i]));
    {
      std::lock_guard guard(mu_);
      ++done_turn_;
    }
    cv_.notify_all();
  }
}

void Writer::WaitToLock(uint64_t seq) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return lock_turn_ >= seq; });
}

void Writer::Locked(uint64_t seq) {
  {
    std::lock_guard guard(mu_);
    if (lock_turn_ <= seq) lock_turn_ = seq + 1;
  }
  cv_.notify_all();
}

int64_t Writer::NowMicros() const {
  return (options_.clock ? options_.clock : SystemClock())->NowMicros();
}

Status Writer::EnsureConnected(Lane& lane) {
  if (lane.connection != nullptr && !lane.connection->Broken()) return OkStatus();
  lane.connection.reset();
  auto connection = Connection::Open(options_.url);
  if (!connection) return connection.error();
  lane.connection = std::move(connection).value();
  return OkStatus();
}

std::vector<Result<AppendResult>> Writer::Commit(Lane& lane, uint64_t seq,
                                                 std::vector<PendingAppend>& batch) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options_.reconnect_seconds);
  auto pause = std::chrono::milliseconds(20);
  int races = 0;
  int attempts = 0;
  bool unknown_outcome = false;
  for (;;) {
    bool retry = false;
    bool committing = false;
    // A retry goes the long way: it looks the event ids up (an unknown outcome is resolved).
    auto outcomes = Attempt(lane, seq, batch, /*predict=*/attempts++ == 0, retry);
    if (outcomes.ok()) return std::move(outcomes).value();
    Error error = outcomes.error();
    committing = error.message.rfind("COMMIT:", 0) == 0;
    unknown_outcome = unknown_outcome || committing;
    const bool race = lane.race;
    const bool can_retry =
        retry && (race ? ++races <= kPgRaceRetries : std::chrono::steady_clock::now() < deadline);
    if (!can_retry) {
      Locked(seq);  // gave up: the next batch may go on
      if (unknown_outcome) {
        error.code = ErrorCode::kUnavailable;
        error.message =
            "the connection to PostgreSQL was lost while committing, and it did not "
            "come back within " +
            std::to_string(options_.reconnect_seconds) +
            " s: the append may or may not be committed; retry it with the same "
            "event ids (an idempotent retry tells which) (" +
            error.message + ")";
      } else if (!race && retry) {
        error.code = ErrorCode::kUnavailable;
        error.message += "; nothing was written (retried for " +
                         std::to_string(options_.reconnect_seconds) + " s)";
      }
      std::vector<Result<AppendResult>> failed;
      failed.reserve(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) failed.emplace_back(error);
      return failed;
    }
    if (!race) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
  }
}

Result<std::vector<Result<AppendResult>>> Writer::Attempt(Lane& lane, uint64_t seq,
                                                          std::vector<PendingAppend>& batch,
                                                          bool predict, bool& retry) {
  retry = true;
  lane.race = false;
  if (auto s = EnsureConnected(lane); !s) return s.error();
  Connection& c = *lane.connection;
  auto rollback = [&](Error error) -> Error {
    if (!c.Broken()) {
      const std::string state = c.sqlstate();
      (void)c.ExecScript("ROLLBACK");
      retry = lane.race = PgIsRace(state);
    }
    return error;
  };

  // Every stream's row exists before the transaction locks them: rows the lane has not seen are
  // inserted (in id order, so that writers never deadlock on new streams) at version 0, in a
  // transaction of their own that does not wait for its WAL flush (synchronous_commit off): the
  // append's COMMIT flushes the WAL up to itself, this insert included, before anything is
  // acknowledged, and a row lost with the server is inserted again.
  std::vector<std::string> streams;
  for (const auto& append : batch) streams.push_back(append.stream);
  std::sort(streams.begin(), streams.end());
  streams.erase(std::unique(streams.begin(), streams.end()), streams.end());
  std::vector<std::string> missing;
  for (const auto& s : streams) {
    if (lane.known_streams.count(s) == 0) missing.push_back(s);
  }
  std::vector<Connection::Step> create;
  if (!missing.empty()) {
    create.push_back({"BEGIN", Params(), ""});
    create.push_back({"SET LOCAL synchronous_commit TO off", Params(), ""});
    create.push_back(
        {"INSERT INTO evs_streams (stream_id, version) SELECT unnest($1::text[]), 0 "
         "ON CONFLICT DO NOTHING RETURNING stream_id",
         Params().TextArray(missing), ""});
    create.push_back({"COMMIT", Params(), ""});
  }
  auto created = [&] {
    if (lane.known_streams.size() + missing.size() > kPgMaxKnownStreams) lane.known_streams.clear();
    lane.known_streams.insert(missing.begin(), missing.end());
  };

  std::vector<Uuid> ids;
  for (const auto& append : batch) {
    for (const auto& e : append.events) ids.push_back(e.id);
  }
  // Locks the streams' rows in stream id order (so that writers never deadlock) and reads them.
  auto lock_step = [&streams]() -> Connection::Step {
    return {
        "SELECT stream_id, version, deleted_through, hard_deleted::int4::int8 FROM "
        "evs_streams WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE",
        Params().TextArray(streams), "evs_lock_streams_v2"};
  };

  // The predicted path: one round trip when every stream's head is predicted (what the writer
  // committed or decided last) and every append is a write against those heads. The statement
  // that moves the streams' versions checks the prediction, and that none of the event ids is
  // committed, under the rows' locks, and fails the transaction when either is wrong (another
  // process wrote, a lifecycle change, a batch before this one failed, an idempotent retry):
  // nothing is written, and the batch is decided again the long way below. A stream the lane is
  // about to insert is predicted at version 0, and its insert goes first in the same round trip.
  WaitToLock(seq);
  if (predict) {
    PgHeads heads;
    {
      std::lock_guard guard(mu_);
      for (const auto& s : streams) {
        auto it = predicted_.find(s);
        if (it != predicted_.end()) {
          heads.emplace(s, it->second);
        } else if (lane.known_streams.count(s) == 0) {
          heads.emplace(s, store::StreamHead{});
        } else {
          break;
        }
      }
    }
    if (heads.size() == streams.size()) {
      const PgHeads before = heads;
      PgIdMap known;
      PgPlan plan = PgDecide(batch, heads, known);
      if (plan.all_writes) {
        {
          std::lock_guard guard(mu_);
          if (predicted_.size() > kPgMaxKnownStreams) predicted_.clear();
          for (const auto& [stream, head] : heads) predicted_[stream] = head;
        }
        std::vector<Connection::Step> steps = create;
        const size_t first = steps.size();
        AddBegin(steps);
        steps.push_back(lock_step());
        PgAddWriteSteps(plan, before, heads, ids, NowMicros(), steps);
        // The rows are locked and the prediction holds: the next batch may lock its rows (the
        // server answers that step at once: its flush request).
        steps[first + 3].flush = true;
        auto committed = c.Pipeline(steps, [&](size_t step) {
          if (step == first + 3) Locked(seq);
        });
        if (committed) {
          created();
          auto base = PgBase((*committed)[first + 4].get());
          if (!base) return base.error();
          return PgOutcomes(plan, *base);
        }
        Forget(streams);
        if (c.Broken()) {
          Locked(seq);
          // Lost with the COMMIT sent: the outcome is unknown until the retry looks the ids up.
          Error error = committed.error();
          error.message = "COMMIT: " + error.message;
          return error;
        }
        (void)c.ExecScript("ROLLBACK");
        if (c.Broken()) {
          Locked(seq);
          return committed.error();
        }
        // Wrong (or refused after the check): the long way, still this batch's turn to lock
        // unless the check had passed.
      }
    }
  }

  // The long way: the missing rows first (one round trip).
  if (!create.empty()) {
    auto r = c.Pipeline(create);
    if (!r) {
      Locked(seq);
      if (!c.Broken()) {
        const std::string state = c.sqlstate();
        (void)c.ExecScript("ROLLBACK");
        lane.race = PgIsRace(state);
      }
      retry = c.Broken() || lane.race;
      return r.error();
    }
    created();
    std::lock_guard guard(mu_);
    if (predicted_.size() + missing.size() > kPgMaxKnownStreams) predicted_.clear();
    const PGresult* rows = (*r)[2].get();
    for (int row = 0; row < PQntuples(rows); ++row) {
      predicted_.emplace(GetText(rows, row, 0), store::StreamHead{});
    }
  }
  // The long way. One round trip: begin, lock the streams' rows, look the event ids up.
  std::vector<Connection::Step> begin;
  AddBegin(begin);
  begin.push_back(lock_step());
  begin.push_back(
      {"SELECT event_id, stream_id, version, position FROM evs_events "
       "WHERE event_id = ANY($1::uuid[])",
       Params().IdArray(ids), "evs_find_ids"});
  auto begun = c.Pipeline(begin);
  if (!begun) {
    Locked(seq);
    return rollback(begun.error());
  }
  // The locked heads: versions and deletes (metadata does not bound appends).
  PgHeads heads;
  {
    const PGresult* r = (*begun)[2].get();
    for (int row = 0; row < PQntuples(r); ++row) {
      store::StreamHead& head = heads[GetText(r, row, 0)];
      head.version = GetInt8(r, row, 1);
      head.deleted_through = GetInt8(r, row, 2);
      head.hard_deleted = GetInt8(r, row, 3) != 0;
    }
  }
  if (heads.size() != streams.size()) {  // a row went away: insert it again
    Locked(seq);
    lane.known_streams.clear();
    Forget(streams);
    (void)c.ExecScript("ROLLBACK");
    return Error::Make(ErrorCode::kIOError, "evs_streams lost rows of this batch's streams");
  }
  PgIdMap known;
  {
    const PGresult* r = (*begun)[3].get();
    for (int row = 0; row < PQntuples(r); ++row) {
      known[GetId(r, row, 0)] =
          PgIdLocation{GetText(r, row, 1), GetInt8(r, row, 2), GetInt8(r, row, 3), false};
    }
  }
  // Decide each append in order, against the locked heads and what the batch wrote before it;
  // the heads it leaves are the next batches' prediction.
  const PgHeads before = heads;
  PgPlan plan = PgDecide(batch, heads, known);
  {
    std::lock_guard guard(mu_);
    if (predicted_.size() > kPgMaxKnownStreams) predicted_.clear();
    for (const auto& [stream, head] : heads) predicted_[stream] = head;
  }
  Locked(seq);

  if (plan.writes.empty()) {
    if (auto s = c.ExecScript("COMMIT"); !s) return rollback(s.error());
    return PgOutcomes(plan, 0);
  }
  // One more round trip: move the streams' versions, take positions under the head row's lock
  // (held until COMMIT), write the events, notify the listeners, commit.
  std::vector<Connection::Step> steps;
  PgAddWriteSteps(plan, before, heads, {}, NowMicros(), steps);
  auto committed = c.Pipeline(steps);
  if (!committed) {
    Forget(streams);
    if (!c.Broken()) return rollback(committed.error());
    // Lost with the COMMIT sent: the outcome is unknown until the retry looks the ids up.
    Error error = committed.error();
    error.message = "COMMIT: " + error.message;
    retry = true;
    return error;
  }
  auto base = PgBase((*committed)[1].get());
  if (!base) return base.error();
  return PgOutcomes(plan, *base);
}

void Writer::Forget(const std::vector<std::string>& streams) {
  std::lock_guard guard(mu_);
  for (const auto& s : streams) predicted_.erase(s);
}

}  // namespace evs::pg
