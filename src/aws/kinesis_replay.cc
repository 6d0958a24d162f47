// The replay: the archive reader hands windows to a handler that packs them into records, sends
// them through a KinesisSender of its own per window and waits for all of them before the next.
#include "aws/kinesis_replay.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "aws/kinesis_records.h"

namespace evs::aws {
namespace {

using Clock = std::chrono::steady_clock;

// Consecutive versions of one stream on their way into one record.
struct OpenRecord {
  int64_t first_version = 0;
  int64_t last_version = 0;
  size_t bytes = 0;  // of the record as it would be assembled now (without the key)
  std::vector<std::string> entries;
  std::vector<size_t> events;  // their indexes in the window
};

class ReplayHandler final : public EventHandler {
 public:
  ReplayHandler(AwsClient& client, const KinesisReplayOptions& options)
      : client_(client), options_(options) {}

  Status Handle(std::span<const RecordedEvent> batch) override {
    if (batch.empty()) return OkStatus();
    if (Clock::now() >= options_.sending.deadline) return Stop("deadline");
    KinesisSender sender(client_, options_.sending);
    std::vector<size_t> record_of(batch.size());  // the sender id of each event's record
    std::vector<int64_t> events_in;               // events per sender id
    std::map<std::string, OpenRecord> open;
    auto close = [&](const std::string& stream_id, OpenRecord& record) {
      const size_t id = sender.Add(stream_id, AssembleRecord(stream_id, record.first_version,
                                                             /*replay=*/true, record.entries));
      for (size_t index : record.events) record_of[index] = id;
      events_in.push_back(static_cast<int64_t>(record.entries.size()));
      record.entries.clear();
      record.events.clear();
    };
    for (size_t i = 0; i < batch.size(); ++i) {
      const RecordedEvent& e = batch[i];
      auto entry = EncodeRecordEntry(e, /*with_position=*/true);
      if (!entry.ok()) return Named(e, entry.error());
      OpenRecord& record = open[e.stream_id];
      const size_t limit =
          kMaxKinesisRecordBytes - std::min(kMaxKinesisRecordBytes, e.stream_id.size());
      if (!record.entries.empty() &&
          (e.version != record.last_version + 1 || record.bytes + 1 + entry->size() > limit)) {
        close(e.stream_id, record);
      }
      if (record.entries.empty()) {
        auto overhead = RecordOverheadBytes(e.stream_id, e.version, /*replay=*/true);
        if (!overhead.ok()) return Named(e, overhead.error());
        record.first_version = e.version;
        record.bytes = *overhead + entry->size();
        if (record.bytes > limit) {
          return Error::Make(ErrorCode::kLimitExceeded,
                             "the event " + Where(e) + " takes " +
                                 std::to_string(record.bytes + e.stream_id.size()) +
                                 " bytes as a Kinesis record, over Kinesis's limit of 1 MiB per "
                                 "record: it cannot be replayed to Kinesis");
        }
      } else {
        record.bytes += 1 + entry->size();
      }
      record.last_version = e.version;
      record.entries.push_back(std::move(entry).value());
      record.events.push_back(i);
    }
    for (auto& [stream_id, record] : open) {
      if (!record.entries.empty()) close(stream_id, record);
    }
    sender.Send();
    result_.put_calls += sender.put_calls();
    result_.retried += sender.retried();

    // The acknowledged prefix of the window, in position order.
    const std::vector<SendOutcome>& outcomes = sender.Outcomes();
    size_t prefix = 0;
    while (prefix < batch.size() &&
           outcomes[record_of[prefix]].state == SendOutcome::State::kPublished) {
      ++prefix;
    }
    for (size_t id = 0; id < outcomes.size(); ++id) {
      if (outcomes[id].state == SendOutcome::State::kPublished) {
        ++result_.records;
        result_.events += events_in[id];
      }
    }
    if (prefix > 0) {
      result_.next_from = batch[prefix - 1].position + 1;
      if (options_.on_published) {
        if (Status s = options_.on_published(batch[prefix - 1].position); !s) return s;
      }
      if (options_.progress) {
        options_.progress(
            ArchiveProgress{batch[prefix - 1].position, result_.last_position, result_.events, 0});
      }
    }
    if (prefix < batch.size()) {
      // The first record that was not published says why.
      const SendOutcome* failed = &outcomes[record_of[prefix]];
      if (failed->state == SendOutcome::State::kBlocked) failed = &outcomes[failed->blocked_by];
      if (failed->out_of_time) return Stop("deadline");
      return Error::Make(ErrorCode::kIOError, "could not publish " + Where(batch[prefix]) +
                                                  " to Kinesis: " + failed->reason +
                                                  "; published through position " +
                                                  std::to_string(result_.next_from - 1));
    }
    if (options_.stop_requested && options_.stop_requested()) return Stop("stop requested");
    return OkStatus();
  }

  const std::string& stop_reason() const { return stop_reason_; }
  KinesisReplayResult& result() { return result_; }

 private:
  static std::string Where(const RecordedEvent& e) {
    return e.stream_id + "@" + std::to_string(e.version) + " (position " +
           std::to_string(e.position) + ")";
  }
  static Error Named(const RecordedEvent& e, const Error& error) {
    return Error::Make(error.code, "cannot replay " + Where(e) + ": " + error.message);
  }

  Error Stop(std::string why) {
    stop_reason_ = std::move(why);
    return Error::Make(ErrorCode::kUnavailable, "replay stopped: " + stop_reason_);
  }

  AwsClient& client_;
  const KinesisReplayOptions& options_;
  KinesisReplayResult result_;
  std::string stop_reason_;
};

}  // namespace

Result<KinesisReplayResult> ReplayToKinesis(AwsClient& client, ArchiveReader& archive,
                                            const KinesisReplayOptions& options) {
  if (std::string wrong = CheckSenderOptions(options.sending); !wrong.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "replay to Kinesis: " + wrong);
  }
  if (options.from < 1) {
    return Error::Make(ErrorCode::kInvalidArgument, "replay to Kinesis: from must be 1 or more");
  }
  if (options.to < options.from) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "replay to Kinesis: to (" + std::to_string(options.to) +
                           ") is before from (" + std::to_string(options.from) + ")");
  }
  if (options.max_events < 0 || options.window_events == 0) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "replay to Kinesis: max_events must be 0 or more and window_events 1 or "
                       "more");
  }
  // A missing stream is an error before anything is read.
  auto described = client.CallJson(Service::kKinesis, "DescribeStreamSummary",
                                   {{"StreamName", options.sending.stream_name}});
  if (!described.ok()) {
    return Error::Make(described.error().code,
                       "the Kinesis stream '" + options.sending.stream_name +
                           "' cannot be used: " + described.error().message);
  }
  const int64_t end = std::min(options.to, archive.LastPosition());
  int64_t to = end;
  if (options.max_events > 0 && options.from - 1 <= end - options.max_events) {
    to = options.from + options.max_events - 1;
  }
  ReplayHandler handler(client, options);
  KinesisReplayResult& result = handler.result();
  result.next_from = options.from;
  result.last_position = end;
  if (options.from > end) {
    result.done = true;  // nothing (more) in the range
    return result;
  }
  ReplayOptions read;
  read.from = options.from;
  read.to = to;
  read.until_us = options.until_us;
  read.batch_size = options.window_events;
  auto replayed = archive.Replay(read, handler);
  if (!replayed.ok()) {
    if (handler.stop_reason().empty()) return replayed.error();
    result.stopped = handler.stop_reason();
    return result;
  }
  result.segments = replayed->segments;
  // The range is done when it was read to its end, or `until` cut it short.
  const bool cut_by_until = replayed->last_position < to;
  if (to >= end || cut_by_until) {
    result.done = true;
  } else {
    result.stopped = "max_events";
  }
  return result;
}

}  // namespace evs::aws
