// The stress test's expected state, in the manner of RocksDB's db_stress: kept outside the
// process that writes, so that it survives that process being killed.
//
// The oracle is a file mapped shared by the writing child and the test: for each stream a slot
// with the version last acknowledged (`acked`) and the highest version an append in flight may
// have reached (`pending`). A writer raises `pending` before it appends and `acked` after the
// append is acknowledged, so that whenever the child dies, the store must hold each stream at a
// version in [acked, pending]: below is a lost acknowledged event, above an invented one.
//
// Each stream belongs to one writer thread, and every event's id and content follow from its
// stream and version (StressEvent), so any reader can check any event it sees.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "evs/event.h"
#include "evs/uuid.h"

namespace evs::testing {

inline constexpr int kStressStreams = 256;

struct StressSlot {
  std::atomic<int64_t> acked;
  std::atomic<int64_t> pending;
};
static_assert(std::atomic<int64_t>::is_always_lock_free);

class StressOracle {
 public:
  ~StressOracle() {
    if (slots_ != nullptr) munmap(slots_, Bytes());
  }

  // Maps `path`, creating it zeroed (every stream at version 0) when it does not exist.
  bool Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(Bytes())) != 0) {
      if (fd >= 0) ::close(fd);
      return false;
    }
    void* at = mmap(nullptr, Bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (at == MAP_FAILED) return false;
    slots_ = static_cast<StressSlot*>(at);
    return true;
  }

  StressSlot& slot(int stream) { return slots_[stream]; }

 private:
  static size_t Bytes() { return sizeof(StressSlot) * kStressStreams; }
  StressSlot* slots_ = nullptr;
};

inline std::string StressStreamId(int stream) { return "stress-" + std::to_string(stream); }

// The stream index of a stress stream id, or nullopt.
inline std::optional<int> StressStreamIndex(const std::string& id) {
  if (id.rfind("stress-", 0) != 0) return std::nullopt;
  try {
    int index = std::stoi(id.substr(7));
    if (index < 0 || index >= kStressStreams || StressStreamId(index) != id) return std::nullopt;
    return index;
  } catch (...) {
    return std::nullopt;
  }
}

// The event at `version` of stream `stream`: its id and content follow from both alone.
inline EventData StressEvent(int stream, int64_t version) {
  char id[40];
  std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012llx", static_cast<unsigned>(stream),
                static_cast<unsigned long long>(version));
  EventData event;
  event.id = *Uuid::Parse(id);
  event.type = "StressEvent";
  const size_t pad = static_cast<size_t>((stream * 31 + version * 17) % 97);
  event.data = "{\"s\":" + std::to_string(stream) + ",\"v\":" + std::to_string(version) +
               ",\"pad\":\"" + std::string(pad, 'x') + "\"}";
  return event;
}

// An empty string when `event` is the one StressEvent says it must be, else what differs.
inline std::string CheckStressEvent(const RecordedEvent& event) {
  auto stream = StressStreamIndex(event.stream_id);
  if (!stream) return "an event of an unknown stream '" + event.stream_id + "'";
  const EventData want = StressEvent(*stream, event.version);
  const std::string where = event.stream_id + "@" + std::to_string(event.version);
  if (event.id != want.id)
    return where + ": id " + event.id.ToString() + ", want " + want.id.ToString();
  if (event.type != want.type) return where + ": type " + event.type;
  if (event.data != want.data) return where + ": data " + event.data + ", want " + want.data;
  return "";
}

}  // namespace evs::testing
