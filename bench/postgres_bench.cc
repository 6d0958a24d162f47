// evs-bench postgres: the PostgreSQL store's appends at 1, 16 and 64 writers vs the naive pattern
// most PostgreSQL event stores use (one transaction per append: SELECT max(version), then INSERT,
// with a bigserial position), and catch-up (ReadLog pages) vs paging the naive table.
//
// The database: --url or EVS_POSTGRES_URL (the maintenance database of a cluster the bench may
// create databases in), else a private cluster started with scripts/postgres in the scratch
// folder. Each system gets a fresh database, dropped at the end.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "bench.h"
#include "evs/postgres.h"
#include "postgres/pg_connection.h"
#include "report.h"

namespace evs::bench {
namespace {

// `url` with its database replaced by `database`.
std::string PgBenchWithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url + " dbname=" + database;
  const size_t query = url.find('?', scheme + 3);
  size_t path = url.find('/', scheme + 3);
  if (path == std::string::npos || (query != std::string::npos && path > query)) {
    path = query == std::string::npos ? url.size() : query;
  }
  return url.substr(0, path) + "/" + database +
         (query == std::string::npos ? "" : url.substr(query));
}

// Creates a database for the run and drops it at the end.
class PgBenchDatabase {
 public:
  PgBenchDatabase(std::string admin_url, const std::string& prefix)
      : admin_url_(std::move(admin_url)),
        name_(prefix + "_" + Uuid::Random().ToString().substr(0, 8)) {}
  ~PgBenchDatabase() {
    if (!created_) return;
    auto c = pg::Connection::Open(admin_url_);
    if (c) (void)(*c)->ExecScript("DROP DATABASE " + name_ + " WITH (FORCE)");
  }
  Result<std::string> Create() {
    auto c = pg::Connection::Open(admin_url_);
    if (!c) return c.error();
    if (auto s = (*c)->ExecScript("CREATE DATABASE " + name_); !s) return s.error();
    created_ = true;
    return PgBenchWithDatabase(admin_url_, name_);
  }

 private:
  std::string admin_url_;
  std::string name_;
  bool created_ = false;
};

// A private cluster from scripts/postgres, stopped at the end.
class PgBenchCluster {
 public:
  explicit PgBenchCluster(std::string dir) : dir_(std::move(dir)) {}
  ~PgBenchCluster() {
    if (started_) {
      (void)std::system((Script() + " stop " + dir_ + " >/dev/null").c_str());
    }
  }
  Result<std::string> Start() {
    if (std::system((Script() + " start " + dir_ + " >&2").c_str()) != 0) {
      return Error::Make(ErrorCode::kUnavailable,
                         "scripts/postgres could not start a cluster (set --url or "
                         "EVS_POSTGRES_URL to use a running one)");
    }
    started_ = true;
    std::ifstream env(dir_ + "/env");
    for (std::string line; std::getline(env, line);) {
      const std::string key = "export EVS_POSTGRES_URL=";
      if (line.rfind(key, 0) == 0) return line.substr(key.size());
    }
    return Error::Make(ErrorCode::kIOError, "scripts/postgres wrote no EVS_POSTGRES_URL");
  }

 private:
  std::string Script() const { return std::string(EVS_SOURCE_DIR) + "/scripts/postgres"; }
  std::string dir_;
  bool started_ = false;
};

constexpr const char* kPgNaiveSchema = R"sql(
CREATE TABLE naive_events (
  id bigserial PRIMARY KEY,
  stream_id text NOT NULL,
  version bigint NOT NULL,
  event_id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  data bytea NOT NULL,
  metadata bytea NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
))sql";

Row PgAppendRow(const BenchOptions& options, int writers, const std::string& system,
                const WorkerFactory& factory) {
  TimedRunOptions run;
  run.threads = writers;
  run.seconds = options.seconds;
  run.warmup_seconds = options.warmup_seconds;
  Row row = RunTimed(run, factory);
  row.bench = "pg_append";
  row.system = system;
  row.concurrency_name = "writers";
  row.concurrency = writers;
  return row;
}

}  // namespace

Status RunPostgresBench(const BenchOptions& options, Reporter& reporter) {
  std::string admin = options.postgres_url;
  if (admin.empty() && std::getenv("EVS_POSTGRES_URL") != nullptr) {
    admin = std::getenv("EVS_POSTGRES_URL");
  }
  PgBenchCluster cluster(options.dir + "/postgres");
  if (admin.empty()) {
    auto url = cluster.Start();
    if (!url) return url.error();
    admin = *url;
  }
  PgBenchDatabase evs_db(admin, "evs_bench");
  PgBenchDatabase naive_db(admin, "evs_bench_naive");
  auto evs_url = evs_db.Create();
  if (!evs_url) return evs_url.error();
  auto naive_url = naive_db.Create();
  if (!naive_url) return naive_url.error();
  {
    auto c = pg::Connection::Open(*naive_url);
    if (!c) return c.error();
    if (auto s = (*c)->ExecScript(kPgNaiveSchema); !s) return s.error();
  }
  PostgresStoreOptions store_options;
  store_options.url = *evs_url;
  auto store = OpenPostgresEventStore(store_options);
  if (!store) return store.error();
  reporter.Comment("postgres: " + admin + " (a database per system, dropped at the end)");

  int round = 0;
  for (int writers : options.writers) {
    ++round;
    // The naive pattern: a connection per writer, one transaction per append.
    Row naive = PgAppendRow(options, writers, "naive", [&](int thread) -> Worker {
      auto c = pg::Connection::Open(*naive_url);
      std::shared_ptr<pg::Connection> connection(c ? std::move(c).value().release() : nullptr);
      auto next = std::make_shared<int>(0);
      const std::string prefix = "n" + std::to_string(round) + "-" + std::to_string(thread) + "-";
      return [connection, next, prefix, &options]() -> Status {
        if (connection == nullptr) return Error::Make(ErrorCode::kUnavailable, "no connection");
        const std::string stream = prefix + std::to_string((*next)++ % options.streams_per_writer);
        if (auto s = connection->ExecScript("BEGIN"); !s) return s;
        auto max = connection->Exec(
            "SELECT COALESCE(max(version), 0)::int8 FROM naive_events WHERE stream_id = $1::text",
            pg::Params().Text(stream));
        if (!max) {
          (void)connection->ExecScript("ROLLBACK");
          return max.error();
        }
        const int64_t version = pg::GetInt8(max->get(), 0, 0) + 1;
        auto inserted = connection->Exec(
            "INSERT INTO naive_events (stream_id, version, event_id, type, data, metadata) "
            "VALUES ($1::text, $2::int8, $3::uuid, 'Tick', $4::bytea, '{}')",
            pg::Params().Text(stream).Int8(version).Id(Uuid::Random()).Text("{\"n\":1}"));
        if (!inserted) {
          (void)connection->ExecScript("ROLLBACK");
          return inserted.error();
        }
        return connection->ExecScript("COMMIT");
      };
    });
    SetRatio(naive, naive);
    reporter.Add(naive);

    Row evs = PgAppendRow(options, writers, "evs", [&](int thread) -> Worker {
      auto versions = std::make_shared<std::vector<int64_t>>(options.streams_per_writer, 0);
      auto next = std::make_shared<int>(0);
      const std::string prefix = "e" + std::to_string(round) + "-" + std::to_string(thread) + "-";
      EventStore* s = store->get();
      return [s, versions, next, prefix]() -> Status {
        const int i = (*next)++ % static_cast<int>(versions->size());
        EventData e;
        e.id = Uuid::Random();
        e.type = "Tick";
        e.data = "{\"n\":1}";
        auto r = s->Append(prefix + std::to_string(i),
                           ExpectedVersion::Exact((*versions)[static_cast<size_t>(i)]), {e});
        if (!r) return r.error();
        (*versions)[static_cast<size_t>(i)] = r->last_version;
        return OkStatus();
      };
    });
    SetRatio(evs, naive);
    evs.extra["commits"] = (*store)->Stats().commits;
    reporter.Add(evs);
  }

  // Catch-up: the whole log in pages of 1,000, evs's ReadLog vs paging the naive table by id.
  constexpr int64_t kPage = 1000;
  auto head = (*store)->HeadPosition();
  if (!head) return head.error();
  Row naive_catchup;
  {
    auto c = pg::Connection::Open(*naive_url);
    if (!c) return c.error();
    const auto start = std::chrono::steady_clock::now();
    int64_t after = 0;
    int64_t events = 0;
    for (;;) {
      auto page = (*c)->Exec(
          "SELECT id, stream_id, version, event_id, type, data, metadata FROM naive_events "
          "WHERE id > $1::int8 ORDER BY id LIMIT $2::int8",
          pg::Params().Int8(after).Int8(kPage));
      if (!page) return page.error();
      const int n = PQntuples(page->get());
      if (n == 0) break;
      events += n;
      after = pg::GetInt8(page->get(), n - 1, 0);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    naive_catchup = MakeEventsRow("pg_catchup", "naive", events, seconds);
    SetRatio(naive_catchup, naive_catchup);
    reporter.Add(naive_catchup);
  }
  {
    const auto start = std::chrono::steady_clock::now();
    int64_t after = 0;
    int64_t events = 0;
    for (;;) {
      auto page = (*store)->ReadLog(after, kPage);
      if (!page) return page.error();
      if (page->events.empty()) break;
      events += static_cast<int64_t>(page->events.size());
      after = page->next_position;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Row row = MakeEventsRow("pg_catchup", "evs", events, seconds);
    SetRatio(row, naive_catchup);
    reporter.Add(row);
  }
  return OkStatus();
}

}  // namespace evs::bench
