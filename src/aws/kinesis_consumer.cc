// The Kinesis consumer: one thread that lists the shards now and then, reads every shard whose
// parents are finished, in turn, each no sooner than its next-read time, and after each answer
// with records hands their events to the handler and saves the shard's checkpoint.
#include "aws/kinesis_consumer.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "aws/kinesis_records.h"
#include "common/backoff.h"
#include "evs/upcasting.h"

namespace evs::aws {
namespace {

using Clock = std::chrono::steady_clock;

// The checkpoint of a shard whose records were all handled and whose iterator ended.
constexpr char kFinished[] = "finished";
constexpr int kMaxListPages = 100;  // 100,000 shards; Kinesis's own limit is far lower

bool IsSequenceNumber(std::string_view text) {
  return !text.empty() && text.size() <= 128 &&
         text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::chrono::milliseconds Doubled(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                  int failures) {
  const std::chrono::milliseconds one(1);
  return ExponentialDelay(std::max(base, one), std::max(cap, one), failures - 1);
}

struct Shard {
  KinesisShardStatus status;
  std::string iterator;  // "" until asked for (and after it expired)
  Clock::time_point next_read{};
  int read_failures = 0;  // in a row
};

class Consumer final : public KinesisConsumer {
 public:
  Consumer(std::shared_ptr<AwsClient> client, CheckpointStore& checkpoints, EventHandler& handler,
           KinesisConsumerOptions options)
      : client_(std::move(client)),
        checkpoints_(checkpoints),
        upcasting_(options.upcaster ? NewUpcastingHandler(options.upcaster, handler) : nullptr),
        handler_(upcasting_ ? *upcasting_ : handler),
        options_(std::move(options)) {
    status_.name = options_.name;
    status_.stream_name = options_.stream_name;
  }

  ~Consumer() override {
    Stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Begin() {
    if (auto s = ListShards(); !s) return s;
    PromoteShards();
    PublishStatus();
    thread_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Stop() override {
    {
      std::lock_guard guard(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

  KinesisConsumerStatus GetStatus() const override {
    std::lock_guard guard(mu_);
    return status_;
  }

  bool WaitForEvents(int64_t count, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      return status_.events_handled >= count ||
             status_.state != KinesisConsumerStatus::State::kRunning;
    });
    return status_.events_handled >= count;
  }

 private:
  bool Stopping() {
    std::lock_guard guard(mu_);
    return stopping_;
  }

  // Sleeps until `until` unless stopped first; false when stopped.
  bool SleepUntil(Clock::time_point until) {
    std::unique_lock lock(mu_);
    return !cv_.wait_until(lock, until, [&] { return stopping_; });
  }

  void NoteError(const std::string& message) {
    std::lock_guard guard(mu_);
    status_.last_error = message;
  }

  void Finish(KinesisConsumerStatus::State state, std::string error = {}) {
    PublishStatus();
    {
      std::lock_guard guard(mu_);
      status_.state = state;
      if (!error.empty()) status_.last_error = error;
      status_.error = std::move(error);
    }
    cv_.notify_all();
  }

  // Copies the shards' state (kept by the thread alone) into the status readers see, together
  // with what was just handled, so that a waiter woken by the counts sees the shards as well.
  void PublishStatus(int64_t records = 0, int64_t events = 0) {
    std::vector<KinesisShardStatus> shards;
    int64_t behind = -1;
    bool caught_up = !shards_.empty();
    for (const auto& [id, shard] : shards_) {
      shards.push_back(shard.status);
      caught_up = caught_up && (shard.status.state == KinesisShardStatus::State::kFinished ||
                                shard.status.caught_up);
      if (shard.status.state == KinesisShardStatus::State::kReading) {
        behind = std::max(behind, shard.status.millis_behind_latest);
      }
    }
    {
      std::lock_guard guard(mu_);
      status_.shards = std::move(shards);
      status_.millis_behind_latest = behind;
      status_.caught_up = caught_up;
      status_.records_handled += records;
      status_.events_handled += events;
      if (events > 0) ++status_.batches_handled;
    }
    cv_.notify_all();
  }

  std::string CheckpointName(const std::string& shard_id) const {
    return KinesisCheckpointName(options_.name, options_.stream_name, shard_id);
  }

  // Lists the stream's shards and adds the new ones with their checkpoints. Pages go by
  // ExclusiveStartShardId, never by a bare NextToken (kinesalite crashes on one).
  Status ListShards() {
    std::string after;
    for (int page = 0; page < kMaxListPages; ++page) {
      nlohmann::json request = {{"StreamName", options_.stream_name}, {"MaxResults", 1000}};
      if (!after.empty()) request["ExclusiveStartShardId"] = after;
      auto listed = client_->CallJson(Service::kKinesis, "ListShards", request);
      if (!listed.ok()) return listed.error();
      auto list = listed->find("Shards");
      if (list == listed->end() || !list->is_array()) {
        return Error::Make(ErrorCode::kIOError, "kinesis ListShards: the answer has no Shards");
      }
      for (const nlohmann::json& item : *list) {
        std::string id = StringAt(item, "ShardId");
        if (id.empty()) continue;
        after = std::max(after, id);
        if (shards_.count(id) != 0) continue;
        Shard shard;
        shard.status.shard_id = id;
        for (const char* key : {"ParentShardId", "AdjacentParentShardId"}) {
          std::string parent = StringAt(item, key);
          if (!parent.empty()) shard.status.parents.push_back(parent);
        }
        auto saved = checkpoints_.Load(CheckpointName(id));
        if (!saved.ok()) return saved.error();
        if (*saved) {
          const std::string& text = **saved;
          if (text != kFinished && !IsSequenceNumber(text)) {
            return Error::Make(ErrorCode::kCorruption,
                               "the checkpoint " + CheckpointName(id) +
                                   " is neither a Kinesis sequence number nor \"finished\": '" +
                                   text + "'");
          }
          shard.status.checkpoint = text;
          if (text == kFinished) shard.status.state = KinesisShardStatus::State::kFinished;
        }
        shards_.emplace(id, std::move(shard));
      }
      if (!listed->contains("NextToken") || list->empty()) break;
    }
    next_list_ = Clock::now() + options_.list_interval;
    return OkStatus();
  }

  // A waiting shard is read once each parent is finished or gone (past the retention period,
  // its records are gone too, so there is nothing left to wait for).
  void PromoteShards() {
    for (auto& [id, shard] : shards_) {
      if (shard.status.state != KinesisShardStatus::State::kWaiting) continue;
      bool ready = std::all_of(
          shard.status.parents.begin(), shard.status.parents.end(), [&](const std::string& parent) {
            auto it = shards_.find(parent);
            return it == shards_.end() ||
                   it->second.status.state == KinesisShardStatus::State::kFinished;
          });
      if (ready) {
        shard.status.state = KinesisShardStatus::State::kReading;
        shard.next_read = Clock::now();
      }
    }
  }

  void Run() {
    int list_failures = 0;
    while (!Stopping()) {
      Clock::time_point now = Clock::now();
      if (now >= next_list_) {
        if (auto s = ListShards(); !s) {
          if (s.error().code != ErrorCode::kUnavailable) {
            return Finish(KinesisConsumerStatus::State::kFailed, s.error().message);
          }
          NoteError(s.error().message);
          next_list_ =
              now + Doubled(options_.read_backoff, options_.max_read_backoff, ++list_failures);
        } else {
          list_failures = 0;
        }
        PromoteShards();
        PublishStatus();
      }
      Shard* next = nullptr;
      for (auto& [id, shard] : shards_) {
        if (shard.status.state != KinesisShardStatus::State::kReading) continue;
        if (next == nullptr || shard.next_read < next->next_read) next = &shard;
      }
      Clock::time_point wake = next_list_;
      if (next != nullptr) wake = std::min(wake, next->next_read);
      if (wake > Clock::now()) {
        if (!SleepUntil(wake)) break;
        continue;
      }
      if (next == nullptr) continue;
      auto failure = Read(*next);
      if (!failure.ok())
        return Finish(KinesisConsumerStatus::State::kFailed, failure.error().message);
    }
    Finish(KinesisConsumerStatus::State::kStopped);
  }

  // A read that failed in a way a later one may not: back off; other failures end the consumer.
  Status ReadFailed(Shard& shard, const Error& error) {
    if (error.code != ErrorCode::kUnavailable) return error;
    ++shard.read_failures;
    shard.next_read = Clock::now() + Doubled(options_.read_backoff, options_.max_read_backoff,
                                             shard.read_failures);
    std::lock_guard guard(mu_);
    ++status_.read_retries;
    status_.last_error = error.message;
    return OkStatus();
  }

  // One GetRecords of `shard` and the handling of what it gave. An error only for what stops the
  // consumer.
  Status Read(Shard& shard) {
    const std::string& id = shard.status.shard_id;
    if (shard.iterator.empty()) {
      nlohmann::json request = {{"StreamName", options_.stream_name}, {"ShardId", id}};
      if (shard.status.checkpoint.empty()) {
        request["ShardIteratorType"] = "TRIM_HORIZON";
      } else {
        request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER";
        request["StartingSequenceNumber"] = shard.status.checkpoint;
      }
      auto got = client_->CallJson(Service::kKinesis, "GetShardIterator", request);
      if (!got.ok()) return ReadFailed(shard, got.error());
      shard.iterator = StringAt(*got, "ShardIterator");
      if (shard.iterator.empty()) {
        return Error::Make(ErrorCode::kIOError,
                           "kinesis GetShardIterator: no ShardIterator for shard " + id);
      }
    }
    auto got = client_->CallJson(Service::kKinesis, "GetRecords",
                                 {{"ShardIterator", shard.iterator},
                                  {"Limit", std::clamp(options_.max_records_per_read, 1, 10000)}});
    if (!got.ok()) {
      if (AwsErrorType(got.error()) == "ExpiredIteratorException") {
        // Iterators live five minutes (a long handler retry): get a new one at the checkpoint.
        shard.iterator.clear();
        NoteError(got.error().message);
        return OkStatus();
      }
      return ReadFailed(shard, got.error());
    }
    shard.read_failures = 0;
    if (auto behind = got->find("MillisBehindLatest");
        behind != got->end() && behind->is_number_integer()) {
      shard.status.millis_behind_latest = behind->get<int64_t>();
    }
    auto records = got->find("Records");
    if (records == got->end() || !records->is_array()) {
      return Error::Make(ErrorCode::kIOError,
                         "kinesis GetRecords: the answer for shard " + id + " has no Records");
    }
    std::string next = StringAt(*got, "NextShardIterator");
    bool ended = next.empty();  // absent or null: the shard was closed and is read to its end

    std::vector<RecordedEvent> batch;
    std::string last_sequence;
    for (const nlohmann::json& record : *records) {
      last_sequence = StringAt(record, "SequenceNumber");
      auto data = Base64Decode(StringAt(record, "Data"));
      Result<std::vector<RecordedEvent>> events =
          data.ok() ? DecodeCommitRecord(*data) : Result<std::vector<RecordedEvent>>(data.error());
      if (!events.ok() || last_sequence.empty()) {
        return Error::Make(ErrorCode::kCorruption,
                           "shard " + id + ", sequence number " + last_sequence + ": " +
                               (events.ok() ? "no sequence number" : events.error().message) +
                               "; the consumer stopped before it (its checkpoint is before it)");
      }
      for (auto& e : *events) batch.push_back(std::move(e));
    }
    if (!batch.empty()) {
      if (auto s = Deliver(shard, batch); !s) return s;
      if (!handled_) return OkStatus();  // stopped while retrying: comes again after a restart
    }
    if (!records->empty() || ended) {
      std::string checkpoint = ended ? std::string(kFinished) : last_sequence;
      if (auto s = checkpoints_.Save(CheckpointName(id), checkpoint); !s) {
        return Error::Make(s.error().code, "cannot save the checkpoint " + CheckpointName(id) +
                                               ": " + s.error().message);
      }
      shard.status.checkpoint = checkpoint;
      shard.status.records_handled += static_cast<int64_t>(records->size());
    }
    if (ended) {
      shard.status.state = KinesisShardStatus::State::kFinished;
      shard.iterator.clear();
      next_list_ = Clock::now();  // its children are to be found and read now
      PromoteShards();
    }
    PublishStatus(static_cast<int64_t>(records->size()), static_cast<int64_t>(batch.size()));
    if (ended) return OkStatus();
    shard.iterator = std::move(next);
    // An empty answer from a shard that is behind means more is coming: read again soon.
    bool idle = records->empty() && shard.status.millis_behind_latest <= 0;
    shard.status.caught_up = idle;
    shard.next_read = Clock::now() + (idle ? options_.idle_wait : options_.min_read_interval);
    return OkStatus();
  }

  // Hands `batch` to the handler, again after a backoff when it refuses; an error when it kept
  // refusing. Sets handled_ to whether it took the batch (false when Stop() came first).
  Status Deliver(const Shard& shard, const std::vector<RecordedEvent>& batch) {
    handled_ = false;
    int attempts = std::max(1, options_.max_handler_attempts);
    std::string last_error;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      Status s = Error::Make(ErrorCode::kIOError, "no answer");
      try {
        s = handler_.Handle(std::span<const RecordedEvent>(batch));
      } catch (const std::exception& e) {
        s = Error::Make(ErrorCode::kIOError, std::string("the handler threw: ") + e.what());
      }
      if (s.ok()) {
        handled_ = true;
        return OkStatus();
      }
      last_error = s.error().message;
      NoteError(last_error);
      if (attempt == attempts) break;
      {
        std::lock_guard guard(mu_);
        ++status_.handler_retries;
      }
      if (!SleepUntil(Clock::now() +
                      Doubled(options_.handler_backoff, options_.max_handler_backoff, attempt))) {
        return OkStatus();  // stopped: the batch comes again after a restart
      }
    }
    const RecordedEvent& first = batch.front();
    return Error::Make(ErrorCode::kIOError,
                       "the handler failed " + std::to_string(attempts) + " times on a batch of " +
                           std::to_string(batch.size()) + " events from shard " +
                           shard.status.shard_id + " (first " + first.stream_id + "@" +
                           std::to_string(first.version) + "): " + last_error);
  }

  const std::shared_ptr<AwsClient> client_;
  CheckpointStore& checkpoints_;
  // Upcasts events before the application's handler sees them (null: no upcaster).
  const std::unique_ptr<EventHandler> upcasting_;
  EventHandler& handler_;
  const KinesisConsumerOptions options_;

  // The consumer thread's own state (and Begin()'s, before the thread starts).
  std::map<std::string, Shard> shards_;
  Clock::time_point next_list_{};
  bool handled_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  KinesisConsumerStatus status_;
  std::thread thread_;
};

}  // namespace

const char* StateName(KinesisConsumerStatus::State state) {
  switch (state) {
    case KinesisConsumerStatus::State::kRunning:
      return "running";
    case KinesisConsumerStatus::State::kStopped:
      return "stopped";
    case KinesisConsumerStatus::State::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* StateName(KinesisShardStatus::State state) {
  switch (state) {
    case KinesisShardStatus::State::kWaiting:
      return "waiting";
    case KinesisShardStatus::State::kReading:
      return "reading";
    case KinesisShardStatus::State::kFinished:
      return "finished";
  }
  return "unknown";
}

std::string KinesisCheckpointName(const std::string& name, const std::string& stream,
                                  const std::string& shard_id) {
  return name + "/" + stream + "/" + shard_id;
}

Result<std::unique_ptr<KinesisConsumer>> KinesisConsumer::Start(std::shared_ptr<AwsClient> client,
                                                                CheckpointStore& checkpoints,
                                                                EventHandler& handler,
                                                                KinesisConsumerOptions options) {
  if (!client) return Error::Make(ErrorCode::kInvalidArgument, "kinesis consumer: no client");
  if (options.name.empty() || options.stream_name.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "kinesis consumer: a consumer needs a name and a stream name");
  }
  auto consumer =
      std::make_unique<Consumer>(std::move(client), checkpoints, handler, std::move(options));
  if (auto s = consumer->Begin(); !s) return s.error();
  return std::unique_ptr<KinesisConsumer>(std::move(consumer));
}

}  // namespace evs::aws
