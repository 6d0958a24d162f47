// A projection fed by a source that keeps only per-stream order: exactly-once effect through
// each stream's last applied version, kept in the read model next to the projection's tables.
#include <mutex>
#include <unordered_map>

#include "evs/projection.h"
#include "evs/upcasting.h"
#include "feed/read_model.h"
#include "feed/sqlite_read_model.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::Database;
using store::Statement;

class Handler final : public StreamProjectionHandler {
 public:
  Handler(Projection& projection, Database db, std::shared_ptr<const Upcaster> upcaster)
      : projection_(projection), model_(std::move(db)), upcaster_(std::move(upcaster)) {}

  Status Init() {
    std::lock_guard guard(mu_);
    auto generation = feed::OpenCurrentGeneration(model_, projection_);
    if (!generation.ok()) return generation.error();
    Database& db = model_.db();
    const std::string table = "stream_versions_" + projection_.Name() + model_.Suffix();
    if (auto s = db.Exec("CREATE TABLE IF NOT EXISTS " + table +
                         " (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL)");
        !s) {
      return s;
    }
    auto get = db.Prepare("SELECT version FROM " + table + " WHERE stream_id = ?");
    if (!get) return get.error();
    get_ = std::move(get).value();
    auto set = db.Prepare("INSERT INTO " + table +
                          "(stream_id, version) VALUES (?, ?) "
                          "ON CONFLICT(stream_id) DO UPDATE SET version = excluded.version");
    if (!set) return set.error();
    set_ = std::move(set).value();
    return OkStatus();
  }

  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    Database& db = model_.db();
    if (auto s = db.Exec("BEGIN IMMEDIATE"); !s) return s;
    StreamProjectionStats counted;
    Status applied = ApplyLocked(batch, counted);
    if (applied.ok()) applied = db.Exec("COMMIT");
    if (!applied.ok()) {
      (void)db.Exec("ROLLBACK");
      return applied;
    }
    stats_.applied += counted.applied;
    stats_.skipped += counted.skipped;
    return OkStatus();
  }

  StreamProjectionStats Stats() const override {
    std::lock_guard guard(mu_);
    return stats_;
  }

  Result<int64_t> AppliedVersion(const std::string& stream_id) override {
    std::lock_guard guard(mu_);
    return StoredVersion(stream_id);
  }

 private:
  // Called with mu_ held, inside the batch's transaction.
  Status ApplyLocked(std::span<const RecordedEvent> batch, StreamProjectionStats& counted) {
    std::unordered_map<std::string_view, int64_t> versions;  // this batch's streams
    for (const RecordedEvent& event : batch) {
      auto [it, inserted] = versions.try_emplace(event.stream_id, 0);
      if (inserted) {
        auto stored = StoredVersion(event.stream_id);
        if (!stored.ok()) return stored.error();
        it->second = *stored;
      }
      if (event.version <= it->second) {
        ++counted.skipped;
        continue;
      }
      if (event.version != it->second + 1) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "projection " + projection_.Name() + ": stream '" + event.stream_id +
                               "' was applied up to version " + std::to_string(it->second) +
                               " and the feed hands version " + std::to_string(event.version) +
                               ": the feed lost events (rebuild the read model from an archive)");
      }
      // A retired event is not applied, but its version counts.
      RecordedEvent scratch;
      Result<const RecordedEvent*> current = &event;
      if (upcaster_) current = upcaster_->UpcastOrKeep(event, scratch);
      if (!current.ok()) return current.error();
      if (*current != nullptr) {
        if (auto s = projection_.Apply(model_, **current); !s) return s;
      }
      it->second = event.version;
      ++counted.applied;
    }
    for (const auto& [stream_id, version] : versions) {
      set_.Bind(1, stream_id);
      set_.Bind(2, version);
      const int rc = set_.Step();
      Error error = set_.LastError("saving a stream's applied version");
      set_.Reset();
      if (rc != SQLITE_DONE) return error;
    }
    return OkStatus();
  }

  Result<int64_t> StoredVersion(std::string_view stream_id) {
    get_.Bind(1, stream_id);
    const int rc = get_.Step();
    int64_t version = 0;
    if (rc == SQLITE_ROW) version = get_.Int(0);
    Error error = get_.LastError("reading a stream's applied version");
    get_.Reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error;
    return version;
  }

  Projection& projection_;
  mutable std::mutex mu_;
  feed::SqliteReadModel model_;  // writes the generation in use, which does not change here
  const std::shared_ptr<const Upcaster> upcaster_;
  Statement get_;
  Statement set_;
  StreamProjectionStats stats_;
};

}  // namespace

Result<std::unique_ptr<StreamProjectionHandler>> StreamProjectionHandler::Open(
    Projection& projection, ProjectionOptions options) {
  // The same file layout as a ProjectionRunner's (WAL, a checkpoints table a consumer may use).
  if (auto checkpoints = OpenSqliteCheckpointStore(options.path); !checkpoints.ok()) {
    return checkpoints.error();
  }
  auto db = Database::Open(options.path, /*read_only=*/false);
  if (!db) return db.error();
  // FULL: the feed's checkpoint may live elsewhere (another file, the Lambda event source), so a
  // batch must be durable before Handle() returns, or a power loss could leave a gap.
  if (auto s = db->Exec("PRAGMA synchronous = FULL"); !s) return s.error();
  auto handler = std::make_unique<Handler>(projection, std::move(db).value(), options.upcaster);
  if (auto s = handler->Init(); !s) return s.error();
  return std::unique_ptr<StreamProjectionHandler>(std::move(handler));
}

}  // namespace evs
