#include "cli/aws_commands.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "aws/aws_client.h"
#include "aws/kinesis_consumer.h"
#include "aws/kinesis_relay.h"
#include "cli/output.h"
#include "evs/dynamodb.h"
#include "evs/subscription.h"

namespace evs::cli {
namespace {

struct InitArgs {
  std::string table;
  bool no_stream = false;
};

int RunInit(const GlobalOptions& global, const InitArgs& args) {
  if (auto s = CreateDynamoDbTable(args.table, !args.no_stream); !s) {
    return ReportError(global, s.error());
  }
  if (global.json) {
    PrintJson({{"table", args.table}, {"stream", !args.no_stream}, {"status", "ACTIVE"}});
  } else {
    std::cout << "table " << args.table << " is ready"
              << (args.no_stream ? "" : " (with its DynamoDB stream of new images)")
              << "; serve it with: evs serve --store dynamodb:" << args.table << "\n";
  }
  return kExitOk;
}

struct ConsumeArgs {
  std::string stream;
  std::string name = "evs-consume";
};

// `evs consume --kinesis STREAM`: the change feed of a DynamoDB-backed evs, read from Kinesis,
// with per-shard checkpoints in <data>/kinesis.sqlite; each event printed as a JSON line (the
// original's event logging), until SIGINT or SIGTERM.
int RunConsume(const GlobalOptions& global, const ConsumeArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return ReportError(global, config.error());
  std::error_code ec;
  std::filesystem::create_directories(global.data_dir, ec);
  auto checkpoints = OpenSqliteCheckpointStore(global.data_dir + "/kinesis.sqlite");
  if (!checkpoints.ok()) return ReportError(global, checkpoints.error());
  JsonLinesHandler log(/*flush=*/true);
  aws::KinesisConsumerOptions options;
  options.name = args.name;
  options.stream_name = args.stream;
  auto client =
      std::make_shared<aws::AwsClient>(std::move(config).value(), aws::NewCurlTransport());
  auto consumer = aws::KinesisConsumer::Start(client, **checkpoints, log, options);
  if (!consumer.ok()) return ReportError(global, consumer.error());
  std::fprintf(stderr, "evs: consuming Kinesis stream %s as %s until SIGINT or SIGTERM\n",
               args.stream.c_str(), args.name.c_str());
  std::string shown;
  for (;;) {
    const timespec second{1, 0};
    const int signal = sigtimedwait(&signals, nullptr, &second);
    const aws::KinesisConsumerStatus status = (*consumer)->GetStatus();
    if (status.state == aws::KinesisConsumerStatus::State::kFailed) {
      return ReportError(global,
                         Error::Make(ErrorCode::kIOError, "the consumer stopped: " + status.error));
    }
    if (status.last_error != shown) {
      shown = status.last_error;
      if (!shown.empty()) std::fprintf(stderr, "evs: retrying: %s\n", shown.c_str());
    }
    if (signal == SIGINT || signal == SIGTERM) break;
  }
  (*consumer)->Stop();
  return kExitOk;
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
      "Create the DynamoDB table of the event store (idempotent) and wait until it is active");
  init->add_option("--table", init_args->table, "The table's name")->required();
  init->add_flag("--no-stream", init_args->no_stream,
                 "Without a DynamoDB stream (no change capture to Kinesis)");
  RunWhenSelected(init, global, command, init_args, &RunInit);

  auto consume_args = std::make_shared<ConsumeArgs>();
  CLI::App* consume = app.add_subcommand(
      "consume",
      "Follow the Kinesis stream that the DynamoDB change-capture relay writes: print each event "
      "as a JSON line, with per-shard checkpoints in <data>/kinesis.sqlite");
  consume->add_option("--kinesis", consume_args->stream, "The Kinesis stream")->required();
  consume->add_option("--name", consume_args->name, "The consumer's name (its checkpoints)")
      ->capture_default_str();
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
