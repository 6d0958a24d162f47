// Feeds: the input as the JSON body of POST /streams/{id} (the decoding of appended events that
// the HTTP API does, through http::Api on an in-memory store), and as the stored data, metadata
// and timestamp text that common/event_json.h turns into the event JSON the server and the CLI
// print.
// Asserts: nothing crashes, throws or answers 500; a body the API accepts reads back as the
// events it held (type, data and metadata as JSON values, ids when given); those events, encoded
// again as an append body, append to a new store and read back the same (round trip); a parsed
// timestamp formats and parses back to itself; the event JSON of any stored text serializes.
// And the input as a sealed personal field (evs/personal_data.h): parsing never throws, and a
// field it accepts writes back as JSON that parses to the same field.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/event_json.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/personal_data.h"
#include "evs/text.h"
#include "fuzz_check.h"

namespace {

using evs::http::Request;
using evs::http::Response;
using nlohmann::json;

constexpr const char* kStream = "fuzz-stream";

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response Post(evs::http::Api& api, const std::string& body) {
  Request request;
  request.method = "POST";
  request.target = std::string("/streams/") + kStream;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body;
  return api.Handle(request);
}

// The events of the stream, read back through GET.
json ReadBack(evs::http::Api& api) {
  Request request;
  request.method = "GET";
  request.target = std::string("/streams/") + kStream + "?limit=1000";
  const Response response = api.Handle(request);
  EVS_FUZZ_CHECK(response.status == 200, response.body);
  json body = json::parse(response.body, nullptr, false);
  EVS_FUZZ_CHECK(body.is_object() && body["events"].is_array(), response.body);
  EVS_FUZZ_CHECK(body["end_of_stream"] == true, response.body);
  return body["events"];
}

// Appends `body` to a fresh store; the events read back when accepted, null otherwise.
json AppendAndRead(const std::string& body) {
  auto store = evs::NewMemoryEventStore();
  evs::http::Api api(*store);
  const Response response = Post(api, body);
  EVS_FUZZ_CHECK(response.status >= 200 && response.status <= 599, response.body);
  EVS_FUZZ_CHECK(response.status != 500, response.body);
  if (response.status != 201) {
    EVS_FUZZ_CHECK(response.status >= 400 && response.content_type == "application/problem+json",
                   response.body);
    EVS_FUZZ_CHECK(json::parse(response.body, nullptr, false).is_object(), response.body);
    return nullptr;
  }
  return ReadBack(api);
}

void CheckTimestamp(std::string_view text) {
  const std::optional<int64_t> micros = evs::ParseTimestamp(text);
  if (!micros) return;
  const std::string formatted = evs::FormatTimestamp(*micros);
  // Years past 9999 are formatted with more digits than ParseTimestamp reads.
  if (formatted.size() != 27) return;
  const std::optional<int64_t> again = evs::ParseTimestamp(formatted);
  EVS_FUZZ_CHECK(again && *again == *micros,
                 std::string(text) + " -> " + std::to_string(*micros) + " -> " + formatted);
}

void CheckStoredText(std::string_view text) {
  const json parsed = json::parse(text, nullptr, false);
  // Stores hold only what IsValidJson accepts (which bounds nesting at 1024 levels); text that
  // does not parse at all stands for a damaged store, shown as a string.
  if (!parsed.is_discarded() && !evs::IsValidJson(text)) return;
  evs::RecordedEvent event;
  event.stream_id = kStream;
  event.version = 1;
  event.position = 1;
  event.type = "T";
  event.data = std::string(text);
  event.metadata = std::string(text);
  event.recorded_at_us = static_cast<int64_t>(text.size()) * 1'000'003;
  const json shown = evs::EventToJson(event);
  (void)Dump(shown);
  EVS_FUZZ_CHECK(shown["data"] == (parsed.is_discarded() ? json(text) : parsed), std::string(text));
}

}  // namespace

void CheckSealedField(const std::string& input) {
  const json parsed = json::parse(input, nullptr, false);
  if (parsed.is_discarded()) return;
  auto field = evs::ParseSealedField(parsed);
  if (!field.ok()) return;
  const json written = *field;
  auto again = evs::ParseSealedField(written);
  EVS_FUZZ_CHECK(again.ok() && *again == *field, Dump(written));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string input(reinterpret_cast<const char*>(bytes), size);
  CheckTimestamp(input);
  CheckStoredText(input);
  CheckSealedField(input);

  const json events = AppendAndRead(input);
  if (events.is_null()) return 0;
  // Accepted: the body is an array of event objects, read back one for one.
  const json sent = json::parse(input, nullptr, false);
  EVS_FUZZ_CHECK(sent.is_array() && sent.size() == events.size(), Dump(events));
  json again = json::array();
  for (size_t i = 0; i < sent.size(); ++i) {
    const json& in = sent[i];
    const json& out = events[i];
    EVS_FUZZ_CHECK(out["version"] == static_cast<int64_t>(i + 1), Dump(out));
    EVS_FUZZ_CHECK(out["type"] == in["type"], Dump(out));
    EVS_FUZZ_CHECK(out["data"] == in["data"], Dump(out) + " from " + Dump(in));
    // Metadata reads back as sent, except that an object gains the command's correlation and
    // causation ids when it lacks them (a client's own fields win).
    json metadata = in.contains("metadata") ? in["metadata"] : json::object();
    if (metadata.is_object()) {
      for (const char* key : {"correlation_id", "causation_id"}) {
        EVS_FUZZ_CHECK(out["metadata"].contains(key), Dump(out));
        if (!metadata.contains(key)) metadata[key] = out["metadata"][key];
      }
    }
    EVS_FUZZ_CHECK(out["metadata"] == metadata, Dump(out) + " from " + Dump(in));
    if (in.contains("id")) {
      const auto id = evs::Uuid::Parse(in["id"].get<std::string>());
      EVS_FUZZ_CHECK(id && out["id"] == id->ToString(), Dump(out));
    }
    again.push_back({{"id", out["id"]},
                     {"type", out["type"]},
                     {"data", out["data"]},
                     {"metadata", out["metadata"]}});
  }
  // The round trip: what was read, encoded as an append body again, reads back the same.
  const json events_again = AppendAndRead(Dump(again));
  EVS_FUZZ_CHECK(events_again.is_array() && events_again.size() == events.size(), Dump(again));
  for (size_t i = 0; i < events.size(); ++i) {
    for (const char* key : {"id", "type", "data", "metadata", "version", "stream_id"}) {
      EVS_FUZZ_CHECK(events_again[i][key] == events[i][key],
                     Dump(events_again[i]) + " vs " + Dump(events[i]));
    }
  }
  return 0;
}
