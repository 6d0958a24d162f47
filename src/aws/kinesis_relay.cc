// The relay: decode every INSERT's NewImage into its commit, then send the commits in rounds of
// PutRecords calls, each round taking the oldest unsent commit of every stream whose backoff is
// over, until each is published or has failed for good.
#include "aws/kinesis_relay.h"

#include <algorithm>
#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "aws/dynamodb_items.h"
#include "aws/kinesis_records.h"
#include "common/backoff.h"

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
  std::string data;           // the record's Data before base64
  std::string prepare_error;  // why it cannot be sent at all; "" when it can
  int attempts = 0;
  Clock::time_point not_before{};
};

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Kinesis counts a partition key's length in Unicode characters.
size_t Utf8Length(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::chrono::milliseconds Backoff(const RelayOptions& options, int attempts) {
  return ExponentialDelay(options.initial_backoff, options.max_backoff, attempts - 1);
}

class RelayRun {
 public:
  RelayRun(AwsClient& client, const RelayOptions& options) : client_(client), options_(options) {}

  RelayResult Run(const nlohmann::json& records) {
    started_ = Clock::now();
    for (size_t i = 0; i < records.size(); ++i) Prepare(i, records[i]);
    Send();
    std::sort(result_.failed.begin(), result_.failed.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    RelayResult out = std::move(result_.counts);
    for (auto& [index, failure] : result_.failed) out.failed.push_back(std::move(failure));
    return out;
  }

 private:
  void Fail(Commit& commit, std::string reason) {
    result_.failed.emplace_back(
        commit.input_index,
        RelayFailure{commit.event_id, commit.sequence_number, commit.stream_id, std::move(reason)});
  }

  // Fails the commit at the head of its stream's queue for good, and every later one of that
  // stream: publishing them would put them before the failed one.
  void FailStream(const std::string& stream_id, const std::string& reason) {
    auto& queue = queues_[stream_id];
    if (queue.empty()) return;
    Commit& head = queue.front();
    std::string blocked = "not published, to keep the order of stream " + stream_id +
                          ": its commit at version " + std::to_string(head.first_version) +
                          " (sequence number " + head.sequence_number + ") failed: " + reason;
    Fail(head, reason);
    for (size_t i = 1; i < queue.size(); ++i) Fail(queue[i], blocked);
    queue.clear();
  }

  void Prepare(size_t index, const nlohmann::json& record) {
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
    commit.prepare_error = Encode(name, dynamodb, has_image ? &*image : nullptr, commit);
    if (commit.stream_id.empty()) {
      // Not tied to a stream, so it holds nothing else back.
      Fail(commit, commit.prepare_error);
      return;
    }
    // A commit that cannot be sent still takes its place: the later ones of its stream must not
    // overtake it.
    auto [queue, added] = queues_.try_emplace(commit.stream_id);
    if (added) order_.push_back(commit.stream_id);
    queue->second.push_back(std::move(commit));
  }

  // Fills the commit's data from the stream record; the reason it cannot be sent otherwise.
  std::string Encode(const std::string& name, const nlohmann::json& dynamodb,
                     const nlohmann::json* image, Commit& commit) {
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
    auto data = EncodeCommitRecord(*events);
    if (!data.ok()) return data.error().message;
    commit.data = std::move(data).value();
    if (Utf8Length(commit.stream_id) > kMaxPartitionKeyBytes) {
      return "the stream id is longer than a Kinesis partition key may be (256 characters)";
    }
    if (commit.data.size() + commit.stream_id.size() > kMaxKinesisRecordBytes) {
      return "the commit's record is " +
             std::to_string(commit.data.size() + commit.stream_id.size()) +
             " bytes, over Kinesis's limit of 1 MiB per record";
    }
    return "";
  }

  bool OverBudget(Clock::time_point now) const {
    return options_.time_budget.count() > 0 && now - started_ >= options_.time_budget;
  }

  void Send() {
    size_t total = 0;
    for (const auto& [stream, queue] : queues_) total += queue.size();
    // Each round sends or waits for a backoff to end; sends are bounded by the attempts.
    const size_t max_rounds =
        2 * total * static_cast<size_t>(std::max(1, options_.max_attempts)) + 2;
    for (size_t round = 0; round < max_rounds; ++round) {
      Clock::time_point now = Clock::now();
      if (OverBudget(now)) {
        for (const std::string& stream_id : order_) {
          FailStream(stream_id, "the relay's time budget of " +
                                    std::to_string(options_.time_budget.count()) +
                                    " ms ran out before it was published");
        }
        return;
      }
      std::vector<Commit*> batch;
      size_t bytes = 0;
      Clock::time_point next_ready = Clock::time_point::max();
      for (const std::string& stream_id : order_) {
        auto& queue = queues_[stream_id];
        if (queue.empty()) continue;
        if (!queue.front().prepare_error.empty()) {
          std::string reason = queue.front().prepare_error;
          FailStream(stream_id, reason);
          continue;
        }
        Commit& head = queue.front();
        if (head.not_before > now) {
          next_ready = std::min(next_ready, head.not_before);
          continue;
        }
        size_t size = head.data.size() + head.stream_id.size();
        if (batch.size() >= std::max<size_t>(1, options_.max_records_per_call) ||
            (!batch.empty() && bytes + size > options_.max_bytes_per_call)) {
          next_ready = now;
          continue;
        }
        batch.push_back(&head);
        bytes += size;
      }
      if (batch.empty()) {
        if (next_ready == Clock::time_point::max()) return;  // nothing left
        if (options_.time_budget.count() > 0) {
          next_ready = std::min(next_ready, started_ + options_.time_budget);
        }
        std::this_thread::sleep_until(next_ready);
        continue;
      }
      PutRecords(batch);
    }
    for (const std::string& stream_id : order_) {
      FailStream(stream_id, "the relay gave up (too many rounds)");  // a bug if ever reached
    }
  }

  void Retry(Commit& commit, const std::string& reason, bool retryable) {
    std::string stream_id = commit.stream_id;  // FailStream destroys the commit
    ++commit.attempts;
    if (!retryable || commit.attempts >= std::max(1, options_.max_attempts)) {
      std::string why = retryable ? reason + " (gave up after " + std::to_string(commit.attempts) +
                                        (commit.attempts == 1 ? " attempt)" : " attempts)")
                                  : reason;
      FailStream(stream_id, why);
      return;
    }
    commit.not_before = Clock::now() + Backoff(options_, commit.attempts);
  }

  void PutRecords(const std::vector<Commit*>& batch) {
    nlohmann::json request = {{"StreamName", options_.stream_name},
                              {"Records", nlohmann::json::array()}};
    for (const Commit* commit : batch) {
      request["Records"].push_back(
          {{"Data", Base64Encode(commit->data)}, {"PartitionKey", commit->stream_id}});
      if (commit->attempts > 0) ++result_.counts.retried;
    }
    ++result_.counts.put_calls;
    auto response = client_.CallJson(Service::kKinesis, "PutRecords", request);
    if (!response.ok()) {
      // The client already retried throttling and 5xx; anything else will not pass later.
      bool retryable = response.error().code == ErrorCode::kUnavailable;
      for (Commit* commit : batch) Retry(*commit, response.error().message, retryable);
      return;
    }
    auto records = response->find("Records");
    if (records == response->end() || !records->is_array() || records->size() != batch.size()) {
      for (Commit* commit : batch) {
        Retry(*commit, "kinesis PutRecords: the answer does not list one result per record", true);
      }
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Commit& commit = *batch[i];
      const nlohmann::json& entry = (*records)[i];
      std::string error_code = StringAt(entry, "ErrorCode");
      if (!error_code.empty()) {
        // ProvisionedThroughputExceededException, InternalFailure, KMS errors: try again later.
        Retry(commit, "kinesis PutRecords: " + error_code + ": " + StringAt(entry, "ErrorMessage"),
              true);
        continue;
      }
      ++result_.counts.published;
      result_.counts.events_published += commit.events;
      queues_[commit.stream_id].pop_front();
    }
  }

  AwsClient& client_;
  const RelayOptions& options_;
  Clock::time_point started_{};
  // Per evs stream, its unsent commits in input order; streams in order of first appearance.
  std::map<std::string, std::deque<Commit>> queues_;
  std::vector<std::string> order_;
  struct {
    RelayResult counts;
    std::vector<std::pair<size_t, RelayFailure>> failed;
  } result_;
};

}  // namespace

KinesisRelay::KinesisRelay(std::shared_ptr<AwsClient> client, RelayOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<RelayResult> KinesisRelay::Relay(const nlohmann::json& stream_event) {
  if (options_.stream_name.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "relay: no Kinesis stream name in the options");
  }
  if (options_.max_records_per_call == 0 || options_.max_records_per_call > kMaxPutRecordsCount ||
      options_.max_bytes_per_call == 0 || options_.max_bytes_per_call > kMaxPutRecordsBytes) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "relay: max_records_per_call must be 1-500 and max_bytes_per_call 1 B - "
                       "5 MiB (Kinesis's PutRecords limits)");
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
