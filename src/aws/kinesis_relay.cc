// The relay: decode every INSERT's NewImage into its commit, then hand the commits to the shared
// sender (kinesis_sender.h), keyed by stream, which publishes them in per-stream order.
#include "aws/kinesis_relay.h"

#include <algorithm>
#include <utility>

#include "aws/dynamodb_items.h"
#include "aws/kinesis_records.h"
#include "aws/kinesis_sender.h"

namespace evs::aws {
namespace {

using Clock = std::chrono::steady_clock;

// One INSERT: a commit to publish.
struct Commit {
  size_t input_index = 0;
  std::string event_id;
  std::string sequence_number;
  std::string stream_id;
  int64_t first_version = 0;
  int64_t events = 0;
};

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class RelayRun {
 public:
  RelayRun(AwsClient& client, const RelayOptions& options) : client_(client), options_(options) {}

  RelayResult Run(const nlohmann::json& records) {
    SenderOptions sending = options_;
    sending.deadline = options_.time_budget.count() > 0 ? Clock::now() + options_.time_budget
                                                        : Clock::time_point::max();
    sending.deadline_reason = "the relay's time budget of " +
                              std::to_string(options_.time_budget.count()) +
                              " ms ran out before it was published";
    KinesisSender sender(client_, sending);
    for (size_t i = 0; i < records.size(); ++i) Prepare(i, records[i], sender);
    sender.Send();
    result_.counts.put_calls = sender.put_calls();
    result_.counts.retried = sender.retried();
    const std::vector<SendOutcome>& outcomes = sender.Outcomes();
    for (size_t id = 0; id < outcomes.size(); ++id) {
      const Commit& commit = commits_[id];
      const SendOutcome& outcome = outcomes[id];
      if (outcome.state == SendOutcome::State::kPublished) {
        ++result_.counts.published;
        result_.counts.events_published += commit.events;
      } else if (outcome.state == SendOutcome::State::kBlocked) {
        const Commit& head = commits_[outcome.blocked_by];
        Fail(commit, "not published, to keep the order of stream " + commit.stream_id +
                         ": its commit at version " + std::to_string(head.first_version) +
                         " (sequence number " + head.sequence_number +
                         ") failed: " + outcomes[outcome.blocked_by].reason);
      } else {
        Fail(commit, outcome.reason);
      }
    }
    std::sort(result_.failed.begin(), result_.failed.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    RelayResult out = std::move(result_.counts);
    for (auto& [index, failure] : result_.failed) out.failed.push_back(std::move(failure));
    return out;
  }

 private:
  void Fail(const Commit& commit, std::string reason) {
    result_.failed.emplace_back(
        commit.input_index,
        RelayFailure{commit.event_id, commit.sequence_number, commit.stream_id, std::move(reason)});
  }

  void Prepare(size_t index, const nlohmann::json& record, KinesisSender& sender) {
    if (!record.is_object()) {
      result_.failed.emplace_back(index,
                                  RelayFailure{"", "", "", "not a stream record (not an object)"});
      return;
    }
    std::string name = StringAt(record, "eventName");
    if (name == "MODIFY" || name == "REMOVE") {
      ++result_.counts.ignored;  // commit items are never modified; removal is not an event
      return;
    }
    const nlohmann::json& dynamodb = record.value("dynamodb", nlohmann::json::object());
    auto image = dynamodb.is_object() ? dynamodb.find("NewImage") : dynamodb.end();
    bool has_image = image != dynamodb.end() && image->is_object();
    Commit commit;
    commit.input_index = index;
    commit.event_id = StringAt(record, "eventID");
    commit.sequence_number = StringAt(dynamodb, "SequenceNumber");
    if (has_image) commit.stream_id = StringAt(image->value("StreamId", nlohmann::json()), "S");
    std::string data;
    std::string error = Encode(name, dynamodb, has_image ? &*image : nullptr, commit, data);
    if (commit.stream_id.empty()) {
      // Not tied to a stream, so it holds nothing else back.
      Fail(commit, error);
      return;
    }
    // A commit that cannot be sent still takes its place: the later ones of its stream must not
    // overtake it.
    std::string key = commit.stream_id;
    commits_.push_back(std::move(commit));
    sender.Add(std::move(key), std::move(data), std::move(error));
  }

  // Fills the commit and its record's data from the stream record; the reason it cannot be sent
  // otherwise.
  std::string Encode(const std::string& name, const nlohmann::json& dynamodb,
                     const nlohmann::json* image, Commit& commit, std::string& data) {
    if (name != "INSERT") {
      return "unknown eventName \"" + name + "\" (expected INSERT, MODIFY or REMOVE)";
    }
    if (image == nullptr) {
      return "the record has no NewImage: the table's stream must be NEW_IMAGE or "
             "NEW_AND_OLD_IMAGES (StreamViewType is \"" +
             StringAt(dynamodb, "StreamViewType") + "\")";
    }
    auto events = EventsFromCommitItem(*image);
    if (!events.ok()) return "cannot decode the commit item: " + events.error().message;
    if (events->empty()) return "the commit item holds no events";
    commit.stream_id = events->front().stream_id;
    if (commit.stream_id.empty()) return "the commit item names no stream";
    commit.first_version = events->front().version;
    commit.events = static_cast<int64_t>(events->size());
    auto encoded = EncodeCommitRecord(*events);
    if (!encoded.ok()) return encoded.error().message;
    data = std::move(encoded).value();
    return CheckRecordLimits(commit.stream_id, data.size(), "the commit's record");
  }

  AwsClient& client_;
  const RelayOptions& options_;
  std::vector<Commit> commits_;  // by sender id
  struct {
    RelayResult counts;
    std::vector<std::pair<size_t, RelayFailure>> failed;
  } result_;
};

}  // namespace

KinesisRelay::KinesisRelay(std::shared_ptr<AwsClient> client, RelayOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<RelayResult> KinesisRelay::Relay(const nlohmann::json& stream_event) {
  if (std::string wrong = CheckSenderOptions(options_); !wrong.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "relay: " + wrong);
  }
  auto records = stream_event.is_object() ? stream_event.find("Records") : stream_event.end();
  if (!stream_event.is_object() || records == stream_event.end() || !records->is_array()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "relay: the input is not a DynamoDB Streams event (no \"Records\" array)");
  }
  try {
    return RelayRun(*client_, options_).Run(*records);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; never let them out of a Lambda handler.
    return Error::Make(ErrorCode::kIOError, std::string("relay: ") + e.what());
  }
}

}  // namespace evs::aws
