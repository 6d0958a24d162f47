// Writes tests/data/log-v1: a log store folder of format version 1 (segments whose checksum
// chain runs across the whole log), as the release before format version 2 (git commit d6806f4)
// wrote it, so that tests/log_store_test.cc can check that this release opens, reads and goes on
// with it. Build it against that release's library and run it:
//   git worktree add /tmp/evs-v1 d6806f4 && scripts/build release evs_core  (in /tmp/evs-v1)
//   g++ -std=c++20 -I/tmp/evs-v1/include tests/data/make-log-v1-fixture.cc \
//       /tmp/evs-v1/build/libevs.a -lsqlite3 -lxxhash -lsimdjson -lzstd -lcrypto -lpthread -o
//       /tmp/make-log-v1
//   rm -rf tests/data/log-v1 && /tmp/make-log-v1 tests/data/log-v1 && rm tests/data/log-v1/LOCK
// Contents: 4 KiB segments; streams "order-<i>" for i in 0..11, each with 4 events of type
// "Step" and data {"i":<i>,"n":<n>} (n = 1..4), appended round-robin (positions 1..48); then
// order-3 truncated before version 3, order-5 soft deleted, order-7 hard deleted; then INDEX,
// the checkpoint the store writes when it closes.
#include <cstdio>
#include <string>

#include "evs/log_store.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  evs::LogStoreOptions options;
  options.folder = argv[1];
  options.segment_bytes = 4096;
  auto store = evs::OpenLogEventStore(options);
  if (!store) return 1;
  for (int n = 1; n <= 4; ++n) {
    for (int i = 0; i < 12; ++i) {
      evs::EventData e;
      e.id = evs::Uuid::Random();
      e.type = "Step";
      e.data = "{\"i\":" + std::to_string(i) + ",\"n\":" + std::to_string(n) + "}";
      e.metadata = "{}";
      auto r = (*store)->Append("order-" + std::to_string(i), evs::ExpectedVersion::Any(), {e});
      if (!r) return 1;
    }
  }
  evs::StreamMetadata m;
  m.truncate_before = 3;
  if (!(*store)->SetStreamMetadata("order-3", m)) return 1;
  if (!(*store)->DeleteStream("order-5", evs::DeleteMode::kSoft, evs::ExpectedVersion::Any())) {
    return 1;
  }
  if (!(*store)->DeleteStream("order-7", evs::DeleteMode::kHard, evs::ExpectedVersion::Any())) {
    return 1;
  }
  return 0;
}
