// The benchmarks of evs-bench and the options they share.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "evs/event_store.h"
#include "evs/status.h"
#include "report.h"

namespace evs::bench {

struct BenchOptions {
  double seconds = 3;                      // measured interval of each row
  double warmup_seconds = 0.5;             // unmeasured run before each row
  std::vector<int> writers = {1, 16, 64};  // append: concurrent writer threads per row
  std::vector<int> in_flight = {64, 512};  // append-async: appends one thread keeps in flight
  std::vector<int> threads = {1, 2};       // fetch: concurrent reader threads per row
  int streams_per_writer = 100;            // append: each writer round-robins over its own
  int carts = 10000;                       // fetch: carts prepared and fetched in random order
  int http_carts = 1000;                   // http: carts opened before the load, picked at random
  int connections = 64;                    // http: wrk's keep-alive connections
  int wrk_threads = 1;                     // http: wrk's threads (they share the server's cores)
  std::string wrk = "wrk";                 // http: the wrk program, looked up on PATH
  std::string nginx = "/usr/sbin/nginx";   // http: the ceiling's server (rows skipped if missing)
  int nginx_workers = 0;                   // http: 0 = as many as the evs server's I/O threads
  int64_t idle_connections = 10000;        // http: idle keep-alive connections (0: no idle rows)
  int64_t feed_events = 1000000;           // feed, archive: events in the log
  int64_t replay_events = 50000;           // replay-kinesis: events in the archive
  std::vector<int> batch_sizes = {512};    // feed: subscription batch_size per catch-up row
  int feed_writers = 64;                   // feed: writer threads of the live row
  int64_t projection_events = 300000;      // feed: cart events the projection row applies
  int64_t upcast_events = 1000000;         // upcast: cart events in each of the two logs
  int snapshot_carts = 20;                 // snapshot: carts of kSnapshotCartEvents events
  int64_t snapshot_every = 100;            // snapshot: the policy of the "evs" row
  int64_t scavenge_events = 300000;        // scavenge: deleted events the scavenge reclaims
  int64_t open_events = 10000000;          // open: events in the store that is opened
  std::string dir;                         // scratch folder of this run (exists, empty)
  std::string postgres_url;  // postgres: --url (else EVS_POSTGRES_URL, else a private cluster)
};

// Runs the benchmark and reports its rows. Errors mean the benchmark could not run at all (the
// store did not open, preparation failed); failed operations are counted in the rows instead.
Status RunAppendBench(const BenchOptions& options, Reporter& reporter);
Status RunFetchBench(const BenchOptions& options, Reporter& reporter);
Status RunHttpBench(const BenchOptions& options, Reporter& reporter);
Status RunFeedBench(const BenchOptions& options, Reporter& reporter);
Status RunArchiveBench(const BenchOptions& options, Reporter& reporter);
Status RunUpcastBench(const BenchOptions& options, Reporter& reporter);
Status RunSnapshotBench(const BenchOptions& options, Reporter& reporter);
Status RunScavengeBench(const BenchOptions& options, Reporter& reporter);
// Opening a store of --open-events events: the log engine vs the SQLite store.
Status RunOpenBench(const BenchOptions& options, Reporter& reporter);
// Needs a DynamoDB endpoint (dynalite) from the environment; says how to start one when missing.
Status RunDynamoDbBench(const BenchOptions& options, Reporter& reporter);
// The Lambda runtime (bootstrap, handler api) beside evs serve on one DynamoDB table: cold
// start and warm GetCart / AddItem. Needs the DynamoDB endpoint too.
Status RunLambdaBench(const BenchOptions& options, Reporter& reporter);
// Replay of an archive on S3 to Kinesis vs printing it (the stand-ins: s3rver and kinesalite).
Status RunReplayKinesisBench(const BenchOptions& options, Reporter& reporter);
// evs-bench postgres (postgres_bench.cc).
Status RunPostgresBench(const BenchOptions& options, Reporter& reporter);

// A row of `events` handled in `seconds` (ops = events, ops_per_s = events/s).
Row MakeEventsRow(const std::string& bench, const std::string& system, int64_t events,
                  double seconds);

// Fills `store` with about `events` cart events (whole carts, one append each, from 4 threads),
// as the cart application writes them (archive_bench.cc).
Status FillCarts(EventStore& store, int64_t events);

// A fresh folder made with mkdtemp under `parent` (created when missing), removed with
// everything in it by the destructor, and `parent` too when this created it and it is empty.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent) {
    std::error_code ec;
    parent_ = std::filesystem::absolute(parent, ec).lexically_normal().string();
    if (!std::filesystem::exists(parent_, ec)) {
      created_parent_ = std::filesystem::create_directories(parent_, ec);
    }
    std::string pattern = parent_ + "/run-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
    if (created_parent_) std::filesystem::remove(parent_, ignored);  // only if empty
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  const std::string& parent() const { return parent_; }

 private:
  std::string parent_;
  std::string path_;
  bool created_parent_ = false;
};

// Removes a SQLite database file and its -wal, -shm and .lock siblings.
inline void RemoveDatabase(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".lock"}) {
    std::filesystem::remove(path + suffix, ignored);
  }
}

}  // namespace evs::bench
