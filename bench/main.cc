// evs-bench: performance of evs measured side by side with a baseline in the same run.
//
//   evs-bench [all]           every benchmark
//   evs-bench append          durable appends/s and latency at 1, 16, 64 writers vs naive SQLite
//                             and the disk's two limits (threads-limit, fsync-limit); one thread
//                             with 64 and 512 asynchronous appends in flight (append-async)
//   evs-bench fetch           cart fetches/s, cold and warm, vs the raw SQLite read
//   evs-bench http            GET /healthz, AddItem and GetCart over HTTP (wrk on loopback) vs
//                             nginx serving a static file; 10,000 idle connections to each
//   evs-bench feed            subscription catch-up events/s vs a raw SQLite scan; the
//                             cart-summary projection's catch-up vs the bare feed; live
//                             append-to-handler latency under 64 durable writers
//   evs-bench archive         archiving events/s vs reading the log; replay from the archive
//                             vs feed catch-up from the store; archive size vs JSON lines
//   evs-bench upcast          catch-up of 1,000,000 version-1 cart events through the cart's
//                             upcaster vs the same events at the current version
//   evs-bench snapshot        cold fetch of 10,000-event carts with snapshots every 100 events
//                             vs without; 21-event carts with snapshots off vs the plain loop
//   evs-bench scavenge        durable appends while a scavenge reclaims deleted events vs
//                             without one (latency shows how long writers waited)
//   evs-bench open            opening a store of 10,000,000 events: the log engine (recovery
//                             scan, index rebuild) vs the SQLite store of the same events
//   evs-bench dynamodb        the DynamoDB store vs the original design (one item per aggregate,
//                             list_append) at 20 and 2,000 events per stream, on the endpoint
//                             of the environment (dynalite: scripts/standins start DIR; source
//                             DIR/env); `all` runs it only when such an endpoint is set
//   evs-bench lambda          the Lambda runtime (bootstrap, api) vs evs serve on one DynamoDB
//                             table: cold start (median of 20), warm GetCart and AddItem; like
//                             dynamodb, in `all` only with an endpoint set
//   evs-bench replay-kinesis  an archive on S3 re-published to a 2-shard Kinesis stream
//                             (s3rver, kinesalite) vs `evs replay --print` of the same archive;
//                             in `all` only with a Kinesis endpoint set
//   evs-bench postgres        the PostgreSQL store's appends at 1, 16, 64 writers vs the naive
//                             pattern (a transaction per append: SELECT max(version) + INSERT),
//                             and catch-up; on --url / EVS_POSTGRES_URL or a private cluster
//                             (scripts/postgres); in `all` only with EVS_POSTGRES_URL set
//
// Options go before or after the subcommand: --seconds, --warmup, --writers, --in-flight,
// --threads,
// --carts, --connections, --wrk-threads, --wrk, --nginx, --nginx-workers, --idle-connections,
// --events, --replay-events, --batch-sizes, --feed-writers,
// --projection-events, --upcast-events, --open-events, --snapshot-carts, --snapshot-every,
// --scavenge-events,
// --json,
// --dir. The table (or, with --json, one JSON object per row) goes to stdout; progress goes to
// stderr.
#include <sqlite3.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "bench.h"
#include "http_ceiling.h"
#include "report.h"

int main(int argc, char** argv) {
  // The http-idle rows' client, spawned by the bench itself (not a subcommand to run by hand).
  if (argc == 4 && std::string(argv[1]) == "--idle-client") {
    return evs::bench::IdleClientMain(std::atoi(argv[2]), std::atoll(argv[3]));
  }
  using evs::bench::BenchOptions;
  BenchOptions options;
  bool json = false;
  std::string dir = "evs-bench-tmp";

  CLI::App app{"evs-bench: evs performance, side by side with a baseline in the same run"};
  app.add_option("--seconds", options.seconds, "Measured seconds per row")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_seconds, "Unmeasured warm-up seconds before each row")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--writers", options.writers, "append: writer threads per row, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--in-flight", options.in_flight,
                 "append-async: appends one thread keeps in flight per row, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", options.threads, "fetch: reader threads per row, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--streams-per-writer", options.streams_per_writer,
                 "append: streams each writer round-robins over")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  std::optional<int> carts;
  app.add_option("--carts", carts,
                 "fetch: carts prepared and fetched in random order (default " +
                     std::to_string(options.carts) +
                     "); http: carts opened and picked at random (default " +
                     std::to_string(options.http_carts) + ")")
      ->check(CLI::PositiveNumber);
  app.add_option("--connections", options.connections, "http: wrk's keep-alive connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--wrk-threads", options.wrk_threads,
                 "http: wrk's threads (they share the machine's cores with the server)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--wrk", options.wrk, "http: the wrk program")->capture_default_str();
  app.add_option("--nginx", options.nginx,
                 "http: nginx, the machine's HTTP ceiling (its rows are skipped when missing)")
      ->capture_default_str();
  app.add_option("--nginx-workers", options.nginx_workers,
                 "http: nginx's worker processes (0: as many as the evs server's I/O threads; 1: "
                 "one process, master_process off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--idle-connections", options.idle_connections,
                 "http: idle keep-alive connections held open to each server (0: no http-idle "
                 "rows)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--events", options.feed_events, "feed, archive: events in the log")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--replay-events", options.replay_events,
                 "replay-kinesis: events in the archive replayed to Kinesis")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch-sizes", options.batch_sizes,
                 "feed: the subscription's batch_size per catch-up row, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--feed-writers", options.feed_writers,
                 "feed: writer threads appending while the live latency is measured")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--projection-events", options.projection_events,
                 "feed: cart events in the log the cart-summary projection catches up on")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--upcast-events", options.upcast_events,
                 "upcast: cart events in each log (version 1 and version 2)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--snapshot-carts", options.snapshot_carts,
                 "snapshot: carts of 10,000 events fetched in random order")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--snapshot-every", options.snapshot_every,
                 "snapshot: events between snapshots in the evs row")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--scavenge-events", options.scavenge_events,
                 "scavenge: deleted events the scavenge reclaims while writers append")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--open-events", options.open_events, "open: events in the store that is opened")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object per row instead of a table");
  app.add_option("--url", options.postgres_url,
                 "postgres: a cluster's maintenance database (postgres://USER@HOST:PORT/postgres); "
                 "default EVS_POSTGRES_URL, else a private cluster");
  app.add_option("--dir", dir,
                 "Parent of the run's scratch folder (a fresh run-XXXXXX inside it, deleted at "
                 "the end); put it on the disk you want to measure")
      ->capture_default_str();

  CLI::App* append = app.add_subcommand(
      "append", "Durable appends vs a naive SQLite store and the disk's limits; async appends");
  CLI::App* fetch = app.add_subcommand("fetch", "Cart fetches, cold and warm, vs raw SQLite reads");
  CLI::App* http = app.add_subcommand(
      "http",
      "AddItem, GetCart and /healthz over HTTP with wrk on loopback vs nginx; idle "
      "connections");
  CLI::App* feed = app.add_subcommand(
      "feed", "Subscription catch-up vs a raw SQLite scan, and live latency under writers");
  CLI::App* archive = app.add_subcommand(
      "archive", "Archiving the log into segments vs reading it; replay vs feed catch-up");
  CLI::App* dynamodb = app.add_subcommand(
      "dynamodb", "The DynamoDB store vs the original one-item-per-aggregate design (dynalite)");
  CLI::App* lambda = app.add_subcommand(
      "lambda", "The Lambda runtime (bootstrap) vs evs serve: cold start, warm GetCart/AddItem");
  CLI::App* upcast = app.add_subcommand(
      "upcast", "Catch-up of version-1 cart events through the upcaster vs current ones");
  CLI::App* snapshot = app.add_subcommand(
      "snapshot", "Cold fetch of 10,000-event carts with snapshots vs without; 21-event carts");
  CLI::App* scavenge = app.add_subcommand(
      "scavenge", "Durable appends while a scavenge reclaims deleted events vs without one");
  CLI::App* open = app.add_subcommand(
      "open", "Opening a store of 10,000,000 events: the log engine vs the SQLite store");
  CLI::App* replay_kinesis = app.add_subcommand(
      "replay-kinesis",
      "An archive on S3 replayed to Kinesis (s3rver, kinesalite) vs `evs replay --print`");
  CLI::App* postgres = app.add_subcommand(
      "postgres", "The PostgreSQL store's appends and catch-up vs the naive pattern");
  CLI::App* all = app.add_subcommand("all", "Every benchmark (the default)");
  for (CLI::App* sub : {append, fetch, http, feed, archive, upcast, snapshot, scavenge, open,
                        dynamodb, lambda, replay_kinesis, postgres, all}) {
    sub->fallthrough();
  }
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  if (carts) options.carts = options.http_carts = *carts;
  if (options.connections < options.wrk_threads) {
    std::fprintf(stderr, "evs-bench: --connections must be at least --wrk-threads\n");
    return 1;
  }

  const bool run_all = app.get_subcommands().empty() || all->parsed();
  // `all` includes dynamodb only when a DynamoDB endpoint (a local stand-in) is configured.
  const bool dynamodb_configured = std::getenv("AWS_ENDPOINT_URL_DYNAMODB") != nullptr ||
                                   std::getenv("AWS_ENDPOINT_URL") != nullptr;
  if (run_all && !dynamodb_configured) {
    std::fprintf(stderr,
                 "evs-bench: skipping dynamodb (no AWS_ENDPOINT_URL_DYNAMODB; `evs-bench dynamodb` "
                 "says how to start the stand-ins)\n");
  }
  evs::bench::ScratchDir scratch(dir);
  if (!scratch.ok()) {
    std::fprintf(stderr, "evs-bench: cannot make a scratch folder under %s\n",
                 scratch.parent().c_str());
    return 1;
  }
  options.dir = scratch.path();

  evs::bench::Reporter reporter(json);
  char timing[96];
  std::snprintf(timing, sizeof(timing), "%g s per row after %g s warm-up", options.seconds,
                options.warmup_seconds);
  // Other processes on the machine move the numbers; the load average shows how busy it was.
  double load[1] = {0};
  char load_text[48] = "unknown";
  if (getloadavg(load, 1) == 1) std::snprintf(load_text, sizeof(load_text), "%.2f", load[0]);
  reporter.Comment("evs-bench: " + std::to_string(std::thread::hardware_concurrency()) +
                   " cores, load average " + load_text + ", SQLite " + sqlite3_libversion() + ", " +
                   timing + ", scratch " + scratch.path());

  struct {
    bool selected;
    const char* name;
    evs::Status (*run)(const BenchOptions&, evs::bench::Reporter&);
  } benches[] = {
      {run_all || append->parsed(), "append", evs::bench::RunAppendBench},
      {run_all || fetch->parsed(), "fetch", evs::bench::RunFetchBench},
      {run_all || http->parsed(), "http", evs::bench::RunHttpBench},
      {run_all || feed->parsed(), "feed", evs::bench::RunFeedBench},
      {run_all || archive->parsed(), "archive", evs::bench::RunArchiveBench},
      {run_all || upcast->parsed(), "upcast", evs::bench::RunUpcastBench},
      {run_all || scavenge->parsed(), "scavenge", evs::bench::RunScavengeBench},
      {run_all || snapshot->parsed(), "snapshot", evs::bench::RunSnapshotBench},
      {run_all || open->parsed(), "open", evs::bench::RunOpenBench},
      {(run_all && dynamodb_configured) || dynamodb->parsed(), "dynamodb",
       evs::bench::RunDynamoDbBench},
      {(run_all && dynamodb_configured) || lambda->parsed(), "lambda", evs::bench::RunLambdaBench},
      {(run_all && std::getenv("AWS_ENDPOINT_URL_KINESIS") != nullptr) || replay_kinesis->parsed(),
       "replay-kinesis", evs::bench::RunReplayKinesisBench},
      {(run_all && std::getenv("EVS_POSTGRES_URL") != nullptr) || postgres->parsed(), "postgres",
       evs::bench::RunPostgresBench},
  };
  int exit_code = 0;
  for (const auto& bench : benches) {
    if (!bench.selected) continue;
    evs::Status status = bench.run(options, reporter);
    if (!status.ok()) {
      std::fprintf(stderr, "evs-bench %s: %s: %s\n", bench.name,
                   evs::ErrorCodeName(status.error().code), status.error().message.c_str());
      exit_code = 1;
    }
  }
  return exit_code;
}
