// The runner's transactions on PostgreSQL (READ COMMITTED): a batch first locks its checkpoint's
// row, so a runner of the same projection in another process waits there, then reads the
// checkpoint that the other one committed and skips what it applied.
#include "postgres/pg_read_model_database.h"

#include "feed/read_model.h"
#include "postgres/pg_read_model.h"

namespace evs::pg {
namespace {

// Serializes the creation of the runner's tables and of a projection's views and generation
// across processes (CREATE ... IF NOT EXISTS is not safe against a concurrent one): "evs" in
// ASCII plus one, beside the schema migrations' lock.
constexpr const char* kOpenLock = "SELECT pg_advisory_xact_lock(6649460)";

class PgReadModelDatabase final : public feed::ReadModelDatabase {
 public:
  explicit PgReadModelDatabase(std::unique_ptr<PgReadModel> model) : model_(std::move(model)) {}

  ReadModel& model() override { return *model_; }
  void SetSuffix(std::string suffix) override { model_->SetSuffix(std::move(suffix)); }
  void ClearStatements() override { model_->ClearStatements(); }

  Result<int64_t> OpenCurrentGeneration(Projection& projection) override {
    if (auto s = Begin(); !s) return s.error();
    auto opened = OpenLocked(projection);
    if (!opened.ok()) {
      Rollback();
      return opened.error();
    }
    if (auto s = Commit(); !s) return s.error();
    return opened;
  }

  Status Begin() override {
    if (model_->connection().Broken()) {
      if (auto s = model_->Reconnect(); !s) return s;
    }
    return model_->connection().ExecScript("BEGIN");
  }

  Status Commit() override {
    auto done = model_->connection().Exec("COMMIT");
    if (!done.ok()) return done.error();
    // COMMIT of a transaction that failed rolls it back and says so, without an error.
    if (std::string_view(PQcmdStatus(done->get())) != "COMMIT") {
      return Error::Make(ErrorCode::kIOError,
                         "the read model's transaction was rolled back, not committed");
    }
    return OkStatus();
  }

  void Rollback() override {
    if (!model_->connection().Broken()) (void)model_->connection().ExecScript("ROLLBACK");
  }

  Result<Locked> LockCheckpoint(const std::string& name, Projection& projection) override {
    const std::string projection_name = projection.Name();
    for (int attempt = 0;; ++attempt) {
      auto rows = model_->Query(
          "SELECT position, COALESCE((SELECT generation FROM evs_projection_generations "
          "WHERE name = ?2), 1) FROM evs_projection_checkpoints WHERE name = ?1 "
          "FOR UPDATE OF evs_projection_checkpoints",
          {name, projection_name});
      if (!rows.ok()) return rows.error();
      if (!rows->empty()) {
        Locked locked;
        locked.checkpoint = std::get<int64_t>((*rows)[0][0]);
        locked.generation = std::get<int64_t>((*rows)[0][1]);
        return locked;
      }
      if (attempt > 0) {
        return Error::Make(ErrorCode::kIOError, "the checkpoint " + name + " cannot be locked");
      }
      // No row to lock yet: make one (another process may make it first), then lock it.
      auto made = model_->Execute(
          "INSERT INTO evs_projection_checkpoints (name, position, updated_at_us) "
          "VALUES (?, 0, 0) ON CONFLICT (name) DO NOTHING",
          {name});
      if (!made.ok()) return made.error();
    }
  }

  Status SaveCheckpoint(const std::string& name, int64_t position) override {
    return model_->Execute(
        "INSERT INTO evs_projection_checkpoints (name, position, updated_at_us) "
        "VALUES (?, ?, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
        "updated_at_us = excluded.updated_at_us",
        {name, position});
  }

  Status Exec(const std::string& sql) override {
    Status s = model_->connection().ExecScript(sql);
    // Statements kept for a dropped table would fail, or be planned again, at their next use.
    if (s.ok() && sql.rfind("DROP", 0) == 0) model_->ClearStatements();
    return s;
  }

  Status PointViewsAt(Projection& projection, int64_t generation) override {
    const std::string suffix = feed::GenerationSuffix(generation);
    for (const auto& table : projection.Tables()) {
      if (auto s = model_->connection().ExecScript("DROP VIEW IF EXISTS " + table); !s) return s;
      if (auto s = model_->connection().ExecScript("CREATE VIEW " + table + " AS SELECT * FROM " +
                                                   table + suffix);
          !s) {
        return s;
      }
    }
    return model_->Execute(
        "INSERT INTO evs_projection_generations (name, generation) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET generation = excluded.generation",
        {projection.Name(), generation});
  }

 private:
  // Inside the transaction: the runner's tables, the projection's generation and its views.
  Result<int64_t> OpenLocked(Projection& projection) {
    Connection& c = model_->connection();
    if (auto s = c.ExecScript(kOpenLock); !s) return s.error();
    if (auto s = c.ExecScript(kProjectionTablesSql); !s) return s.error();
    auto rows = model_->Query("SELECT generation FROM evs_projection_generations WHERE name = ?",
                              {projection.Name()});
    if (!rows.ok()) return rows.error();
    const int64_t generation = rows->empty() ? 1 : std::get<int64_t>((*rows)[0][0]);
    model_->SetSuffix(feed::GenerationSuffix(generation));
    if (auto s = projection.CreateTables(*model_); !s) return s.error();
    if (auto s = PointViewsAt(projection, generation); !s) return s.error();
    return generation;
  }

  const std::unique_ptr<PgReadModel> model_;
};

}  // namespace

Result<std::unique_ptr<feed::ReadModelDatabase>> OpenPgReadModelDatabase(const std::string& url) {
  auto model = PgReadModel::Open(url);
  if (!model.ok()) return model.error();
  return std::unique_ptr<feed::ReadModelDatabase>(
      std::make_unique<PgReadModelDatabase>(std::move(model).value()));
}

}  // namespace evs::pg
