#include "cli/serve_command.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdio>
#include <thread>

#include "cart/cart.h"
#include "cart/cart_http.h"
#include "cart/cart_reports.h"
#include "cart/cart_summary_projection.h"
#include "cli/archive_commands.h"
#include "cli/output.h"
#include "cli/serve_routes.h"
#include "common/event_json.h"
#include "evs/archive.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "evs/persistent_subscriptions.h"
#include "evs/postgres.h"
#include "evs/postgres_projection.h"
#include "evs/projection.h"
#include "evs/s3.h"
#include "evs/subscription.h"
#include "http/auth.h"

namespace evs::cli {

namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:8080";
  int threads = http::ServerOptions().blocking_threads;
  int io_threads = http::ServerOptions().io_threads;
  int max_connections = http::ServerOptions().max_connections;
  int keep_alive_seconds = http::ServerOptions().keep_alive_seconds;
  std::string tls_cert;
  std::string tls_key;
  size_t max_body_bytes = http::ServerOptions().max_body_bytes;
  std::string token_file;
  bool quiet = false;
  std::string archive;
  SegmentArgs segments;
};

// "HOST:PORT" with PORT in 0..65535 (0 picks a free port).
bool ParseListen(const std::string& text, std::string& host, int& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(begin, end, port);
  return begin != end && ec == std::errc() && p == end && port >= 0 && port <= 65535;
}

// Each connection takes a file descriptor: the soft limit (often 1024) is raised to the hard one,
// so that max_connections can be reached.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int RunServe(const GlobalOptions& global, const ServeArgs& args) {
  http::ServerOptions server_options;
  if (!ParseListen(args.listen, server_options.host, server_options.port)) {
    return ReportInvalid(
        global, "--listen must be HOST:PORT, like 127.0.0.1:8080, got '" + args.listen + "'");
  }
  if (args.threads < 1) return ReportInvalid(global, "--threads must be at least 1");
  if (args.io_threads < 0) return ReportInvalid(global, "--io-threads must be 0 or more");
  if (args.keep_alive_seconds < 1)
    return ReportInvalid(global, "--keep-alive-seconds must be at least 1");
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    return ReportInvalid(global, "--tls-cert and --tls-key go together: give both, or neither");
  }
  if (args.max_connections < 1)
    return ReportInvalid(global, "--max-connections must be at least 1");
  if (args.max_body_bytes < 1) return ReportInvalid(global, "--max-body-bytes must be at least 1");
  server_options.blocking_threads = args.threads;
  server_options.io_threads = args.io_threads;
  server_options.keep_alive_seconds = args.keep_alive_seconds;
  server_options.tls_cert_file = args.tls_cert;
  server_options.tls_key_file = args.tls_key;
  RaiseFileLimit();
  server_options.max_connections = args.max_connections;
  server_options.max_body_bytes = args.max_body_bytes;
  server_options.access_log = !args.quiet;
  // The token is read before anything else starts, so that a bad file stops the start.
  std::string token;
  if (!args.token_file.empty()) {
    std::string warning;
    auto read = http::ReadTokenFile(args.token_file, &warning);
    if (!read.ok()) return ReportError(global, read.error());
    token = std::move(read).value();
    if (!warning.empty()) std::fprintf(stderr, "evs: warning: %s\n", warning.c_str());
  }

  // SIGINT and SIGTERM are taken by one thread with sigwait(); every other thread (the store's,
  // the server's) is created after this and inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // how the server tells the signal thread it stopped by itself
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, store.error());
  // Refuses to start when the store's sealed fields need a key store that is missing.
  auto personal = OpenPersonalData(global, **store);
  if (!personal.ok()) return ReportError(global, personal.error());

  // The read side runs on the embedded log: the cart-summary projection, the event log and the
  // archiver, each a subscriber. DynamoDB has no global log: there the read side runs behind
  // DynamoDB Streams and Kinesis (the relay and the Kinesis consumer), and this server serves
  // the write side and stream reads only.
  const bool embedded = DynamoDbTable(global).empty();
  if (!embedded && !args.archive.empty()) {
    return ReportInvalid(global,
                         "--archive needs the embedded store's log; on DynamoDB the "
                         "archiver runs behind the Kinesis consumer");
  }
  const std::string dir = global.data_dir + "/";
  cart::CartSummaryProjection projection;
  std::unique_ptr<ProjectionRunner> runner;
  std::unique_ptr<cart::CartReports> reports;
  std::unique_ptr<CheckpointStore> checkpoints;
  std::unique_ptr<CheckpointStore> projection_checkpoints;
  // The original's "simple event logging": one JSON line per committed event on stdout.
  JsonLinesHandler event_log(/*flush=*/true);
  std::unique_ptr<Subscription> event_log_subscription;
  std::unique_ptr<ObjectStore> archive_objects;
  std::unique_ptr<ArchiveRunner> archiver;
  if (embedded && IsPostgresUrl(global.store)) {
    // The cart summary lives in the store's database, shared by every server of it: each runs
    // the projection, and each batch is applied once, by whichever server locks it first.
    PostgresProjectionOptions projection_options;
    projection_options.url = global.store;
    projection_options.upcaster = cart::CartUpcaster();
    auto opened = OpenPostgresProjectionRunner(**store, projection, projection_options);
    if (!opened.ok()) return ReportError(global, opened.error());
    runner = std::move(opened).value();
    if (auto s = runner->Start(); !s) return ReportError(global, s.error());
    auto opened_model = OpenPostgresReadModel(global.store);
    if (!opened_model.ok()) return ReportError(global, opened_model.error());
    reports = cart::CartReports::Open(std::move(opened_model).value());
    // Its parked events are in evs's tables of the database (the runner's default).
    auto opened_projection_checkpoints = OpenPostgresCheckpointStore(global.store);
    if (!opened_projection_checkpoints.ok()) {
      return ReportError(global, opened_projection_checkpoints.error());
    }
    projection_checkpoints = std::move(opened_projection_checkpoints).value();
  } else if (embedded) {
    ProjectionOptions projection_options;
    projection_options.path = dir + "cart_summary.sqlite";
    projection_options.upcaster = cart::CartUpcaster();
    auto opened = ProjectionRunner::Open(**store, projection, projection_options);
    if (!opened.ok()) return ReportError(global, opened.error());
    runner = std::move(opened).value();
    if (auto s = runner->Start(); !s) return ReportError(global, s.error());
    auto opened_reports = cart::CartReports::Open(dir + "cart_summary.sqlite");
    if (!opened_reports.ok()) return ReportError(global, opened_reports.error());
    reports = std::move(opened_reports).value();
    // The projection's checkpoint and parked events, for GET /checkpoints/cart_summary/parked
    // (a second handle on its file, as `evs parked` opens it from another process).
    auto opened_projection_checkpoints = OpenSqliteCheckpointStore(dir + "cart_summary.sqlite");
    if (!opened_projection_checkpoints.ok()) {
      return ReportError(global, opened_projection_checkpoints.error());
    }
    projection_checkpoints = std::move(opened_projection_checkpoints).value();
  }
  if (embedded) {
    auto opened_checkpoints = OpenSqliteCheckpointStore(dir + "feed.sqlite");
    if (!opened_checkpoints.ok()) return ReportError(global, opened_checkpoints.error());
    checkpoints = std::move(opened_checkpoints).value();
    if (!args.quiet) {
      SubscriptionOptions o;
      o.name = "event-log";
      o.start_after = *(*store)->HeadPosition();  // a new log starts from now
      auto s = Subscription::Start(**store, *checkpoints, event_log, o);
      if (!s.ok()) return ReportError(global, s.error());
      event_log_subscription = std::move(s).value();
    }
    // The archiver, when asked for: a runner of its own (the archive is its checkpoint).
    if (!args.archive.empty()) {
      auto objects = OpenObjectStore(args.archive);
      if (!objects.ok()) return ReportError(global, objects.error());
      archive_objects = std::move(objects).value();
      auto started =
          ArchiveRunner::Start(**store, *archive_objects, ToArchiverOptions(args.segments));
      if (!started.ok()) return ReportError(global, started.error());
      archiver = std::move(started).value();
    }
  }
  http::ApiFeeds feeds;
  if (embedded) {
    // Persistent subscriptions (competing consumers over HTTP) keep their state beside the
    // store.
    PersistentSubscriptionsOptions persistent;
    persistent.path = dir + "persistent_subscriptions.sqlite";
    auto opened_persistent = PersistentSubscriptions::Open(**store, persistent);
    if (!opened_persistent.ok()) return ReportError(global, opened_persistent.error());
    feeds.persistent_subscriptions = std::move(opened_persistent).value();
    feeds.subscriptions = [&] {
      std::vector<SubscriptionStatus> all{runner->GetStatus()};
      if (event_log_subscription) all.push_back(event_log_subscription->GetStatus());
      if (archiver) {
        // The archiver's checkpoint is the archive's end: what is in written segments.
        const ArchiveRunnerStatus a = archiver->GetStatus();
        SubscriptionStatus s;
        s.name = "archive";
        s.state = a.state == ArchiveRunnerStatus::State::kRunning ? SubscriptionStatus::State::kLive
                  : a.state == ArchiveRunnerStatus::State::kFailed
                      ? SubscriptionStatus::State::kFailed
                      : SubscriptionStatus::State::kStopped;
        s.checkpoint = a.archiver.archived_up_to;
        s.head = a.head;
        s.error = a.error;
        all.push_back(s);
      }
      return all;
    };
  }

  http::ApiOptions api_options;
  api_options.max_body_bytes = args.max_body_bytes;
  api_options.bearer_token = token;
  api_options.upcaster = cart::CartUpcaster();
  api_options.personal_data = std::move(personal).value();
  http::Api api(**store, api_options, feeds);
  cart::CartHttpOptions cart_options;
  cart_options.personal_data = api_options.personal_data;
  cart_options.reports = reports.get();
  cart::CartHttp cart_http(**store, cart_options);
  CheckpointStores checkpoint_stores;
  if (checkpoints) checkpoint_stores["feed"] = checkpoints.get();
  if (projection_checkpoints) checkpoint_stores["cart_summary"] = projection_checkpoints.get();
  if (auto s = AddServeRoutes(api, cart_http, checkpoint_stores); !s) {
    return ReportError(global, s.error());
  }
  http::Server server(api, server_options);
  auto port = server.Bind();
  if (!port.ok()) return ReportError(global, port.error());
  std::fprintf(stderr, "evs: serving %s://%s:%d (%s %s)\n",
               args.tls_cert.empty() ? "http" : "https", server_options.host.c_str(), *port,
               embedded ? "data in" : "store",
               embedded ? global.data_dir.c_str() : global.store.c_str());
  if (!token.empty()) {
    std::fprintf(stderr, "evs: writes need the bearer token from %s; reads are open\n",
                 args.token_file.c_str());
  }
  std::fflush(stderr);

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal == SIGUSR1) return;  // the server stopped by itself
    std::fprintf(stderr, "evs: %s received; finishing requests in flight\n",
                 signal == SIGINT ? "SIGINT" : "SIGTERM");
    server.Stop();
  });
  server.Run();
  // Wake the signal thread if the server ended for another reason.
  pthread_kill(stopper.native_handle(), SIGUSR1);
  stopper.join();
  if (archiver) {
    std::fprintf(stderr, "evs: writing the archive's open segment\n");
    if (auto s = archiver->Stop(); !s) {
      std::fprintf(stderr,
                   "evs: the archive's open segment was not written (%s); it is "
                   "archived from the store on the next start\n",
                   s.error().message.c_str());
    }
  }
  std::fprintf(stderr, "evs: stopped; closing the store\n");
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* serve = app.add_subcommand(
      "serve", "Serve the shopping cart and the event store over HTTP until SIGINT or SIGTERM");
  serve->footer(
      "Endpoints: POST /carts; GET /carts/{id}; POST /carts/{id}/items; "
      "DELETE /carts/{id}/items/{name}; POST /carts/{id}/checkout; GET /streams; "
      "GET|POST /streams/{id}; GET /log; GET /log/live (Server-Sent Events); GET /carts?status=; "
      "GET /reports/top-items; GET /subscriptions; PUT|GET|DELETE /subscriptions/{name}, "
      "GET /subscriptions/{name}/events, POST /subscriptions/{name}/ack|nack, "
      "GET /subscriptions/{name}/parked, POST /subscriptions/{name}/parked/retry (persistent "
      "subscriptions); POST /subjects/{id}/forget; GET /healthz; "
      "GET /metrics; GET /openapi.json (the OpenAPI document of them all). See README.md.\n\n"
      "With --token-file, every request other than GET and HEAD needs 'Authorization: Bearer "
      "<token>' (401 otherwise); reads stay open. The file holds one token of at least 16 bytes "
      "of visible ASCII (trailing whitespace is ignored), e.g. made by: umask 077; openssl rand "
      "-hex 32 > token. The server refuses to start on an empty, unreadable or short token, and "
      "warns when the file is readable by its group or others.\n\n"
      "Limits: bodies over --max-body-bytes get 413, request lines over 8192 bytes 414, header "
      "lines over 8192 bytes, over 100 header lines or headers over 32 KiB in all 431, a "
      "request head that takes over 10 s 408, unknown methods 501, appends over the store's "
      "events-per-append limit 413, and connections past --max-connections 503.");
  serve->add_option("-l,--listen", args->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  serve
      ->add_option("--threads", args->threads,
                   "Threads for handlers that block (a durable append); connections do not "
                   "hold them")
      ->capture_default_str();
  serve
      ->add_option("--io-threads", args->io_threads,
                   "Threads that serve every connection's reads and writes (0: one per core)")
      ->capture_default_str();
  serve
      ->add_option("--keep-alive-seconds", args->keep_alive_seconds,
                   "Idle keep-alive connections close after this many seconds")
      ->capture_default_str();
  serve->add_option("--tls-cert", args->tls_cert,
                    "Serve HTTPS only (TLS 1.2 or later) with this PEM certificate (chain); "
                    "needs --tls-key");
  serve->add_option("--tls-key", args->tls_key, "The PEM private key of --tls-cert");
  serve
      ->add_option("--max-body-bytes,--max-body", args->max_body_bytes,
                   "The largest request body, in bytes (also once decompressed); larger: 413")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", args->max_connections,
                   "Open connections at most, idle ones included; a connection past it is "
                   "answered 503 (each takes a file descriptor: the soft RLIMIT_NOFILE is "
                   "raised to the hard limit at start)")
      ->capture_default_str();
  serve->add_option("--token-file", args->token_file,
                    "A file holding the bearer token that writes (every request but GET and "
                    "HEAD) must carry: 'Authorization: Bearer <token>'");
  serve->add_flag("-q,--quiet", args->quiet,
                  "No access log (one JSON line per request on stderr) and no event log (one "
                  "JSON line per committed event on stdout)");
  serve
      ->add_option("--archive", args->archive,
                   "Archive the log in the background into this folder or s3://bucket/prefix")
      ->envname("EVS_ARCHIVE");
  AddSegmentOptions(serve, args->segments);
  RunWhenSelected(serve, global, command, args, &RunServe);
}

}  // namespace evs::cli
