#include "cli/aws_commands.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "aws/aws_client.h"
#include "aws/dynamodb_snapshot_store.h"
#include "aws/kinesis_consumer.h"
#include "aws/kinesis_relay.h"
#include "aws/kinesis_stream_setup.h"
#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "cli/archive_commands.h"
#include "cli/output.h"
#include "evs/archive.h"
#include "evs/dynamodb.h"
#include "evs/projection.h"
#include "evs/s3.h"
#include "evs/subscription.h"

namespace evs::cli {
namespace {

struct InitArgs {
  std::string table;
  bool no_stream = false;
  bool snapshots = false;
  std::string kinesis;
  int shards = 1;
};

int RunInit(const GlobalOptions& global, const InitArgs& args) {
  if (args.table.empty() && args.kinesis.empty()) {
    return ReportInvalid(global, "nothing to create: give --table, --kinesis or both");
  }
  if (args.snapshots && args.table.empty()) {
    return ReportInvalid(global, "--snapshots needs --table: the snapshot table is named after it");
  }
  if (!args.table.empty()) {
    if (auto s = CreateDynamoDbTable(args.table, !args.no_stream); !s) {
      return ReportError(global, s.error());
    }
  }
  if (args.snapshots) {
    DynamoDbStoreOptions options;
    options.table = args.table;
    options.create_table_if_missing = true;
    if (auto s = OpenDynamoDbSnapshotStore(options); !s) return ReportError(global, s.error());
  }
  if (!args.kinesis.empty()) {
    auto config = aws::AwsConfigFromEnvironment();
    if (!config.ok()) return ReportError(global, config.error());
    aws::AwsClient client(std::move(config).value(), aws::NewCurlTransport());
    if (auto s = aws::CreateKinesisStream(client, args.kinesis, args.shards); !s) {
      return ReportError(global, s.error());
    }
  }
  if (global.json) {
    nlohmann::json out = {{"status", "ACTIVE"}};
    if (!args.table.empty()) {
      out["table"] = args.table;
      out["stream"] = !args.no_stream;
    }
    if (args.snapshots) out["snapshot_table"] = aws::SnapshotTableFor(args.table);
    if (!args.kinesis.empty()) {
      out["kinesis"] = args.kinesis;
      out["shards"] = args.shards;
    }
    PrintJson(out);
    return kExitOk;
  }
  if (!args.table.empty()) {
    std::cout << "table " << args.table << " is ready"
              << (args.no_stream ? "" : " (with its DynamoDB stream of new images)")
              << "; serve it with: evs serve --store dynamodb:" << args.table << "\n";
  }
  if (args.snapshots) {
    std::cout << "snapshot table " << aws::SnapshotTableFor(args.table) << " is ready\n";
  }
  if (!args.kinesis.empty()) {
    std::cout << "Kinesis stream " << args.kinesis << " is ready (" << args.shards
              << " shards); follow it with: evs consume --kinesis " << args.kinesis << "\n";
  }
  return kExitOk;
}

struct ConsumeArgs {
  std::string stream;
  std::string name = "evs-consume";
  std::string into;     // a projection to keep up to date ("" for none)
  std::string archive;  // where to archive ("" for nowhere)
  SegmentArgs segments;
  bool quiet = false;
  bool once = false;  // stop once everything the stream holds is handled
};

// One Kinesis consumer with the handler it feeds and where its checkpoints live.
struct ConsumerRun {
  std::string what;  // for messages
  std::unique_ptr<aws::KinesisConsumer> consumer;
};

// `evs consume --kinesis STREAM`: the change feed of a DynamoDB-backed evs, read from Kinesis,
// into the same handlers `evs serve` runs on the embedded log, each a consumer with checkpoints
// of its own: the event log (JSON lines on stdout; per-shard checkpoints in
// <data>/kinesis.sqlite), the cart-summary projection (<data>/cart_summary.sqlite, checkpoints
// in the same file) and the archiver (the archive keeps its own checkpoints). Until SIGINT or
// SIGTERM; then the open segment is written.
int RunConsume(const GlobalOptions& global, const ConsumeArgs& args) {
  if (!args.into.empty() && args.into != "cart_summary") {
    return ReportInvalid(global, "unknown projection '" + args.into + "'; known: cart_summary");
  }
  if (args.quiet && args.into.empty() && args.archive.empty()) {
    return ReportInvalid(global, "--quiet leaves nothing to do: add --into or --archive");
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return ReportError(global, config.error());
  std::error_code ec;
  std::filesystem::create_directories(global.data_dir, ec);
  auto client =
      std::make_shared<aws::AwsClient>(std::move(config).value(), aws::NewCurlTransport());
  aws::KinesisConsumerOptions options;
  options.stream_name = args.stream;
  std::vector<ConsumerRun> runs;
  auto start = [&](const std::string& what, const std::string& name, CheckpointStore& checkpoints,
                   EventHandler& handler) -> Status {
    aws::KinesisConsumerOptions o = options;
    o.name = name;
    auto consumer = aws::KinesisConsumer::Start(client, checkpoints, handler, o);
    if (!consumer.ok()) return consumer.error();
    runs.push_back({what, std::move(consumer).value()});
    return OkStatus();
  };

  JsonLinesHandler log(/*flush=*/true);
  std::unique_ptr<CheckpointStore> log_checkpoints;
  if (!args.quiet) {
    auto opened = OpenSqliteCheckpointStore(global.data_dir + "/kinesis.sqlite");
    if (!opened.ok()) return ReportError(global, opened.error());
    log_checkpoints = std::move(opened).value();
    if (auto s = start("event log", args.name, *log_checkpoints, log); !s) {
      return ReportError(global, s.error());
    }
  }
  cart::CartSummaryProjection projection;
  std::unique_ptr<StreamProjectionHandler> projector;
  std::unique_ptr<CheckpointStore> projection_checkpoints;
  if (!args.into.empty()) {
    // The checkpoints live in the read model's file, after its batches in the same WAL.
    ProjectionOptions po;
    po.path = global.data_dir + "/cart_summary.sqlite";
    po.upcaster = cart::CartUpcaster();
    auto opened = StreamProjectionHandler::Open(projection, po);
    if (!opened.ok()) return ReportError(global, opened.error());
    projector = std::move(opened).value();
    auto checkpoints = OpenSqliteCheckpointStore(po.path);
    if (!checkpoints.ok()) return ReportError(global, checkpoints.error());
    projection_checkpoints = std::move(checkpoints).value();
    if (auto s = start("projection cart_summary", "projection:cart_summary",
                       *projection_checkpoints, *projector);
        !s) {
      return ReportError(global, s.error());
    }
  }
  std::unique_ptr<ObjectStore> archive_objects;
  std::unique_ptr<CheckpointedArchiver> archiver;
  if (!args.archive.empty()) {
    auto objects = OpenObjectStore(args.archive);
    if (!objects.ok()) return ReportError(global, objects.error());
    archive_objects = std::move(objects).value();
    auto opened = CheckpointedArchiver::Open(*archive_objects, ToArchiverOptions(args.segments));
    if (!opened.ok()) return ReportError(global, opened.error());
    archiver = std::move(opened).value();
    if (auto s = start("archiver", "archive", *archiver, *archiver); !s) {
      return ReportError(global, s.error());
    }
  }
  std::fprintf(stderr, "evs: consuming Kinesis stream %s (", args.stream.c_str());
  for (size_t i = 0; i < runs.size(); ++i) {
    std::fprintf(stderr, "%s%s", i ? ", " : "", runs[i].what.c_str());
  }
  std::fprintf(stderr, ") until %s\n",
               args.once ? "every shard is read to its tip" : "SIGINT or SIGTERM");

  std::vector<std::string> shown(runs.size());
  int exit_code = kExitOk;
  for (bool stopping = false; !stopping;) {
    const timespec tick{0, 200'000'000};
    const int signal = sigtimedwait(&signals, nullptr, &tick);
    stopping = signal == SIGINT || signal == SIGTERM;
    bool all_caught_up = true;
    for (size_t i = 0; i < runs.size(); ++i) {
      const aws::KinesisConsumerStatus status = runs[i].consumer->GetStatus();
      all_caught_up = all_caught_up && status.caught_up;
      if (status.state == aws::KinesisConsumerStatus::State::kFailed) {
        ReportError(global, Error::Make(ErrorCode::kIOError,
                                        "the " + runs[i].what + " stopped: " + status.error));
        exit_code = kExitError;
        stopping = true;
      }
      if (status.last_error != shown[i]) {
        shown[i] = status.last_error;
        if (!shown[i].empty()) {
          std::fprintf(stderr, "evs: %s retrying: %s\n", runs[i].what.c_str(), shown[i].c_str());
        }
      }
    }
    if (archiver) (void)archiver->FlushIfDue();
    if (args.once && all_caught_up) stopping = true;
  }
  for (auto& run : runs) run.consumer->Stop();
  runs.clear();  // waits for each consumer's thread
  if (archiver) {
    if (auto s = archiver->Flush(); !s) return ReportError(global, s.error());
  }
  return exit_code;
}

struct RelayArgs {
  std::string stream;
};

// `evs relay --kinesis STREAM < event.json`: what the change-capture function does with one
// DynamoDB Streams event ({"Records": [...]}), by hand: publish its commits to Kinesis. Exit 1
// when any record could not be published (they are listed).
int RunRelay(const GlobalOptions& global, const RelayArgs& args) {
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return ReportError(global, config.error());
  const nlohmann::json event = nlohmann::json::parse(std::cin, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) {
    return ReportInvalid(global, "stdin is not JSON; expected a DynamoDB Streams event");
  }
  aws::RelayOptions options;
  options.stream_name = args.stream;
  aws::KinesisRelay relay(
      std::make_shared<aws::AwsClient>(std::move(config).value(), aws::NewCurlTransport()),
      options);
  auto result = relay.Relay(event);
  if (!result.ok()) return ReportError(global, result.error());
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& f : result->failed) {
    failed.push_back({{"event_id", f.event_id}, {"stream_id", f.stream_id}, {"reason", f.reason}});
  }
  if (global.json) {
    PrintJson({{"published", result->published},
               {"events", result->events_published},
               {"ignored", result->ignored},
               {"failed", failed}});
  } else {
    std::cout << "published " << result->published << " commits (" << result->events_published
              << " events), ignored " << result->ignored << ", failed " << failed.size() << "\n";
    for (const auto& f : failed) std::cout << "FAILED: " << DumpJson(f) << "\n";
  }
  return result->failed.empty() ? kExitOk : kExitError;
}

}  // namespace

void AddAwsCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  CLI::App* aws = app.add_subcommand("aws", "Set up evs on AWS (settings from AWS_* variables)");
  aws->require_subcommand(1);
  auto init_args = std::make_shared<InitArgs>();
  CLI::App* init = aws->add_subcommand(
      "init",
      "Create the DynamoDB table of the event store and/or the Kinesis stream of its change "
      "feed (idempotent) and wait until they are active");
  init->add_option("--table", init_args->table, "The table's name");
  init->add_flag("--no-stream", init_args->no_stream,
                 "Without a DynamoDB stream (no change capture to Kinesis)");
  init->add_flag("--snapshots", init_args->snapshots,
                 "Also the table of the store's snapshots, <table>-snapshots (a cache: no "
                 "DynamoDB stream)");
  init->add_option("--kinesis", init_args->kinesis, "The Kinesis stream's name");
  init->add_option("--shards", init_args->shards, "The Kinesis stream's shards")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  RunWhenSelected(init, global, command, init_args, &RunInit);

  auto consume_args = std::make_shared<ConsumeArgs>();
  CLI::App* consume = app.add_subcommand(
      "consume",
      "Follow the Kinesis stream that the DynamoDB change-capture relay writes: print each event "
      "as a JSON line, keep the cart-summary projection (--into) and archive (--archive), each "
      "with checkpoints of its own");
  consume->add_option("--kinesis", consume_args->stream, "The Kinesis stream")->required();
  consume
      ->add_option("--name", consume_args->name, "The event log's consumer name (its checkpoints)")
      ->capture_default_str();
  consume->add_option("--into", consume_args->into,
                      "Keep this projection up to date (cart_summary: <data>/cart_summary.sqlite, "
                      "exactly-once by each stream's applied version)");
  consume->add_option("--archive", consume_args->archive,
                      "Archive the events to this folder or s3://bucket/prefix (an archive of "
                      "its own: it numbers events in arrival order and keeps the shards' "
                      "checkpoints)");
  AddSegmentOptions(consume, consume_args->segments);
  consume->add_flag("--quiet", consume_args->quiet, "Do not print the events");
  consume->add_flag("--once", consume_args->once,
                    "Stop once every shard is read to its tip (and write the open segment)");
  RunWhenSelected(consume, global, command, consume_args, &RunConsume);

  auto relay_args = std::make_shared<RelayArgs>();
  CLI::App* relay = app.add_subcommand(
      "relay",
      "Publish the commits of one DynamoDB Streams event (JSON on stdin) to Kinesis, in per-stream "
      "order, as the change-capture function does");
  relay->add_option("--kinesis", relay_args->stream, "The Kinesis stream")->required();
  RunWhenSelected(relay, global, command, relay_args, &RunRelay);
}

}  // namespace evs::cli
