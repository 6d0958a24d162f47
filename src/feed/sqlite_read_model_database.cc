// A ProjectionRunner's SQLite file: BEGIN IMMEDIATE takes the file's write lock, so a batch
// reads its checkpoint with no other writer in between.
#include "feed/read_model.h"
#include "feed/read_model_database.h"
#include "feed/sqlite_read_model.h"
#include "store/sqlite.h"

namespace evs::feed {
namespace {

class SqliteReadModelDatabase final : public ReadModelDatabase {
 public:
  explicit SqliteReadModelDatabase(store::Database db) : model_(std::move(db)) {}

  Status Prepare() {
    store::Database& db = model_.db();
    struct {
      store::Statement* target;
      const char* sql;
    } statements[] = {
        {&save_,
         "INSERT INTO checkpoints(subscription, checkpoint, updated_at_us) VALUES (?, ?, 0) "
         "ON CONFLICT(subscription) DO UPDATE SET checkpoint = excluded.checkpoint"},
        {&load_, "SELECT CAST(checkpoint AS INTEGER) FROM checkpoints WHERE subscription = ?"},
        {&generation_, "SELECT generation FROM projection_meta WHERE name = ?"},
    };
    for (auto& s : statements) {
      auto prepared = db.Prepare(s.sql);
      if (!prepared) return prepared.error();
      *s.target = std::move(prepared).value();
    }
    return OkStatus();
  }

  ReadModel& model() override { return model_; }
  void SetSuffix(std::string suffix) override { model_.SetSuffix(std::move(suffix)); }
  void ClearStatements() override { model_.ClearStatements(); }

  Result<int64_t> OpenCurrentGeneration(Projection& projection) override {
    auto generation = feed::OpenCurrentGeneration(model_, projection);
    if (!generation.ok()) return generation.error();
    // projection_meta exists now.
    if (auto s = Prepare(); !s) return s.error();
    return generation;
  }

  Status Begin() override { return model_.db().Exec("BEGIN IMMEDIATE"); }
  Status Commit() override { return model_.db().Exec("COMMIT"); }
  void Rollback() override { (void)model_.db().Exec("ROLLBACK"); }

  Result<Locked> LockCheckpoint(const std::string& name, Projection& projection) override {
    Locked locked;
    auto checkpoint = Single(load_, name, "reading the projection's checkpoint");
    if (!checkpoint.ok()) return checkpoint.error();
    locked.checkpoint = checkpoint->value_or(0);
    const std::string projection_name = projection.Name();
    auto generation = Single(generation_, projection_name, "reading the projection's generation");
    if (!generation.ok()) return generation.error();
    locked.generation = generation->value_or(1);
    return locked;
  }

  Status SaveCheckpoint(const std::string& name, int64_t position) override {
    save_.Bind(1, name);
    const std::string text = std::to_string(position);
    save_.Bind(2, text);
    const int rc = save_.Step();
    Error error = save_.LastError("saving the projection's checkpoint");
    save_.Reset();
    if (rc != SQLITE_DONE) return error;
    return OkStatus();
  }

  Status Exec(const std::string& sql) override { return model_.db().Exec(sql); }

  Status PointViewsAt(Projection& projection, int64_t generation) override {
    return feed::PointViewsAt(model_.db(), projection, generation);
  }

 private:
  // The integer that `stmt` yields for `key`, or nullopt for no row.
  static Result<std::optional<int64_t>> Single(store::Statement& stmt, const std::string& key,
                                               std::string_view what) {
    stmt.Bind(1, key);
    const int rc = stmt.Step();
    std::optional<int64_t> value;
    if (rc == SQLITE_ROW) value = stmt.Int(0);
    Error error = stmt.LastError(what);
    stmt.Reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error;
    return value;
  }

  SqliteReadModel model_;
  store::Statement save_;
  store::Statement load_;
  store::Statement generation_;
};

}  // namespace

Result<std::unique_ptr<ReadModelDatabase>> OpenSqliteReadModelDatabase(const std::string& path) {
  auto db = store::Database::Open(path, /*read_only=*/false);
  if (!db) return db.error();
  if (auto s = db->Exec("PRAGMA synchronous = NORMAL"); !s) return s.error();
  return std::unique_ptr<ReadModelDatabase>(
      std::make_unique<SqliteReadModelDatabase>(std::move(db).value()));
}

}  // namespace evs::feed
