// The replay function: the original's last step. Re-publishes archived events from S3 to Kinesis
// (aws::ReplayToKinesis) so that downstream handlers process them again, in bounded invocations.
//
// Event:  {"archive": "s3://bucket/prefix", "kinesis_stream": "name", "from": P, "to": P,
//          "until_us": T, "max_events": N}      (from: default 1; to, until_us, max_events:
//                                                optional)
// Answer: {"next_from": P, "done": bool, "published": N, "records": R, "put_calls": C,
//          "retried": T, "last_position": L, "stopped": "deadline" | "max_events" | ""}
// It publishes until the invocation's deadline is near (FunctionSettings::deadline_margin before
// it, or a fifth of the time left up to 5 s when that is more: the archive reader finishes the
// segment fetch in flight before it returns) and answers where to continue: invoke again with
// "from": next_from until done. Every position before next_from is published; some after it may be
// too (consumers skip versions they applied). Bad input (no archive or stream, from < 1, to < from,
// an archive that cannot be opened or holds no segments, a Kinesis stream that does not exist) is
// an InvalidEvent error.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "aws/kinesis_replay.h"
#include "evs/archive.h"
#include "evs/s3.h"
#include "lambda/function_registry.h"

namespace evs::lambda {
namespace {

using nlohmann::json;

// The integer at `key` (absent: `fallback`); false when it is there but not an integer.
bool OptionalInt(const json& event, const char* key, std::optional<int64_t>& out) {
  auto it = event.find(key);
  if (it == event.end() || it->is_null()) return true;
  if (!it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

class ReplayFunction final : public Function {
 public:
  ReplayFunction(std::shared_ptr<aws::AwsClient> client, const FunctionSettings& settings)
      : client_(std::move(client)), settings_(settings) {}

  Outcome Invoke(const Invocation& invocation) override {
    const int64_t left = MillisecondsLeft(invocation.deadline_ms);
    if (auto refused = RefuseNearDeadline(left, settings_)) return *refused;
    const json event = json::parse(invocation.event, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object()) {
      return Invalid("the event is not a JSON object");
    }
    const std::string archive = StringAt(event, "archive");
    const std::string stream = StringAt(event, "kinesis_stream");
    if (archive.empty()) return Invalid("no \"archive\" (e.g. \"s3://bucket/prefix\")");
    if (stream.empty()) return Invalid("no \"kinesis_stream\" (the stream to publish to)");
    std::optional<int64_t> from, to, until_us, max_events;
    if (!OptionalInt(event, "from", from) || !OptionalInt(event, "to", to) ||
        !OptionalInt(event, "until_us", until_us) ||
        !OptionalInt(event, "max_events", max_events)) {
      return Invalid("\"from\", \"to\", \"until_us\" and \"max_events\" must be integers");
    }
    aws::KinesisReplayOptions options;
    options.from = from.value_or(1);
    options.to = to.value_or(INT64_MAX);
    options.until_us = until_us;
    options.max_events = max_events.value_or(0);
    if (options.from < 1) return Invalid("\"from\" must be 1 or more");
    if (options.to < options.from) {
      return Invalid("\"to\" (" + std::to_string(options.to) + ") is before \"from\" (" +
                     std::to_string(options.from) + ")");
    }
    if (options.max_events < 0) return Invalid("\"max_events\" must be 0 or more");
    auto objects = OpenObjectStore(archive);
    if (!objects.ok()) return Invalid("the archive " + archive + ": " + objects.error().message);
    auto reader = ArchiveReader::Open(**objects);
    if (!reader.ok()) {
      return Outcome::Failed(
          reader.error().code == ErrorCode::kNotFound ? "InvalidEvent" : "HandlerError",
          "the archive " + archive + ": " + reader.error().message);
    }
    if ((*reader)->Segments().empty()) {
      return Invalid("the archive " + archive + " holds no segments (is it the right location?)");
    }
    options.sending.stream_name = stream;
    // Stop publishing in time to answer: the margin, or more (a fifth of the time left, up to
    // 5 s), so that the archive reader's segment fetch in flight ends before the deadline too.
    const int64_t margin =
        std::max<int64_t>(settings_.deadline_margin.count(), std::min<int64_t>(5000, left / 5));
    options.sending.deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(left - margin);
    auto result = aws::ReplayToKinesis(*client_, **reader, options);
    if (!result.ok()) {
      const ErrorCode code = result.error().code;
      const bool bad_input = code == ErrorCode::kInvalidArgument || code == ErrorCode::kNotFound;
      return Outcome::Failed(bad_input ? "InvalidEvent" : "HandlerError", result.error().message);
    }
    std::fprintf(stderr, "evs replay: published %lld events of %s to %s; next from %lld%s\n",
                 static_cast<long long>(result->events), archive.c_str(), stream.c_str(),
                 static_cast<long long>(result->next_from), result->done ? " (done)" : "");
    return Outcome::Answer(json{
        {"next_from", result->next_from},
        {"done", result->done},
        {"published", result->events},
        {"records", result->records},
        {"put_calls", result->put_calls},
        {"retried", result->retried},
        {"last_position", result->last_position},
        {"stopped",
         result->stopped}}.dump());
  }

 private:
  static Outcome Invalid(const std::string& message) {
    return Outcome::Failed("InvalidEvent", "replay: " + message);
  }
  static std::string StringAt(const json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : "";
  }

  const std::shared_ptr<aws::AwsClient> client_;
  const FunctionSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Function>> NewReplayFunction(const FunctionSettings& settings,
                                                    std::shared_ptr<aws::AwsClient> client) {
  return std::unique_ptr<Function>(std::make_unique<ReplayFunction>(std::move(client), settings));
}

}  // namespace evs::lambda
