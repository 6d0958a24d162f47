#include "store/log/log_checkpoint.h"

#include <fcntl.h>
#include <xxhash.h>

#include <cstring>

#include "common/system_error.h"
#include "store/log/log_bytes.h"

namespace evs::store::log {
namespace {

constexpr char kLogCheckpointMagic[8] = {'E', 'V', 'S', 'L', 'I', 'D', 'X', '\n'};
constexpr uint32_t kLogCheckpointVersion = 1;

// The checkpoint's fields (log_bytes.h), and the places of records as one packed u64.
class CheckpointOut {
 public:
  void U8(uint8_t v) { LogPutU8(out, v); }
  void U32(uint32_t v) { LogPutU32(out, v); }
  void U64(uint64_t v) { LogPutU64(out, v); }
  void I64(int64_t v) { LogPutI64(out, v); }
  void String(std::string_view s) { LogPutString(out, s); }
  void Location(RecordLocation l) { U64(PackLocation(l)); }
  std::string out;
};

class CheckpointIn : public LogBytesReader {
 public:
  using LogBytesReader::LogBytesReader;
  bool String(std::string& s) {
    std::string_view v;
    if (!LogBytesReader::String(v)) return false;
    s.assign(v);
    return true;
  }
  bool Location(RecordLocation& l) {
    uint64_t packed;
    if (!U64(packed)) return false;
    l = UnpackLocation(packed);
    return true;
  }
  // A count of items of at least `item_bytes` each that the rest can hold.
  bool Count(uint64_t& n, size_t item_bytes) { return U64(n) && n <= Remaining() / item_bytes; }
};

void LogPutHead(CheckpointOut& out, const StreamHead& head) {
  out.I64(head.number);
  out.I64(head.version);
  out.I64(head.deleted_through);
  const StreamMetadata none;
  const StreamMetadata& m = head.metadata ? *head.metadata : none;
  out.U8(static_cast<uint8_t>((head.hard_deleted ? 1 : 0) | (head.metadata ? 2 : 0) |
                              (m.max_count ? 4 : 0) | (m.max_age_seconds ? 8 : 0) |
                              (m.truncate_before ? 16 : 0)));
  out.I64(m.max_count.value_or(0));
  out.I64(m.max_age_seconds.value_or(0));
  out.I64(m.truncate_before.value_or(0));
  out.String(m.custom);
}

bool LogGetHead(CheckpointIn& in, StreamHead& head) {
  uint8_t flags;
  int64_t max_count, max_age, truncate_before;
  std::string custom;
  if (!in.I64(head.number) || !in.I64(head.version) || !in.I64(head.deleted_through) ||
      !in.U8(flags) || !in.I64(max_count) || !in.I64(max_age) || !in.I64(truncate_before) ||
      !in.String(custom)) {
    return false;
  }
  head.hard_deleted = (flags & 1) != 0;
  if (flags & 2) {
    auto m = std::make_shared<StreamMetadata>();
    if (flags & 4) m->max_count = max_count;
    if (flags & 8) m->max_age_seconds = max_age;
    if (flags & 16) m->truncate_before = truncate_before;
    m->custom = std::move(custom);
    head.metadata = std::move(m);
  }
  return true;
}

}  // namespace

std::string LogCheckpointPath(const std::string& folder) { return folder + "/INDEX"; }

Status WriteLogCheckpoint(FileSystem& fs, const std::string& folder, const LogIndex& index,
                          const LogCheckpoint& checkpoint) {
  CheckpointOut out;
  out.out.append(kLogCheckpointMagic, sizeof kLogCheckpointMagic);
  out.U32(kLogCheckpointVersion);
  out.U32(0);
  const LogEnd& e = checkpoint.end;
  out.Location(e.end);
  out.Location(e.last_record);
  out.U64(e.chain);
  out.I64(e.next_position);
  out.U64(e.attempt);
  out.I64(e.last_recorded_us);
  out.U64(checkpoint.heads.size());
  for (const auto& [stream, head] : checkpoint.heads) {
    out.String(stream);
    LogPutHead(out, head);
  }
  // The index's streams: the same streams, in the index's order.
  size_t streams_at = out.out.size();
  out.U64(0);
  uint64_t streams = 0;
  std::vector<LogIndex::Mark> marks;
  index.Visit(
      [&](const std::string& stream, const std::vector<StreamCommit>& commits) {
        ++streams;
        out.String(stream);
        out.U64(commits.size());
        for (const StreamCommit& c : commits) {
          out.I64(c.first_version);
          out.U64(c.packed);
        }
      },
      [&](const LogIndex::Mark& m) { marks.push_back(m); });
  for (int i = 0; i < 8; ++i)
    out.out[streams_at + i] = static_cast<char>((streams >> (8 * i)) & 0xff);
  out.U64(marks.size());
  for (const LogIndex::Mark& m : marks) {
    out.I64(m.first_position);
    out.U64(m.packed);
  }
  out.U64(XXH3_64bits(out.out.data(), out.out.size()));

  const std::string path = LogCheckpointPath(folder);
  const std::string temp = path + ".tmp";
  const int fd = fs.Open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SystemError("cannot create " + temp);
  int err = WriteFully(fs, fd, out.out.data(), out.out.size());
  if (err == 0 && fs.Fsync(fd) != 0) err = errno;
  fs.Close(fd);
  if (err == 0 && fs.Rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err == 0) err = SyncFolder(fs, folder);
  if (err != 0) {
    fs.Unlink(temp.c_str());
    return SystemError("cannot write the index checkpoint " + path, err);
  }
  return OkStatus();
}

std::optional<LogCheckpoint> ReadLogCheckpoint(FileSystem& fs, const std::string& folder,
                                               LogIndex& index, std::string* why) {
  const std::string path = LogCheckpointPath(folder);
  const int fd = fs.Open(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    *why = "no index checkpoint";
    return std::nullopt;
  }
  struct stat st;
  std::string bytes;
  bool read = fs.Fstat(fd, &st) == 0 && st.st_size >= 24;
  if (read) {
    bytes.resize(static_cast<size_t>(st.st_size));
    read = PreadFully(fs, fd, bytes.data(), bytes.size(), 0) == 0;
  }
  fs.Close(fd);
  if (!read) {
    *why = "the index checkpoint cannot be read";
    return std::nullopt;
  }
  uint64_t sum = 0;
  for (int i = 0; i < 8; ++i) {
    sum |= uint64_t{static_cast<uint8_t>(bytes[bytes.size() - 8 + i])} << (8 * i);
  }
  if (std::memcmp(bytes.data(), kLogCheckpointMagic, sizeof kLogCheckpointMagic) != 0 ||
      XXH3_64bits(bytes.data(), bytes.size() - 8) != sum) {
    *why = "the index checkpoint is damaged";
    return std::nullopt;
  }
  CheckpointIn in(std::string_view(bytes).substr(8, bytes.size() - 16));
  LogCheckpoint cp;
  uint32_t version, zero;
  uint64_t heads;
  LogEnd& e = cp.end;
  bool ok = in.U32(version) && version == kLogCheckpointVersion && in.U32(zero) &&
            in.Location(e.end) && in.Location(e.last_record) && in.U64(e.chain) &&
            in.I64(e.next_position) && in.U64(e.attempt) && in.I64(e.last_recorded_us) &&
            in.Count(heads, 4);
  for (uint64_t i = 0; ok && i < heads; ++i) {
    auto& [stream, head] = cp.heads.emplace_back();
    ok = in.String(stream) && LogGetHead(in, head);
  }
  LogIndex::StreamMap streams;
  uint64_t stream_count = 0;
  ok = ok && in.Count(stream_count, 12);
  for (uint64_t i = 0; ok && i < stream_count; ++i) {
    std::string stream;
    uint64_t commits;
    ok = in.String(stream) && in.Count(commits, 16);
    if (!ok) break;
    std::vector<StreamCommit> list(commits);
    for (StreamCommit& c : list) {
      if (!in.I64(c.first_version) || !in.U64(c.packed)) ok = false;
    }
    streams.emplace_hint(streams.end(), std::move(stream), std::move(list));
  }
  uint64_t mark_count = 0;
  ok = ok && in.Count(mark_count, 16);
  std::vector<LogIndex::Mark> marks(ok ? mark_count : 0);
  for (LogIndex::Mark& m : marks) {
    if (!in.I64(m.first_position) || !in.U64(m.packed)) ok = false;
  }
  if (!ok || !in.Empty()) {
    *why = "the index checkpoint is not one this release can read";
    return std::nullopt;
  }
  index.Load(std::move(streams), std::move(marks));
  return cp;
}

}  // namespace evs::store::log
