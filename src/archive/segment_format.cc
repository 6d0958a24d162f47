#include "archive/segment_format.h"

#include <simdjson.h>
#include <xxhash.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>

#include "common/clock.h"

namespace evs::archive {

constexpr std::string_view kKeySuffix = ".jsonl.zst";

namespace {

constexpr size_t kPositionDigits = 20;
// A decompressed segment larger than this is refused rather than allocated: the archiver cuts
// segments at 64 MiB by default and at most at kMaxSegmentBytes (plus one event), and a corrupted
// size field must not exhaust memory. (The buffer is not zero-filled, so a false claim below
// this costs address space, not memory.)
constexpr uint64_t kMaxSegmentText = kMaxSegmentBytes + (uint64_t{64} << 20);
// The shortest event line the writer can produce is longer than this: a header count above
// body / kMinLineBytes is a lie, refused before anything is sized by it.
constexpr size_t kMinLineBytes = 64;

void AppendInt(std::string& out, int64_t value) {
  char buffer[24];
  auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, end);
}

// Appends `text` as a JSON string. Stream ids and types are valid UTF-8 (the store checks), so
// only quotes, backslashes and control characters need escapes.
void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  size_t plain = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default: {
        char escaped[8];
        std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
        out.append(escaped);
      }
    }
  }
  out.append(text.data() + plain, text.size() - plain);
  out.push_back('"');
}

// Whether stored JSON text can be embedded as a value and read back byte for byte: on one line,
// with no space around it (a parser returns a value's text without the space around it).
bool EmbeddableAsIs(std::string_view json) {
  if (json.empty()) return false;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (is_space(json.front()) || is_space(json.back())) return false;
  // Two memchr passes: string_view::find_first_of calls memchr on its needle per byte.
  return std::memchr(json.data(), '\n', json.size()) == nullptr &&
         std::memchr(json.data(), '\r', json.size()) == nullptr;
}

void AppendJsonField(std::string& out, std::string_view name, std::string_view json) {
  out.push_back(',');
  out.push_back('"');
  out.append(name);
  if (EmbeddableAsIs(json)) {
    out.append("\":");
    out.append(json);
  } else {
    out.append("_text\":");
    AppendJsonString(out, json);
  }
}

std::string ChecksumText(uint64_t hash) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "xxh3-64:%016" PRIx64, hash);
  return buffer;
}

Error Corrupt(const SegmentInfo& segment, const std::string& what) {
  return Error::Make(ErrorCode::kCorruption, "archive object '" + segment.key + "': " + what);
}

// simdjson reads up to SIMDJSON_PADDING bytes past a document; the segment text keeps that much
// spare capacity, so any line inside it can be parsed in place.
simdjson::padded_string_view PaddedLine(const SegmentText& text, size_t begin, size_t end) {
  return simdjson::padded_string_view(text.data() + begin, end - begin, text.capacity() - begin);
}

struct Trailer {
  int64_t count = -1;
  int64_t first_position = -1;
  int64_t last_position = -1;
  std::string_view checksum;
};

// A JSON object of strings into `out`.
simdjson::error_code ParseCheckpoints(simdjson::ondemand::value value,
                                      std::map<std::string, std::string>& out) {
  simdjson::ondemand::object object;
  if (auto error = value.get_object().get(object)) return error;
  for (auto field : object) {
    std::string_view key;
    std::string_view text;
    if (auto error = field.unescaped_key().get(key)) return error;
    if (auto error = field.value().get_string().get(text)) return error;
    out.emplace(key, text);
  }
  return simdjson::SUCCESS;
}

// Parses the header line; a header that is not one, or of a version this build does not read,
// is an error.
std::optional<std::string> ParseHeader(simdjson::ondemand::parser& parser,
                                       simdjson::padded_string_view line, SegmentHeader& header) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(line).get(doc) || doc.get_object().get(object)) {
    return "the first line is not a segment header";
  }
  bool is_header = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "the header is not valid JSON";
    simdjson::ondemand::value value;
    simdjson::error_code error = field.value().get(value);
    if (key == "format") {
      std::string_view format;
      error = value.get_string().get(format);
      is_header = format == "evs-segment";
    } else if (key == "version") {
      error = value.get_int64().get(header.version);
    } else if (key == "first_position") {
      error = value.get_int64().get(header.first_position);
    } else if (key == "last_position") {
      error = value.get_int64().get(header.last_position);
    } else if (key == "count") {
      error = value.get_int64().get(header.count);
    } else if (key == "first_recorded_at_us") {
      error = value.get_int64().get(header.first_recorded_at_us);
    } else if (key == "last_recorded_at_us") {
      error = value.get_int64().get(header.last_recorded_at_us);
    } else if (key == "checkpoints") {
      error = ParseCheckpoints(value, header.checkpoints);
    }
    if (error) return "the header's \"" + std::string(key) + "\" is malformed";
  }
  if (!is_header) return "the first line is not a segment header";
  if (header.version != kSegmentFormatVersion) {
    return "unknown segment format version " + std::to_string(header.version) +
           " (this evs reads version " + std::to_string(kSegmentFormatVersion) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> ParseTrailer(simdjson::ondemand::parser& parser,
                                        simdjson::padded_string_view line, Trailer& trailer) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(line).get(doc) || doc.get_object().get(object)) {
    return "the last line is not a segment trailer (is the object truncated?)";
  }
  bool is_trailer = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "the trailer is not valid JSON";
    simdjson::ondemand::value value;
    simdjson::error_code error = field.value().get(value);
    if (key == "format") {
      std::string_view format;
      error = value.get_string().get(format);
      is_trailer = format == "evs-segment-end";
    } else if (key == "count") {
      error = value.get_int64().get(trailer.count);
    } else if (key == "first_position") {
      error = value.get_int64().get(trailer.first_position);
    } else if (key == "last_position") {
      error = value.get_int64().get(trailer.last_position);
    } else if (key == "checksum") {
      error = value.get_string().get(trailer.checksum);
    }
    if (error) return "the trailer's \"" + std::string(key) + "\" is malformed";
  }
  if (!is_trailer) return "the last line is not a segment trailer (is the object truncated?)";
  return std::nullopt;
}

// The text of a JSON value as it stands in the line.
simdjson::error_code RawValue(simdjson::ondemand::value value, std::string_view& out) {
  simdjson::ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object object;
      if (auto error = value.get_object().get(object)) return error;
      return object.raw_json().get(out);
    }
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array array;
      if (auto error = value.get_array().get(array)) return error;
      return array.raw_json().get(out);
    }
    default: {
      out = value.raw_json_token();
      while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.remove_suffix(1);
      return simdjson::SUCCESS;
    }
  }
}

// A JSON string's text: a view into the line when it holds no escape (the usual case), else the
// unescaped text kept in `unescaped` (simdjson's own buffer is reused by later lines).
simdjson::error_code StringValue(simdjson::ondemand::value value,
                                 std::deque<std::string>& unescaped, std::string_view& out) {
  std::string_view token = value.raw_json_token();  // peeks: `"..."`, maybe with space after
  std::string_view text;
  if (auto error = value.get_string().get(text)) return error;
  while (!token.empty() && token.back() != '"') token.remove_suffix(1);
  if (token.size() >= 2 && token.size() - 2 == text.size() &&
      std::memchr(token.data(), '\\', token.size()) == nullptr) {
    out = token.substr(1, text.size());
  } else {
    out = unescaped.emplace_back(text);
  }
  return simdjson::SUCCESS;
}

// Parses one event object into `event`; the problem otherwise.
std::optional<std::string> ParseEventObject(simdjson::ondemand::object object,
                                            std::deque<std::string>& unescaped, EventView& event) {
  enum : unsigned {
    kPosition = 1,
    kStream = 2,
    kVersion = 4,
    kId = 8,
    kType = 16,
    kTime = 32,
    kData = 64,
    kMetadata = 128,
    kAll = 255
  };
  unsigned seen = 0;
  for (auto field : object) {
    // Raw keys: the writer never escapes them, and comparing raw saves unescaping each one.
    simdjson::ondemand::raw_json_string key;
    if (field.key().get(key)) return std::string("not valid JSON");
    simdjson::ondemand::value value;
    simdjson::error_code error = field.value().get(value);
    std::string_view text;
    if (key == "position") {
      error = value.get_int64().get(event.position);
      seen |= kPosition;
    } else if (key == "stream_id") {
      error = StringValue(value, unescaped, event.stream_id);
      seen |= kStream;
    } else if (key == "version") {
      error = value.get_int64().get(event.version);
      seen |= kVersion;
    } else if (key == "id") {
      if (!(error = value.get_string().get(text))) {
        auto id = Uuid::Parse(text);
        if (!id) return "\"id\" is not a UUID: '" + std::string(text) + "'";
        event.id = *id;
      }
      seen |= kId;
    } else if (key == "type") {
      error = StringValue(value, unescaped, event.type);
      seen |= kType;
    } else if (key == "recorded_at_us") {
      error = value.get_int64().get(event.recorded_at_us);
      seen |= kTime;
    } else if (key == "data") {
      error = RawValue(value, event.data);
      seen |= kData;
    } else if (key == "data_text") {
      error = StringValue(value, unescaped, event.data);
      seen |= kData;
    } else if (key == "metadata") {
      error = RawValue(value, event.metadata);
      seen |= kMetadata;
    } else if (key == "metadata_text") {
      error = StringValue(value, unescaped, event.metadata);
      seen |= kMetadata;
    }
    if (error) return std::string("a field is malformed (") + simdjson::error_message(error) + ")";
  }
  if (seen != kAll) {
    static constexpr const char* kNames[] = {"position", "stream_id",      "version", "id",
                                             "type",     "recorded_at_us", "data",    "metadata"};
    for (unsigned bit = 0; bit < 8; ++bit) {
      if (!(seen & (1u << bit))) return "\"" + std::string(kNames[bit]) + "\" is missing";
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<SegmentInfo> ParseSegmentKey(std::string_view key) {
  SegmentInfo info;
  info.key = std::string(key);
  if (!key.starts_with(kSegmentKeyPrefix) || !key.ends_with(kKeySuffix)) return std::nullopt;
  key.remove_prefix(kSegmentKeyPrefix.size());
  key.remove_suffix(kKeySuffix.size());
  if (key.size() != 2 * kPositionDigits + 1 || key[kPositionDigits] != '-') return std::nullopt;
  auto number = [](std::string_view digits, int64_t& out) {
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
    }
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return error == std::errc() && end == digits.data() + digits.size();
  };
  if (!number(key.substr(0, kPositionDigits), info.first_position) ||
      !number(key.substr(kPositionDigits + 1), info.last_position) || info.first_position < 1 ||
      info.last_position < info.first_position || info.last_position == INT64_MAX) {
    return std::nullopt;
  }
  return info;
}

SegmentBuilder::SegmentBuilder() : cctx_(ZSTD_createCCtx()) {}
SegmentBuilder::~SegmentBuilder() { ZSTD_freeCCtx(cctx_); }

void SegmentBuilder::Add(const RecordedEvent& e) {
  if (count_ == 0) {
    first_position_ = e.position;
    first_recorded_at_us_ = e.recorded_at_us;
  }
  last_position_ = e.position;
  last_recorded_at_us_ = e.recorded_at_us;
  last_id_ = e.id;
  ++count_;
  std::string& out = body_;
  out.append("{\"position\":");
  AppendInt(out, e.position);
  out.append(",\"stream_id\":");
  AppendJsonString(out, e.stream_id);
  out.append(",\"version\":");
  AppendInt(out, e.version);
  out.append(",\"id\":\"");
  char id[36];
  e.id.FormatTo(id);
  out.append(id, sizeof(id));
  out.append("\",\"type\":");
  AppendJsonString(out, e.type);
  out.append(",\"recorded_at_us\":");
  AppendInt(out, e.recorded_at_us);
  AppendJsonField(out, "data", e.data);
  AppendJsonField(out, "metadata", e.metadata);
  out.append("}\n");
}

void SegmentBuilder::Clear() {
  body_.clear();
  count_ = 0;
  first_position_ = last_position_ = 0;
  first_recorded_at_us_ = last_recorded_at_us_ = 0;
  checkpoints_.clear();
}

Status FetchSegment(ObjectStore& objects, const SegmentInfo& segment, ZSTD_DCtx* dctx,
                    CheckedSegment& out, uint64_t* bytes) {
  auto object = objects.Get(segment.key);
  if (!object.ok()) {
    if (object.error().code == ErrorCode::kNotFound)
      return Corrupt(segment, "was listed but is gone");
    return object.error();
  }
  if (bytes) *bytes = object->size();
  return CheckSegment(segment, *object, dctx, out);
}

void SegmentText::Resize(size_t size) {
  if (size + simdjson::SIMDJSON_PADDING > capacity_) {
    capacity_ = size + simdjson::SIMDJSON_PADDING;
    buffer_.reset(new char[capacity_]);
  }
  size_ = size;
  // simdjson reads into the padding; defined bytes keep that well-defined (and valgrind quiet).
  std::memset(buffer_.get() + size, 0, simdjson::SIMDJSON_PADDING);
}

void CopyEvent(const EventView& view, RecordedEvent& out) {
  out.stream_id.assign(view.stream_id);
  out.version = view.version;
  out.position = view.position;
  out.id = view.id;
  out.type.assign(view.type);
  out.data.assign(view.data);
  out.metadata.assign(view.metadata);
  out.recorded_at_us = view.recorded_at_us;
}

void SegmentBuilder::Swap(SegmentBuilder& other) {
  std::swap(body_, other.body_);
  std::swap(count_, other.count_);
  std::swap(first_position_, other.first_position_);
  std::swap(last_position_, other.last_position_);
  std::swap(first_recorded_at_us_, other.first_recorded_at_us_);
  std::swap(last_recorded_at_us_, other.last_recorded_at_us_);
  std::swap(last_id_, other.last_id_);
  std::swap(checkpoints_, other.checkpoints_);
  std::swap(cctx_, other.cctx_);
}

Result<std::string> SegmentBuilder::Build(int level, int64_t created_at_us) {
  std::string header = "{\"format\":\"evs-segment\",\"version\":";
  AppendInt(header, kSegmentFormatVersion);
  header.append(",\"first_position\":");
  AppendInt(header, first_position_);
  header.append(",\"last_position\":");
  AppendInt(header, last_position_);
  header.append(",\"count\":");
  AppendInt(header, static_cast<int64_t>(count_));
  header.append(",\"first_recorded_at_us\":");
  AppendInt(header, first_recorded_at_us_);
  header.append(",\"last_recorded_at_us\":");
  AppendInt(header, last_recorded_at_us_);
  header.append(",\"created_at_us\":");
  AppendInt(header, created_at_us);
  if (!checkpoints_.empty()) {
    header.append(",\"checkpoints\":{");
    for (const auto& [name, checkpoint] : checkpoints_) {
      if (header.back() != '{') header.push_back(',');
      AppendJsonString(header, name);
      header.push_back(':');
      AppendJsonString(header, checkpoint);
    }
    header.push_back('}');
  }
  header.append("}\n");

  XXH3_state_t* hash = XXH3_createState();
  XXH3_64bits_reset(hash);
  XXH3_64bits_update(hash, header.data(), header.size());
  XXH3_64bits_update(hash, body_.data(), body_.size());
  const uint64_t digest = XXH3_64bits_digest(hash);
  XXH3_freeState(hash);

  std::string trailer = "{\"format\":\"evs-segment-end\",\"count\":";
  AppendInt(trailer, static_cast<int64_t>(count_));
  trailer.append(",\"first_position\":");
  AppendInt(trailer, first_position_);
  trailer.append(",\"last_position\":");
  AppendInt(trailer, last_position_);
  trailer.append(",\"checksum\":\"");
  trailer.append(ChecksumText(digest));
  trailer.append("\"}\n");

  // One frame with its content size and zstd's own checksum, streamed from the three parts.
  const size_t total = header.size() + body_.size() + trailer.size();
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setPledgedSrcSize(cctx_, total);
  std::string object;
  object.resize(ZSTD_compressBound(total));
  ZSTD_outBuffer out{object.data(), object.size(), 0};
  const std::string_view parts[] = {header, body_, trailer};
  for (size_t i = 0; i < 3; ++i) {
    ZSTD_inBuffer in{parts[i].data(), parts[i].size(), 0};
    const ZSTD_EndDirective mode = i == 2 ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      const size_t left = ZSTD_compressStream2(cctx_, &out, &in, mode);
      if (ZSTD_isError(left)) {
        return Error::Make(ErrorCode::kIOError,
                           std::string("cannot compress a segment: ") + ZSTD_getErrorName(left));
      }
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
  }
  object.resize(out.pos);
  return object;
}

Status CheckSegment(const SegmentInfo& segment, std::string_view object, ZSTD_DCtx* dctx,
                    CheckedSegment& out) {
  const unsigned long long size = ZSTD_getFrameContentSize(object.data(), object.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Corrupt(segment, "not a zstd segment (" + std::to_string(object.size()) + " bytes)");
  }
  if (size > kMaxSegmentText) {
    return Corrupt(segment, "claims " + std::to_string(size) + " bytes of text, over the limit");
  }
  SegmentText& buffer = out.text;
  buffer.Resize(size);
  const size_t got =
      ZSTD_decompressDCtx(dctx, buffer.data(), buffer.size(), object.data(), object.size());
  if (ZSTD_isError(got)) {
    return Corrupt(segment, std::string("cannot be decompressed (") + ZSTD_getErrorName(got) +
                                "): truncated or damaged");
  }
  if (got != size) return Corrupt(segment, "decompressed to fewer bytes than its frame says");

  const std::string_view text = buffer.view();
  const size_t header_end = text.find('\n');
  if (header_end == std::string::npos || text.empty() || text.back() != '\n') {
    return Corrupt(segment, "does not end with a complete line");
  }
  thread_local simdjson::ondemand::parser parser;
  out.header = SegmentHeader{};
  if (auto problem = ParseHeader(parser, PaddedLine(buffer, 0, header_end), out.header)) {
    return Corrupt(segment, *problem);
  }
  const size_t trailer_begin = text.rfind('\n', text.size() - 2) + 1;
  if (trailer_begin <= header_end) return Corrupt(segment, "has no trailer line");
  Trailer trailer;
  if (auto problem =
          ParseTrailer(parser, PaddedLine(buffer, trailer_begin, text.size() - 1), trailer)) {
    return Corrupt(segment, *problem);
  }
  const std::string checksum = ChecksumText(XXH3_64bits(text.data(), trailer_begin));
  if (trailer.checksum != checksum) {
    return Corrupt(segment, "checksum mismatch: the trailer says " + std::string(trailer.checksum) +
                                ", the content has " + checksum);
  }
  const SegmentHeader& h = out.header;
  if (h.first_position != segment.first_position || h.last_position != segment.last_position) {
    return Corrupt(segment, "holds positions " + std::to_string(h.first_position) + ".." +
                                std::to_string(h.last_position) + ", not those of its key");
  }
  if (h.count != h.last_position - h.first_position + 1 || trailer.count != h.count ||
      trailer.first_position != h.first_position || trailer.last_position != h.last_position) {
    return Corrupt(segment, "header and trailer disagree on its range or count");
  }
  out.body_begin = header_end + 1;
  out.body_end = trailer_begin;
  return OkStatus();
}

namespace {

// simdjson's batch: stage 1 indexes this many bytes at a time, and no line may be longer. A
// fixed size lets each thread's parser keep its buffers (it reallocates on every other size);
// lines longer than this (events near the 1 MiB limit with escapes, or raised limits) are
// parsed again with a batch as large as the segment.
constexpr size_t kParseBatchBytes = 4u << 20;

// Parses the lines with `parser` in batches of `batch_bytes`; simdjson::CAPACITY in `capacity`
// when a line does not fit a batch.
Result<size_t> ParseLines(const SegmentInfo& segment, const CheckedSegment& checked,
                          ParsedEvents& parsed, simdjson::ondemand::parser& parser,
                          size_t batch_bytes, bool& too_long) {
  too_long = false;
  const size_t count = static_cast<size_t>(checked.header.count);
  std::vector<EventView>& events = parsed.events;
  if (events.size() < count) events.resize(count);
  parsed.unescaped.clear();
  parsed.count = 0;
  const size_t body = checked.body_end - checked.body_begin;
  simdjson::ondemand::document_stream stream;
  if (auto error = parser.iterate_many(checked.text.data() + checked.body_begin, body, batch_bytes)
                       .get(stream)) {
    return Corrupt(segment, std::string("its event lines cannot be parsed (") +
                                simdjson::error_message(error) + ")");
  }
  size_t n = 0;
  int64_t expected = checked.header.first_position;
  for (auto it = stream.begin(); it != stream.end(); ++it, ++n) {
    if (n == count) return Corrupt(segment, "holds more event lines than its header counts");
    simdjson::ondemand::document_reference doc;
    simdjson::ondemand::object object;
    const simdjson::error_code error = (*it).get(doc);
    if (error == simdjson::CAPACITY) {
      too_long = true;
      return Corrupt(segment, "line " + std::to_string(n + 2) + " is too long");
    }
    if (error || doc.get_object().get(object)) {
      return Corrupt(segment, "line " + std::to_string(n + 2) + ": not a JSON object");
    }
    EventView& event = events[n];
    if (auto problem = ParseEventObject(object, parsed.unescaped, event)) {
      return Corrupt(segment, "line " + std::to_string(n + 2) + ": " + *problem);
    }
    if (event.position != expected) {
      return Corrupt(segment, "line " + std::to_string(n + 2) + " holds position " +
                                  std::to_string(event.position) + " where " +
                                  std::to_string(expected) + " belongs");
    }
    ++expected;
  }
  if (stream.truncated_bytes() != 0) {
    return Corrupt(segment, "its last event line is incomplete");
  }
  if (n != count) {
    return Corrupt(segment, "holds " + std::to_string(n) + " event lines, its header counts " +
                                std::to_string(count));
  }
  parsed.count = count;
  return count;
}

}  // namespace

Result<size_t> ParseSegmentEvents(const SegmentInfo& segment, const CheckedSegment& checked,
                                  ParsedEvents& parsed) {
  const size_t body = checked.body_end - checked.body_begin;
  if (body == 0) {
    parsed.count = 0;
    if (checked.header.count != 0) {
      return Corrupt(segment, "holds no event lines, its header counts " +
                                  std::to_string(checked.header.count));
    }
    return size_t{0};
  }
  if (static_cast<uint64_t>(checked.header.count) > body / kMinLineBytes + 1) {
    return Corrupt(segment, "its header counts " + std::to_string(checked.header.count) +
                                " events, more than its " + std::to_string(body) +
                                " bytes of lines can hold");
  }
  thread_local simdjson::ondemand::parser parser;
  bool too_long = false;
  auto parsed_count = ParseLines(segment, checked, parsed, parser, kParseBatchBytes, too_long);
  if (!too_long) return parsed_count;
  simdjson::ondemand::parser large;
  return ParseLines(segment, checked, parsed, large,
                    std::max<size_t>(body, simdjson::dom::MINIMAL_BATCH_SIZE), too_long);
}

}  // namespace evs::archive

namespace evs {

std::string SegmentKey(int64_t first_position, int64_t last_position) {
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "%.*s%020" PRId64 "-%020" PRId64 "%.*s",
                static_cast<int>(archive::kSegmentKeyPrefix.size()),
                archive::kSegmentKeyPrefix.data(), first_position, last_position,
                static_cast<int>(archive::kKeySuffix.size()), archive::kKeySuffix.data());
  return buffer;
}

}  // namespace evs
