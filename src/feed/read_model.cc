#include "feed/read_model.h"

namespace evs::feed {

namespace {

constexpr std::string_view kMetaSchema = R"sql(
CREATE TABLE IF NOT EXISTS projection_meta (
  name       TEXT PRIMARY KEY,
  generation INTEGER NOT NULL
);
)sql";

}  // namespace

std::string GenerationSuffix(int64_t generation) { return "_g" + std::to_string(generation); }

Result<int64_t> OpenCurrentGeneration(SqliteReadModel& model, Projection& projection) {
  store::Database& db = model.db();
  if (auto s = db.Exec(kMetaSchema); !s) return s.error();
  auto get = db.Prepare("SELECT generation FROM projection_meta WHERE name = ?");
  if (!get) return get.error();
  const std::string name = projection.Name();
  get->Bind(1, name);
  const int64_t generation = get->Step() == SQLITE_ROW ? get->Int(0) : 1;
  get->Reset();
  model.SetSuffix(GenerationSuffix(generation));
  if (auto s = projection.CreateTables(model); !s) return s.error();
  if (auto s = PointViewsAt(db, projection, generation); !s) return s.error();
  return generation;
}

Status PointViewsAt(store::Database& db, Projection& projection, int64_t generation) {
  for (const auto& table : projection.Tables()) {
    if (auto s = db.Exec("DROP VIEW IF EXISTS " + table); !s) return s;
    if (auto s = db.Exec("CREATE VIEW " + table + " AS SELECT * FROM " + table +
                         GenerationSuffix(generation));
        !s) {
      return s;
    }
  }
  return SaveGeneration(db, projection, generation);
}

Status SaveGeneration(store::Database& db, Projection& projection, int64_t generation) {
  auto set = db.Prepare(
      "INSERT INTO projection_meta(name, generation) VALUES (?, ?) "
      "ON CONFLICT(name) DO UPDATE SET generation = excluded.generation");
  if (!set) return set.error();
  const std::string name = projection.Name();
  set->Bind(1, name);
  set->Bind(2, generation);
  const int rc = set->Step();
  Error error = set->LastError("saving the projection's generation");
  set->Reset();
  if (rc != SQLITE_DONE) return error;
  return OkStatus();
}

}  // namespace evs::feed
