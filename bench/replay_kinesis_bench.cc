// `evs-bench replay-kinesis`: re-publishing an archive to Kinesis for downstream consumers.
//
//   The archive: a fresh embedded store filled with --replay-events cart events (whole carts, as
//   in `evs-bench archive`), archived once to the S3 stand-in (s3rver) with default segments.
//   Not measured.
//
//   replay_kinesis  evs: aws::ReplayToKinesis() of the whole archive into a fresh Kinesis stream
//                   of 2 shards on the stand-in (kinesalite): segments fetched and checked, each
//                   window packed into records of consecutive versions per stream, PutRecords of
//                   up to 500 records, every record acknowledged before the next window. Events/s
//                   over the whole run; the JSON adds records and PutRecords calls. Baseline
//                   "replay-print": what `evs replay --print` does with the same archive (every
//                   event formatted as a JSON line), written to /dev/null.
//
// Each row runs kRounds times, alternating with its baseline, and reports its best round. The
// figures are the stand-ins' (a Node.js process on this machine), not AWS's: a real stream's
// limit is 1 MB/s or 1,000 records/s per shard.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "aws/aws_client.h"
#include "aws/kinesis_replay.h"
#include "aws/kinesis_stream_setup.h"
#include "aws/s3_object_store.h"
#include "bench.h"
#include "common/event_json.h"
#include "common/strings.h"
#include "engines.h"
#include "evs/archive.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using aws::AwsClient;
using aws::Service;

constexpr int kRounds = 2;
constexpr int kShards = 2;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What `evs replay --print` does with each batch: a JSON line per event, written out.
class PrintHandler final : public EventHandler {
 public:
  explicit PrintHandler(FILE* out) : out_(out) {}
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::string lines;
    for (const RecordedEvent& e : batch) {
      lines += EventToJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      lines += '\n';
    }
    if (std::fwrite(lines.data(), 1, lines.size(), out_) != lines.size()) {
      return Error::Make(ErrorCode::kIOError, "cannot write the events");
    }
    events_ += static_cast<int64_t>(batch.size());
    return OkStatus();
  }
  int64_t events() const { return events_; }

 private:
  FILE* out_;
  int64_t events_ = 0;
};

}  // namespace

Status RunReplayKinesisBench(const BenchOptions& options, Reporter& reporter) {
  constexpr const char* kStandIns =
      "start the local stand-ins and load their settings first: D=$(mktemp -d); "
      "scripts/standins start $D; source $D/env";
  if (EnvOrEmpty("AWS_ENDPOINT_URL_KINESIS").empty() || EnvOrEmpty("AWS_ENDPOINT_URL_S3").empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       std::string("no Kinesis or S3 endpoint in the environment "
                                   "(AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3): ") +
                           kStandIns);
  }
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return Error::Make(config.error().code, config.error().message);
  auto client = std::make_shared<AwsClient>(std::move(config).value(), aws::NewCurlTransport());

  auto store = OpenDefaultStore(options.dir + "/replay-kinesis-bench", /*durable=*/false);
  if (!store.ok()) return store.error();
  std::fprintf(stderr,
               "replay-kinesis: filling the log with %lld cart events and archiving it...\n",
               static_cast<long long>(options.replay_events));
  if (auto s = FillCarts(**store, options.replay_events); !s) return s;
  const std::string run = Uuid::Random().ToString().substr(0, 8);
  auto objects = aws::NewS3ObjectStore(client, "s3://evs-test/bench-replay-" + run);
  if (!objects.ok()) return objects.error();
  auto archived = ArchiveOnce(**store, **objects, ArchiverOptions{});
  if (!archived.ok()) return archived.error();
  auto reader = ArchiveReader::Open(**objects);
  if (!reader.ok()) return reader.error();
  reporter.Comment("replay-kinesis: " + std::to_string(archived->archived_up_to) +
                   " cart events in " + std::to_string((*reader)->Segments().size()) +
                   " segments on s3rver; to kinesalite, " + std::to_string(kShards) +
                   " shards; baseline: the same archive as `evs replay --print` to /dev/null");

  FILE* null = std::fopen("/dev/null", "w");
  if (null == nullptr) return Error::Make(ErrorCode::kIOError, "cannot open /dev/null");
  std::optional<Row> best_print, best_kinesis;
  Status failed = OkStatus();
  for (int round = 0; round < kRounds && failed.ok(); ++round) {
    PrintHandler printer(null);
    auto start = Clock::now();
    auto printed = (*reader)->Replay(ReplayOptions{}, printer);
    if (!printed.ok()) {
      failed = printed.error();
      break;
    }
    Row print_row = MakeEventsRow("replay_kinesis", "replay-print", printer.events(),
                                  Seconds(Clock::now() - start));
    if (!best_print || print_row.ops_per_s > best_print->ops_per_s) best_print = print_row;

    const std::string stream = "evs-bench-replay-" + run + "-" + std::to_string(round);
    if (auto s = aws::CreateKinesisStream(*client, stream, kShards); !s) {
      failed = s;
      break;
    }
    aws::KinesisReplayOptions replay;
    replay.sending.stream_name = stream;
    start = Clock::now();
    auto published = aws::ReplayToKinesis(*client, **reader, replay);
    const double seconds = Seconds(Clock::now() - start);
    (void)client->CallJson(Service::kKinesis, "DeleteStream", {{"StreamName", stream}});
    if (!published.ok()) {
      failed = published.error();
      break;
    }
    Row row = MakeEventsRow("replay_kinesis", "evs", published->events, seconds);
    row.extra = {{"records", published->records},
                 {"put_calls", published->put_calls},
                 {"retried", published->retried},
                 {"shards", kShards}};
    if (!best_kinesis || row.ops_per_s > best_kinesis->ops_per_s) best_kinesis = row;
  }
  std::fclose(null);
  if (!failed.ok()) return failed;
  SetRatio(*best_print, *best_print);
  SetRatio(*best_kinesis, *best_print);
  reporter.Add(*best_print);
  reporter.Add(*best_kinesis);
  return OkStatus();
}

}  // namespace evs::bench
