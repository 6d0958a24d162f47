// Feeds: the decoders of stored events, in one of four modes chosen by the first byte:
//   'd'  the rest as a DynamoDB commit item (attribute-value JSON): DecodeCommitItem;
//   'k'  the rest as a Kinesis commit record's Data: DecodeCommitRecord, and as base64;
//   'u'  the rest as an event id column of the SQLite store: Uuid::Parse;
//   'c'  a cart event as stored ("<type>\n<data>" per event, events split by a line "==="):
//        upcast by the cart's schemas, decoded by its event types and applied in order to a
//        Cart, as a Repository does when it rebuilds a cart from its stream.
// Decoded commits (modes 'd' and 'k') are also applied to a Cart that way.
// Asserts: nothing crashes or throws; a decoded commit has dense versions from its first, all of
// its stream; encoding decoded events again and decoding that gives the same events (round
// trip); a parsed UUID formats as the lower case of its text; a rebuilt cart serializes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aws/dynamodb_items.h"
#include "aws/kinesis_records.h"
#include "cart/cart.h"
#include "fuzz_check.h"

namespace {

using nlohmann::json;

bool Same(const evs::RecordedEvent& a, const evs::RecordedEvent& b) {
  return a.stream_id == b.stream_id && a.version == b.version && a.position == b.position &&
         a.id == b.id && a.type == b.type && a.data == b.data && a.metadata == b.metadata &&
         a.recorded_at_us == b.recorded_at_us;
}

void CheckDense(const std::vector<evs::RecordedEvent>& events) {
  EVS_FUZZ_CHECK(!events.empty(), "a decoded commit without events");
  for (size_t i = 0; i < events.size(); ++i) {
    EVS_FUZZ_CHECK(events[i].stream_id == events[0].stream_id, events[i].stream_id);
    EVS_FUZZ_CHECK(events[i].version == events[0].version + static_cast<int64_t>(i),
                   std::to_string(events[i].version));
  }
}

// Upcasts and applies the events that the cart knows, as Repository::Fetch does (stopping at the
// first that does not decode), and serializes the cart.
void Rebuild(const std::vector<evs::RecordedEvent>& events) {
  cart::Cart rebuilt("fuzz");
  for (evs::RecordedEvent recorded : events) {
    if (!cart::CartUpcaster()->Upcast(recorded).ok()) break;
    auto event = cart::CartEvents::Decode(recorded);
    if (!event.ok()) break;
    rebuilt.Apply(*event);
  }
  (void)rebuilt.total_cents();
  (void)rebuilt.ToJson().dump(-1, ' ', false, json::error_handler_t::replace);
}

void DynamoDbItem(std::string_view text) {
  const json item = json::parse(text, nullptr, false);
  if (item.is_discarded()) return;
  auto commit = evs::aws::DecodeCommitItem(item);
  if (!commit.ok()) return;
  CheckDense(commit->events);
  EVS_FUZZ_CHECK(commit->events.front().version == commit->first_version &&
                     commit->events.back().version == commit->last_version,
                 text);
  std::vector<evs::EventData> data;
  for (const evs::RecordedEvent& e : commit->events) {
    EVS_FUZZ_CHECK(e.stream_id == commit->stream_id && e.recorded_at_us == commit->recorded_at_us,
                   text);
    data.push_back({e.id, e.type, e.data, e.metadata});
  }
  const json again =
      evs::aws::CommitItem(commit->stream_id, commit->first_version, commit->recorded_at_us, data);
  auto decoded = evs::aws::DecodeCommitItem(again);
  EVS_FUZZ_CHECK(decoded.ok(), decoded.error().message);
  EVS_FUZZ_CHECK(decoded->events.size() == commit->events.size(), text);
  for (size_t i = 0; i < decoded->events.size(); ++i) {
    EVS_FUZZ_CHECK(Same(decoded->events[i], commit->events[i]), text);
  }
  Rebuild(commit->events);
}

void KinesisRecord(std::string_view text) {
  auto events = evs::aws::DecodeCommitRecord(text);
  if (events.ok()) {
    CheckDense(*events);
    // A replayed record's events carry their positions, which only a replay record keeps.
    const bool replayed = std::any_of(events->begin(), events->end(),
                                      [](const evs::RecordedEvent& e) { return e.position > 0; });
    auto encoded =
        replayed ? evs::aws::EncodeReplayRecord(*events) : evs::aws::EncodeCommitRecord(*events);
    EVS_FUZZ_CHECK(encoded.ok(), encoded.error().message);
    auto again = evs::aws::DecodeCommitRecord(*encoded);
    EVS_FUZZ_CHECK(again.ok() && again->size() == events->size(), *encoded);
    for (size_t i = 0; i < events->size(); ++i) {
      EVS_FUZZ_CHECK(Same((*again)[i], (*events)[i]), *encoded);
    }
    Rebuild(*events);
  }
  // Kinesis carries Data as base64.
  auto bytes = evs::aws::Base64Decode(text);
  if (bytes.ok()) {
    const std::string encoded = evs::aws::Base64Encode(*bytes);
    EVS_FUZZ_CHECK(encoded.size() == text.size(), encoded);
    auto again = evs::aws::Base64Decode(encoded);
    EVS_FUZZ_CHECK(again.ok() && *again == *bytes, encoded);
  }
}

void EventId(std::string_view text) {
  const auto id = evs::Uuid::Parse(text);
  if (!id) return;
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  EVS_FUZZ_CHECK(id->ToString() == lower, std::string(text));
  EVS_FUZZ_CHECK(evs::Uuid::Parse(id->ToString()) == id, std::string(text));
}

void CartEvents(std::string_view text) {
  std::vector<evs::RecordedEvent> events;
  while (!text.empty() && events.size() < 256) {
    const size_t split = text.find("\n===\n");
    const std::string_view one = text.substr(0, split);
    text = split == std::string_view::npos ? std::string_view() : text.substr(split + 5);
    const size_t newline = one.find('\n');
    evs::RecordedEvent& e = events.emplace_back();
    e.stream_id = "cart-fuzz";
    e.version = static_cast<int64_t>(events.size());
    e.type = std::string(one.substr(0, newline));
    e.data = newline == std::string_view::npos ? "{}" : std::string(one.substr(newline + 1));
  }
  Rebuild(events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (bytes[0]) {
    case 'd':
      DynamoDbItem(rest);
      break;
    case 'k':
      KinesisRecord(rest);
      break;
    case 'u':
      EventId(rest);
      break;
    default:
      CartEvents(rest);
  }
  return 0;
}
