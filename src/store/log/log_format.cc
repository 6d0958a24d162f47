#include "store/log/log_format.h"

#include <xxhash.h>

#include <cstring>

#include "store/log/log_bytes.h"

namespace evs::store::log {
namespace {

// The fields every payload starts with.
struct LogCommonFields {
  uint64_t attempt = 0;
  int64_t first_position = 0;
};

// Writes the header in front of the payload that `out` holds from `start` + header on.
void LogSealRecord(std::string& out, size_t start, RecordKind kind, uint64_t& chain) {
  const size_t length = out.size() - start - kRecordHeaderBytes;
  char* h = out.data() + start;
  for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  h[12] = static_cast<char>(kind);
  h[13] = h[14] = h[15] = 0;
  uint64_t sum = XXH3_64bits_withSeed(h + 8, 8 + length, chain);
  if (sum == 0) sum = 1;  // 0 is the checksum of no record (a zero header)
  for (int i = 0; i < 8; ++i) h[i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  chain = sum;
}

}  // namespace

std::string SegmentHeader(uint32_t version) {
  std::string h(kSegmentMagic, sizeof kSegmentMagic);
  LogPutU32(h, version);
  LogPutU32(h, 0);
  return h;
}

bool IsSegmentHeader(const char* bytes) {
  if (std::memcmp(bytes, kSegmentMagic, sizeof kSegmentMagic) != 0) return false;
  const uint32_t version = LogGetU32(bytes + 8);
  return version == kFormatVersion1 || version == kFormatVersion;
}

uint32_t SegmentHeaderVersion(const char* bytes) { return LogGetU32(bytes + 8); }

void ResealRecord(char* record, uint64_t& chain) {
  const uint32_t length = LogGetU32(record + 8);
  uint64_t sum = XXH3_64bits_withSeed(record + 8, 8 + size_t{length}, chain);
  if (sum == 0) sum = 1;
  for (int i = 0; i < 8; ++i) record[i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  chain = sum;
}

void AppendCommitRecord(std::string& out, uint64_t& chain, uint64_t attempt, int64_t first_position,
                        int64_t first_version, int64_t recorded_at_us, std::string_view stream,
                        const std::vector<EventData>& events) {
  const size_t start = out.size();
  out.append(kRecordHeaderBytes, '\0');
  LogPutU64(out, attempt);
  LogPutI64(out, first_position);
  LogPutI64(out, first_version);
  LogPutI64(out, recorded_at_us);
  LogPutU32(out, static_cast<uint32_t>(events.size()));
  LogPutString(out, stream);
  for (const EventData& e : events) {
    out.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    LogPutString(out, e.type);
    LogPutString(out, e.data);
    LogPutString(out, e.metadata);
  }
  LogSealRecord(out, start, RecordKind::kCommit, chain);
}

void AppendLifecycleRecord(std::string& out, uint64_t& chain, uint64_t attempt,
                           int64_t next_position, std::string_view stream, const StreamHead& head) {
  const size_t start = out.size();
  out.append(kRecordHeaderBytes, '\0');
  LogPutU64(out, attempt);
  LogPutI64(out, next_position);
  LogPutString(out, stream);
  const StreamMetadata none;
  const StreamMetadata& m = head.metadata ? *head.metadata : none;
  uint8_t flags = (m.max_count ? 1 : 0) | (m.max_age_seconds ? 2 : 0) |
                  (m.truncate_before ? 4 : 0) | (head.hard_deleted ? 8 : 0) |
                  (head.metadata ? 16 : 0);
  out.push_back(static_cast<char>(flags));
  LogPutI64(out, m.max_count.value_or(0));
  LogPutI64(out, m.max_age_seconds.value_or(0));
  LogPutI64(out, m.truncate_before.value_or(0));
  LogPutI64(out, head.deleted_through);
  LogPutString(out, m.custom);
  LogSealRecord(out, start, RecordKind::kLifecycle, chain);
}

RecordHeader ParseRecordHeader(const char* bytes) {
  RecordHeader h;
  h.checksum = LogGetU64(bytes);
  h.length = LogGetU32(bytes + 8);
  h.kind = static_cast<uint8_t>(bytes[12]);
  if (bytes[13] != 0 || bytes[14] != 0 || bytes[15] != 0) h.kind = 0xff;  // never a kind
  return h;
}

bool ChecksOut(const RecordHeader& header, const char* record, uint64_t chain) {
  uint64_t sum = XXH3_64bits_withSeed(record + 8, 8 + size_t{header.length}, chain);
  if (sum == 0) sum = 1;
  return sum == header.checksum;
}

namespace {

bool LogReadCommon(LogBytesReader& r, LogCommonFields& f) {
  return r.U64(f.attempt) && r.I64(f.first_position);
}

// Walks a commit payload's events; `visit(index, id, type, data, metadata)`.
template <class Visit>
bool LogWalkEvents(LogBytesReader& r, uint32_t count, Visit&& visit) {
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view id, type, data, metadata;
    if (!r.Bytes(16, id) || !r.String(type) || !r.String(data) || !r.String(metadata)) {
      return false;
    }
    if (!visit(i, id, type, data, metadata)) return true;
  }
  return true;
}

}  // namespace

namespace {

// The fields before a commit's events (all of a lifecycle record's that RecordInfo holds).
std::optional<RecordInfo> LogParseFront(uint8_t kind, LogBytesReader& r) {
  LogCommonFields f;
  RecordInfo info;
  if (!LogReadCommon(r, f)) return std::nullopt;
  info.attempt = f.attempt;
  info.first_position = f.first_position;
  if (kind == static_cast<uint8_t>(RecordKind::kCommit)) {
    info.kind = RecordKind::kCommit;
    if (!r.I64(info.first_version) || !r.I64(info.recorded_at_us) || !r.U32(info.count) ||
        !r.String(info.stream) || info.count == 0 || info.first_version < 1) {
      return std::nullopt;
    }
    return info;
  }
  if (kind == static_cast<uint8_t>(RecordKind::kLifecycle)) {
    info.kind = RecordKind::kLifecycle;
    if (!r.String(info.stream)) return std::nullopt;
    return info;
  }
  return std::nullopt;
}

}  // namespace

std::optional<RecordInfo> ParseRecordInfo(uint8_t kind, std::string_view payload) {
  LogBytesReader r(payload);
  auto info = LogParseFront(kind, r);
  if (!info || info->kind != RecordKind::kCommit) return info;
  const bool ok = LogWalkEvents(r, info->count, [](uint32_t, auto&&...) { return true; });
  if (!ok || !r.Empty()) return std::nullopt;
  return info;
}

std::optional<RecordInfo> ParseRecordFront(uint8_t kind, std::string_view payload) {
  LogBytesReader r(payload);
  return LogParseFront(kind, r);
}

bool DecodeEvents(std::string_view payload, size_t skip, size_t limit,
                  std::vector<RecordedEvent>& out) {
  size_t used = out.size();
  return DecodeEventsInto(payload, skip, limit, out, used);
}

bool DecodeEventsInto(std::string_view payload, size_t skip, size_t limit,
                      std::vector<RecordedEvent>& out, size_t& used) {
  LogBytesReader r(payload);
  LogCommonFields f;
  int64_t first_version, recorded;
  uint32_t count;
  std::string_view stream;
  if (!LogReadCommon(r, f) || !r.I64(first_version) || !r.I64(recorded) || !r.U32(count) ||
      !r.String(stream)) {
    return false;
  }
  size_t taken = 0;
  bool whole = true;  // every event walked: then nothing may follow them
  const bool ok = LogWalkEvents(r, count,
                                [&](uint32_t i, std::string_view id, std::string_view type,
                                    std::string_view data, std::string_view metadata) {
                                  if (i < skip) return true;
                                  if (taken == limit) {
                                    whole = false;
                                    return false;
                                  }
                                  ++taken;
                                  RecordedEvent& e =
                                      used < out.size() ? out[used] : out.emplace_back();
                                  ++used;
                                  e.stream_id.assign(stream);
                                  e.version = first_version + i;
                                  e.position = f.first_position + i;
                                  std::memcpy(e.id.bytes.data(), id.data(), 16);
                                  e.type.assign(type);
                                  e.data.assign(data);
                                  e.metadata.assign(metadata);
                                  e.recorded_at_us = recorded;
                                  return true;
                                });
  return ok && (!whole || r.Empty());
}

bool DecodeIds(std::string_view payload, std::vector<CommittedId>& out) {
  LogBytesReader r(payload);
  LogCommonFields f;
  int64_t first_version, recorded;
  uint32_t count;
  std::string_view stream;
  if (!LogReadCommon(r, f) || !r.I64(first_version) || !r.I64(recorded) || !r.U32(count) ||
      !r.String(stream)) {
    return false;
  }
  return LogWalkEvents(r, count, [&](uint32_t i, std::string_view id, auto&&...) {
    CommittedId& c = out.emplace_back();
    std::memcpy(c.id.bytes.data(), id.data(), 16);
    c.position = f.first_position + i;
    return true;
  });
}

bool DecodeLifecycle(std::string_view payload, StreamHead& head) {
  LogBytesReader r(payload);
  LogCommonFields f;
  std::string_view stream, custom;
  uint8_t flags;
  int64_t max_count, max_age, truncate_before, deleted_through;
  if (!LogReadCommon(r, f) || !r.String(stream) || !r.U8(flags) || !r.I64(max_count) ||
      !r.I64(max_age) || !r.I64(truncate_before) || !r.I64(deleted_through) || !r.String(custom) ||
      !r.Empty()) {
    return false;
  }
  head.deleted_through = deleted_through;
  head.hard_deleted = (flags & 8) != 0;
  if (flags & 16) {
    auto m = std::make_shared<StreamMetadata>();
    if (flags & 1) m->max_count = max_count;
    if (flags & 2) m->max_age_seconds = max_age;
    if (flags & 4) m->truncate_before = truncate_before;
    m->custom.assign(custom);
    head.metadata = std::move(m);
  } else {
    head.metadata.reset();
  }
  return true;
}

}  // namespace evs::store::log
