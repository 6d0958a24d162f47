// Feeds: archive segment parsing (archive/segment_format.h), in one of four modes chosen by the
// first byte:
//   'r'  the rest as a segment object: CheckSegment, then ParseSegmentEvents when it passes;
//   'z'  the rest compressed into a valid zstd frame, so the header, trailer and checksum
//        checks behind the zstd layer see the text;
//   'f'  the rest as a header line and event lines, given a trailer with the right count and
//        checksum, so that the event-line parser behind the checksum sees the text;
//   'b'  events made from the rest, built into a segment by SegmentBuilder, then bytes of the
//        object and of its text (under a fixed-up trailer) flipped.
// Asserts: nothing crashes; parsed events lie densely over the key's range; a built segment
// checks and parses back to exactly the events it was built from.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "archive/segment_format.h"
#include "evs/text.h"
#include "fuzz_check.h"

namespace {

using evs::archive::CheckedSegment;
using evs::archive::ParsedEvents;

ZSTD_DCtx* Dctx() {
  static ZSTD_DCtx* dctx = ZSTD_createDCtx();
  return dctx;
}

evs::SegmentInfo Info(int64_t first, int64_t last) {
  auto info = evs::archive::ParseSegmentKey(evs::SegmentKey(first, last));
  EVS_FUZZ_CHECK(info.has_value(), evs::SegmentKey(first, last));
  return *info;
}

std::string Compress(std::string_view text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 1);
  EVS_FUZZ_CHECK(!ZSTD_isError(n), ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// Checks and parses `object` as the segment `info`; the events when both pass.
const ParsedEvents* CheckAndParse(const evs::SegmentInfo& info, std::string_view object) {
  static CheckedSegment checked;
  static ParsedEvents parsed;
  if (!evs::archive::CheckSegment(info, object, Dctx(), checked).ok()) return nullptr;
  EVS_FUZZ_CHECK(checked.body_begin <= checked.body_end && checked.body_end <= checked.text.size(),
                 info.key);
  auto count = evs::archive::ParseSegmentEvents(info, checked, parsed);
  if (!count.ok()) return nullptr;
  EVS_FUZZ_CHECK(*count == parsed.count &&
                     static_cast<int64_t>(*count) == info.last_position - info.first_position + 1,
                 info.key);
  evs::RecordedEvent copy;
  for (size_t i = 0; i < parsed.count; ++i) {
    EVS_FUZZ_CHECK(parsed.events[i].position == info.first_position + static_cast<int64_t>(i),
                   info.key);
    evs::archive::CopyEvent(parsed.events[i], copy);
  }
  return &parsed;
}

// `prefix` (header and event lines) with the trailer that the checks expect for `info`.
std::string WithTrailer(std::string_view prefix, const evs::SegmentInfo& info) {
  const int64_t count = info.last_position - info.first_position + 1;
  char checksum[32];
  std::snprintf(checksum, sizeof checksum, "xxh3-64:%016" PRIx64,
                static_cast<uint64_t>(XXH3_64bits(prefix.data(), prefix.size())));
  return std::string(prefix) +
         "{\"format\":\"evs-segment-end\",\"count\":" + std::to_string(count) +
         ",\"first_position\":" + std::to_string(info.first_position) +
         ",\"last_position\":" + std::to_string(info.last_position) + ",\"checksum\":\"" +
         checksum + "\"}\n";
}

size_t Lines(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// Text valid as stored JSON (the store accepts nothing else): `text` itself when it is, else
// `text` as a JSON string when it is valid UTF-8, else "{}".
std::string StoredJson(const std::string& text) {
  if (evs::IsValidJson(text)) return text;
  if (evs::IsValidUtf8(text)) return nlohmann::json(text).dump();
  return "{}";
}

std::string StoredName(std::string text) {
  return !text.empty() && evs::IsValidUtf8(text) ? text : std::string("s");
}

void BuildAndFlip(FuzzedDataProvider& in) {
  const int64_t first = int64_t{1} + in.ConsumeIntegral<uint32_t>();
  const size_t n = in.ConsumeIntegralInRange<size_t>(1, 16);
  std::vector<evs::RecordedEvent> events(n);
  evs::archive::SegmentBuilder builder;
  for (size_t i = 0; i < n; ++i) {
    evs::RecordedEvent& e = events[i];
    e.position = first + static_cast<int64_t>(i);
    e.stream_id = StoredName(in.ConsumeRandomLengthString(40));
    e.version = in.ConsumeIntegral<int64_t>();
    for (auto& byte : e.id.bytes) byte = in.ConsumeIntegral<uint8_t>();
    e.type = StoredName(in.ConsumeRandomLengthString(40));
    e.data = StoredJson(in.ConsumeRandomLengthString(200));
    e.metadata = StoredJson(in.ConsumeRandomLengthString(60));
    e.recorded_at_us = in.ConsumeIntegral<int64_t>();
    builder.Add(e);
  }
  if (in.ConsumeBool()) {
    std::map<std::string, std::string> checkpoints;
    checkpoints[StoredName(in.ConsumeRandomLengthString(20))] =
        StoredName(in.ConsumeRandomLengthString(20));
    builder.SetCheckpoints(checkpoints);
  }
  auto object = builder.Build(1, 0);
  EVS_FUZZ_CHECK(object.ok(), object.error().message);
  const evs::SegmentInfo info = Info(first, first + static_cast<int64_t>(n) - 1);
  const ParsedEvents* parsed = CheckAndParse(info, *object);
  EVS_FUZZ_CHECK(parsed != nullptr, "a built segment does not check and parse");
  for (size_t i = 0; i < n; ++i) {
    const evs::archive::EventView& got = parsed->events[i];
    const evs::RecordedEvent& want = events[i];
    EVS_FUZZ_CHECK(got.position == want.position && got.version == want.version &&
                       got.recorded_at_us == want.recorded_at_us && got.id == want.id &&
                       got.stream_id == want.stream_id && got.type == want.type &&
                       got.data == want.data && got.metadata == want.metadata,
                   "event " + std::to_string(i) + " reads back different: data '" +
                       std::string(got.data) + "' was '" + want.data + "', metadata '" +
                       std::string(got.metadata) + "' was '" + want.metadata + "'");
  }

  // The text as built, with bytes flipped before the trailer, which is then fixed up.
  CheckedSegment checked;
  EVS_FUZZ_CHECK(evs::archive::CheckSegment(info, *object, Dctx(), checked).ok(), info.key);
  std::string prefix(checked.text.view().substr(0, checked.body_end));
  std::string damaged = *object;
  const size_t flips = in.ConsumeIntegralInRange<size_t>(1, 4);
  for (size_t i = 0; i < flips; ++i) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, prefix.size() - 1);
    prefix[at] = static_cast<char>(prefix[at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
    const size_t object_at = in.ConsumeIntegralInRange<size_t>(0, damaged.size() - 1);
    damaged[object_at] =
        static_cast<char>(damaged[object_at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
  }
  CheckAndParse(info, Compress(WithTrailer(prefix, info)));
  CheckAndParse(info, damaged);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const char mode = static_cast<char>(bytes[0]);
  const std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (mode) {
    case 'r':
      CheckAndParse(Info(1, 3), rest);
      break;
    case 'z':
      CheckAndParse(Info(1, static_cast<int64_t>(std::max<size_t>(Lines(rest), 3) - 2)),
                    Compress(rest));
      break;
    case 'f': {
      // The first line is the header; each further line an event.
      const size_t header_end = rest.find('\n');
      const size_t lines =
          header_end == std::string_view::npos ? 0 : Lines(rest.substr(header_end + 1));
      CheckAndParse(
          Info(1, static_cast<int64_t>(std::max<size_t>(lines, 1))),
          Compress(WithTrailer(rest, Info(1, static_cast<int64_t>(std::max<size_t>(lines, 1))))));
      break;
    }
    default: {
      FuzzedDataProvider in(bytes + 1, size - 1);
      BuildAndFlip(in);
    }
  }
  return 0;
}
