// Rounds of PutRecords calls, each taking the oldest unsent record of every key whose backoff is
// over, until each record is published or has failed for good.
#include "aws/kinesis_sender.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <utility>

#include "aws/kinesis_records.h"
#include "common/backoff.h"

namespace evs::aws {
namespace {

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

}  // namespace

std::string CheckSenderOptions(const SenderOptions& options) {
  if (options.stream_name.empty()) return "no Kinesis stream name in the options";
  if (options.max_records_per_call == 0 || options.max_records_per_call > kMaxPutRecordsCount ||
      options.max_bytes_per_call == 0 || options.max_bytes_per_call > kMaxPutRecordsBytes) {
    return "max_records_per_call must be 1-500 and max_bytes_per_call 1 B - 5 MiB (Kinesis's "
           "PutRecords limits)";
  }
  return "";
}

std::string CheckRecordLimits(const std::string& partition_key, size_t data_bytes,
                              const std::string& what) {
  if (partition_key.empty()) return what + " has no partition key";
  if (Utf8Length(partition_key) > kMaxPartitionKeyBytes) {
    return "the stream id is longer than a Kinesis partition key may be (256 characters)";
  }
  if (data_bytes + partition_key.size() > kMaxKinesisRecordBytes) {
    return what + " is " + std::to_string(data_bytes + partition_key.size()) +
           " bytes, over Kinesis's limit of 1 MiB per record";
  }
  return "";
}

KinesisSender::KinesisSender(AwsClient& client, const SenderOptions& options)
    : client_(client), options_(options) {}

size_t KinesisSender::Add(std::string partition_key, std::string data, std::string error) {
  const size_t id = outcomes_.size();
  outcomes_.emplace_back();
  if (error.empty()) error = CheckRecordLimits(partition_key, data.size(), "the record");
  auto [queue, added] = queues_.try_emplace(partition_key);
  if (added) order_.push_back(partition_key);
  queue->second.push_back(Pending{id, std::move(partition_key), std::move(data), std::move(error)});
  return id;
}

void KinesisSender::FailKey(const std::string& key, const std::string& reason, bool out_of_time) {
  auto& queue = queues_[key];
  if (queue.empty()) return;
  const size_t head = queue.front().id;
  outcomes_[head].state = SendOutcome::State::kFailed;
  outcomes_[head].reason = reason;
  outcomes_[head].out_of_time = out_of_time;
  for (size_t i = 1; i < queue.size(); ++i) {
    outcomes_[queue[i].id].state = SendOutcome::State::kBlocked;
    outcomes_[queue[i].id].blocked_by = head;
  }
  queue.clear();
}

void KinesisSender::Send() {
  size_t total = 0;
  for (const auto& [key, queue] : queues_) total += queue.size();
  // Each round sends or waits for a backoff to end; sends are bounded by the attempts.
  const size_t max_rounds = 2 * total * static_cast<size_t>(std::max(1, options_.max_attempts)) + 2;
  bool finished = false;
  for (size_t round = 0; round < max_rounds && !finished; ++round) {
    const Clock::time_point now = Clock::now();
    if (now >= options_.deadline) {
      for (const std::string& key : order_)
        FailKey(key, options_.deadline_reason, /*out_of_time=*/true);
      break;
    }
    std::vector<Pending*> batch;
    size_t bytes = 0;
    Clock::time_point next_ready = Clock::time_point::max();
    for (const std::string& key : order_) {
      auto& queue = queues_[key];
      if (queue.empty()) continue;
      if (!queue.front().error.empty()) {
        std::string reason = queue.front().error;
        FailKey(key, reason);
        continue;
      }
      Pending& head = queue.front();
      if (head.not_before > now) {
        next_ready = std::min(next_ready, head.not_before);
        continue;
      }
      const size_t size = head.data.size() + head.key.size();
      if (batch.size() >= std::max<size_t>(1, options_.max_records_per_call) ||
          (!batch.empty() && bytes + size > options_.max_bytes_per_call)) {
        next_ready = now;
        continue;
      }
      batch.push_back(&head);
      bytes += size;
    }
    if (!batch.empty()) {
      PutRecords(batch);
    } else if (next_ready == Clock::time_point::max()) {
      finished = true;  // nothing left
    } else {
      std::this_thread::sleep_until(std::min(next_ready, options_.deadline));
    }
  }
  for (const std::string& key : order_) {
    FailKey(key, "the sender gave up (too many rounds)");  // a bug if ever reached
  }
  queues_.clear();
  order_.clear();
}

void KinesisSender::Retry(Pending& record, const std::string& reason, bool retryable) {
  const int attempts = outcomes_[record.id].attempts;
  if (!retryable || attempts >= std::max(1, options_.max_attempts)) {
    std::string why = retryable ? reason + " (gave up after " + std::to_string(attempts) +
                                      (attempts == 1 ? " attempt)" : " attempts)")
                                : reason;
    std::string key = record.key;  // FailKey destroys the record
    FailKey(key, why);
    return;
  }
  record.not_before =
      Clock::now() + ExponentialDelay(options_.initial_backoff, options_.max_backoff, attempts - 1);
}

void KinesisSender::PutRecords(const std::vector<Pending*>& batch) {
  nlohmann::json request = {{"StreamName", options_.stream_name},
                            {"Records", nlohmann::json::array()}};
  nlohmann::json& records_out = request["Records"];
  for (const Pending* record : batch) {
    records_out.push_back({{"Data", Base64Encode(record->data)}, {"PartitionKey", record->key}});
    if (outcomes_[record->id].attempts++ > 0) ++retried_;
  }
  ++put_calls_;
  auto response = client_.CallJson(Service::kKinesis, "PutRecords", request);
  if (!response.ok()) {
    // The client already retried throttling and 5xx; anything else will not pass later.
    const bool retryable = response.error().code == ErrorCode::kUnavailable;
    for (Pending* record : batch) Retry(*record, response.error().message, retryable);
    return;
  }
  auto records = response->find("Records");
  if (records == response->end() || !records->is_array() || records->size() != batch.size()) {
    for (Pending* record : batch) {
      Retry(*record, "kinesis PutRecords: the answer does not list one result per record", true);
    }
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending& record = *batch[i];
    const nlohmann::json& entry = (*records)[i];
    const std::string error_code = StringAt(entry, "ErrorCode");
    if (!error_code.empty()) {
      // ProvisionedThroughputExceededException, InternalFailure, KMS errors: try again later.
      Retry(record, "kinesis PutRecords: " + error_code + ": " + StringAt(entry, "ErrorMessage"),
            true);
      continue;
    }
    outcomes_[record.id].state = SendOutcome::State::kPublished;
    queues_[record.key].pop_front();
  }
}

}  // namespace evs::aws
