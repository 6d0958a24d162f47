// Feeds: the log engine's recovery (src/store/log/). A segment written by the store itself (six
// commits over three streams and a metadata change) is damaged as the input says: its first two
// bytes cut the segment to a length, then each three bytes flip a byte (a 16-bit offset and the
// bits to flip). The damaged segment is opened as a store.
// Asserts: nothing crashes; opening either fails with an error or recovers; everything a
// recovered store returns is exactly what was written at that position (a damaged record never
// checks out), the log is dense from position 1, and each stream reads back its own events.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "evs/log_store.h"
#include "fuzz_check.h"

namespace {

struct Original {
  std::string folder;                            // a scratch folder of this process
  std::string segment;                           // the bytes of 00000001.log as written
  std::map<int64_t, evs::RecordedEvent> events;  // by position
};

evs::LogStoreOptions FuzzLogOptions(const std::string& folder) {
  evs::LogStoreOptions options;
  options.folder = folder;
  options.durable = false;
  options.segment_bytes = 16384;
  return options;
}

// The scratch folder, removed when the fuzzer exits.
std::string& ScratchFolder() {
  static std::string folder;
  return folder;
}

Original MakeOriginal() {
  Original o;
  char pattern[] = "/tmp/evs-fuzz-log-XXXXXX";
  if (mkdtemp(pattern) == nullptr) evs::fuzz::Fail("mkdtemp failed");
  o.folder = pattern;
  ScratchFolder() = o.folder;
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(ScratchFolder(), ignored);
  });
  const std::string written = o.folder + "/original";
  {
    auto store = evs::OpenLogEventStore(FuzzLogOptions(written));
    EVS_FUZZ_CHECK(store.ok(), store.error().message);
    for (int i = 0; i < 6; ++i) {
      std::vector<evs::EventData> events(1 + i % 3);
      for (auto& e : events) {
        e.id = evs::Uuid::Random();
        e.type = "Fuzzed";
        e.data = "{\"i\":" + std::to_string(i) + "}";
      }
      auto r = (*store)->Append("s" + std::to_string(i % 3), evs::ExpectedVersion::Any(), events);
      EVS_FUZZ_CHECK(r.ok(), r.error().message);
    }
    evs::StreamMetadata metadata;
    metadata.max_count = 5;
    auto s = (*store)->SetStreamMetadata("s1", metadata);
    EVS_FUZZ_CHECK(s.ok(), s.error().message);
    auto page = (*store)->ReadLog(0, 1000);
    EVS_FUZZ_CHECK(page.ok(), page.error().message);
    for (const auto& e : page->events) o.events[e.position] = e;
  }
  std::ifstream in(written + "/00000001.log", std::ios::binary);
  o.segment.assign(std::istreambuf_iterator<char>(in), {});
  EVS_FUZZ_CHECK(!o.segment.empty(), "no segment written");
  return o;
}

bool SameEvent(const evs::RecordedEvent& a, const evs::RecordedEvent& b) {
  return a.stream_id == b.stream_id && a.version == b.version && a.position == b.position &&
         a.id == b.id && a.type == b.type && a.data == b.data && a.metadata == b.metadata &&
         a.recorded_at_us == b.recorded_at_us;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Original original = MakeOriginal();
  std::string segment = original.segment;
  if (size >= 2) {
    const size_t cut = (static_cast<size_t>(data[0]) << 8 | data[1]) % (segment.size() + 1);
    if (cut >= 16) segment.resize(cut);  // keep the header: a foreign one is refused up front
  }
  for (size_t i = 2; i + 2 < size; i += 3) {
    if (segment.empty()) break;
    const size_t at = (static_cast<size_t>(data[i]) << 8 | data[i + 1]) % segment.size();
    segment[at] = static_cast<char>(segment[at] ^ data[i + 2]);
  }
  const std::string folder = original.folder + "/case";
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
  std::filesystem::create_directories(folder, ignored);
  {
    std::ofstream out(folder + "/00000001.log", std::ios::binary);
    out.write(segment.data(), static_cast<std::streamsize>(segment.size()));
  }
  auto store = evs::OpenLogEventStore(FuzzLogOptions(folder));
  if (!store.ok()) return 0;  // a clear error is fine; a crash is not
  auto page = (*store)->ReadLog(0, 1000);
  EVS_FUZZ_CHECK(page.ok(), page.error().message);
  int64_t next = 1;
  std::map<std::string, int64_t> versions;
  for (const auto& e : page->events) {
    EVS_FUZZ_CHECK(e.position == next, "the recovered log is not dense at " + std::to_string(next));
    ++next;
    auto it = original.events.find(e.position);
    EVS_FUZZ_CHECK(it != original.events.end() && SameEvent(e, it->second),
                   "position " + std::to_string(e.position) + " is not what was written");
    versions[e.stream_id] = e.version;
  }
  for (const auto& [stream, version] : versions) {
    auto current = (*store)->StreamVersion(stream);
    EVS_FUZZ_CHECK(current.ok() && *current == version, stream + ": version differs from the log");
  }
  return 0;
}
