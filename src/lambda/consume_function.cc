// The consume function: a Kinesis batch (one shard's records, in order) handed to the same
// handlers `evs consume` runs: the event log (a JSON line per event on stdout: CloudWatch Logs),
// the cart projection when EVS_READ_MODEL names its file, and the archiver when EVS_ARCHIVE names
// the archive. Records are handled in order; the first one that cannot be (undecodable, the
// deadline close, a handler failing) is answered in batchItemFailures, and Lambda retries from
// it. Retried records are harmless: the projection skips versions it applied, and the archive
// keeps each shard's last sequence number archived in its segments (CheckpointedArchiver).
//
// Each shard has an archive of its own, EVS_ARCHIVE/<shard id>: Lambda runs one invocation per
// shard at a time, so each archive has one writer (one archive for all shards would have as
// many writers as shards, racing for the same segment keys). A warm function keeps each shard's
// archiver open: only a cold start lists the archive.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "aws/kinesis_records.h"
#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "common/event_json.h"
#include "evs/archive.h"
#include "evs/object_store.h"
#include "evs/projection.h"
#include "evs/s3.h"
#include "lambda/function_registry.h"

namespace evs::lambda {
namespace {

using nlohmann::json;

struct KinesisRecord {
  std::string sequence_number;
  std::string checkpoint_name;  // "lambda/<stream>/<shard>"
  std::vector<RecordedEvent> events;
};

// Kinesis sequence numbers are decimal strings of up to 128 bits: compare as numbers.
bool SequenceAfter(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() > b.size();
  return a > b;
}

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// One record of the event; an error says why it cannot be handled.
Result<KinesisRecord> DecodeRecord(const json& record) {
  KinesisRecord out;
  if (!record.is_object() || !record.contains("kinesis") || !record["kinesis"].is_object()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a record without a \"kinesis\" object");
  }
  const json& kinesis = record["kinesis"];
  out.sequence_number = StringAt(kinesis, "sequenceNumber");
  if (out.sequence_number.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a record without kinesis.sequenceNumber");
  }
  const std::string event_id = StringAt(record, "eventID");
  const std::string arn = StringAt(record, "eventSourceARN");
  const size_t colon = event_id.find(':');
  const size_t slash = arn.rfind("stream/");
  if (colon == std::string::npos || slash == std::string::npos) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "record " + out.sequence_number +
                           ": eventID is not <shard>:<sequence> or eventSourceARN names no stream");
  }
  out.checkpoint_name = "lambda/" + arn.substr(slash + 7) + "/" + event_id.substr(0, colon);
  auto data = aws::Base64Decode(StringAt(kinesis, "data"));
  if (!data.ok()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "record " + out.sequence_number + ": " + data.error().message);
  }
  auto events = aws::DecodeCommitRecord(*data);
  if (!events.ok()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "record " + out.sequence_number + ": " + events.error().message);
  }
  out.events = std::move(events).value();
  return out;
}

class ConsumeFunction final : public Function {
 public:
  explicit ConsumeFunction(const FunctionSettings& settings) : settings_(settings) {}

  // Opens the read model, when there is one.
  Status Init() {
    if (settings_.read_model.empty()) return OkStatus();
    ProjectionOptions options;
    options.path = settings_.read_model;
    options.upcaster = cart::CartUpcaster();
    auto projector = StreamProjectionHandler::Open(projection_, options);
    if (!projector.ok()) return projector.error();
    projector_ = std::move(projector).value();
    return OkStatus();
  }

  Outcome Invoke(const Invocation& invocation) override {
    const json event = json::parse(invocation.event, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object() || !event.contains("Records") ||
        !event["Records"].is_array()) {
      return Outcome::Failed("InvalidEvent", "not a Kinesis event: no \"Records\" array");
    }
    const json& records = event["Records"];
    std::vector<KinesisRecord> handled;
    std::string first_failed;  // the sequence number Lambda retries from ("" when none)
    for (const json& record : records) {
      if (MillisecondsLeft(invocation.deadline_ms) < settings_.deadline_margin.count()) {
        first_failed = RecordSequence(record);
        std::fprintf(stderr, "evs consume: the deadline is close; records from %s come again\n",
                     first_failed.c_str());
        break;
      }
      auto decoded = DecodeRecord(record);
      Status status = decoded.ok() ? Handle(*decoded) : Status(decoded.error());
      if (!status.ok()) {
        first_failed = decoded.ok() ? decoded->sequence_number : RecordSequence(record);
        std::fprintf(stderr, "evs consume: %s\n", status.error().message.c_str());
        break;
      }
      handled.push_back(std::move(decoded).value());
    }
    if (first_failed.empty() && handled.size() < records.size()) {
      return Outcome::Failed("InvalidEvent", "a record without a sequence number");
    }
    if (!settings_.archive.empty() && !handled.empty()) {
      if (Status archived = Archive(handled); !archived.ok()) {
        std::fprintf(stderr, "evs consume: archiving failed, the batch comes again: %s\n",
                     archived.error().message.c_str());
        first_failed = handled.front().sequence_number;
      }
    }
    json failures = json::array();
    if (!first_failed.empty()) failures.push_back({{"itemIdentifier", first_failed}});
    std::fflush(stdout);
    return Outcome::Answer(json{{"batchItemFailures", failures}}.dump());
  }

 private:
  static std::string RecordSequence(const json& record) {
    return record.is_object() && record.contains("kinesis") && record["kinesis"].is_object()
               ? StringAt(record["kinesis"], "sequenceNumber")
               : "";
  }

  // The event log and the projection, record by record.
  Status Handle(const KinesisRecord& record) {
    for (const RecordedEvent& e : record.events) {
      std::string line = EventToJson(e).dump(-1, ' ', false, json::error_handler_t::replace);
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    if (projector_) return projector_->Handle(record.events);
    return OkStatus();
  }

  // The handled records (of one shard: a Lambda batch is) into the shard's archive as one
  // segment, skipping those it already holds (a retried batch), with the shard's checkpoint in
  // the segment's header.
  Status Archive(const std::vector<KinesisRecord>& records) {
    const std::string& checkpoint_name = records.front().checkpoint_name;
    auto archiver = ArchiverFor(checkpoint_name);
    if (!archiver.ok()) return archiver.error();
    Status written = OkStatus();
    for (const KinesisRecord& record : records) {
      auto archived = (*archiver)->Load(record.checkpoint_name);
      if (!archived.ok()) {
        written = archived.error();
        break;
      }
      if (*archived && !SequenceAfter(record.sequence_number, **archived)) continue;
      written = (*archiver)->Handle(record.events);
      if (written.ok()) written = (*archiver)->Save(record.checkpoint_name, record.sequence_number);
      if (!written.ok()) break;
    }
    if (written.ok()) written = (*archiver)->Flush();
    // After a failure the archiver is opened afresh: the retry starts from what is archived.
    if (!written.ok()) archivers_.erase(checkpoint_name);
    return written;
  }

  // The open archiver of the shard that `checkpoint_name` ("lambda/<stream>/<shard>") names.
  Result<CheckpointedArchiver*> ArchiverFor(const std::string& checkpoint_name) {
    auto it = archivers_.find(checkpoint_name);
    if (it != archivers_.end()) return it->second.archiver.get();
    const std::string shard = checkpoint_name.substr(checkpoint_name.rfind('/') + 1);
    ShardArchive opened;
    auto objects = OpenObjectStore(settings_.archive + "/" + shard);
    if (!objects.ok()) return objects.error();
    opened.objects = std::move(objects).value();
    auto archiver = CheckpointedArchiver::Open(*opened.objects, ArchiverOptions{});
    if (!archiver.ok()) return archiver.error();
    opened.archiver = std::move(archiver).value();
    CheckpointedArchiver* result = opened.archiver.get();
    archivers_.emplace(checkpoint_name, std::move(opened));
    return result;
  }

  struct ShardArchive {
    std::unique_ptr<ObjectStore> objects;
    std::unique_ptr<CheckpointedArchiver> archiver;  // destroyed first
  };

  const FunctionSettings settings_;
  cart::CartSummaryProjection projection_;
  std::unique_ptr<StreamProjectionHandler> projector_;
  std::map<std::string, ShardArchive> archivers_;  // by checkpoint name
};

}  // namespace

Result<std::unique_ptr<Function>> NewConsumeFunction(const FunctionSettings& settings,
                                                     std::shared_ptr<aws::AwsClient>) {
  if (!settings.archive.empty()) {
    // Checked at start, so that a wrong setting is an init error (each shard's archive is a
    // folder of it, opened when the shard's first batch comes).
    auto opened = OpenObjectStore(settings.archive);
    if (!opened.ok()) return opened.error();
  }
  auto function = std::make_unique<ConsumeFunction>(settings);
  if (auto s = function->Init(); !s) return s.error();
  return std::unique_ptr<Function>(std::move(function));
}

}  // namespace evs::lambda
