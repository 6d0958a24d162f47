// A child process for the durability test: appends commits of 1 to 5 events from several
// threads and prints one line per acknowledged append, until it is killed.
//
//   evs_crash_writer DB_PATH THREADS
//   prints: "ack STREAM FIRST_VERSION LAST_VERSION FIRST_POSITION LAST_POSITION COMMIT_ID"
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "evs/event_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB_PATH THREADS\n", argv[0]);
    return 2;
  }
  evs::SqliteStoreOptions options;
  options.path = argv[1];
  auto store = evs::OpenSqliteEventStore(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open failed: %s\n", store.error().message.c_str());
    return 1;
  }
  std::mutex out;
  std::vector<std::thread> threads;
  const int thread_count = std::atoi(argv[2]);
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t * 7919 + getpid()));
      for (int i = 0; i < 1'000'000; ++i) {
        // Some streams are shared by all threads, most belong to one.
        std::string stream = random() % 4 == 0
                                 ? "shared-" + std::to_string(random() % 3)
                                 : "t" + std::to_string(t) + "-" + std::to_string(random() % 50);
        const int count = 1 + static_cast<int>(random() % 5);
        const std::string commit = evs::Uuid::Random().ToString();
        std::vector<evs::EventData> events(count);
        for (int k = 0; k < count; ++k) {
          events[k].type = "Crash";
          events[k].data = "{\"k\":" + std::to_string(k) + ",\"pad\":\"" +
                           std::string(random() % 200, 'x') + "\"}";
          events[k].metadata =
              "{\"commit\":\"" + commit + "\",\"count\":" + std::to_string(count) + "}";
        }
        auto r = (*store)->Append(stream, evs::ExpectedVersion::Any(), std::move(events));
        if (!r.ok()) {
          std::fprintf(stderr, "append failed: %s\n", r.error().message.c_str());
          std::_Exit(1);
        }
        std::string line = "ack " + stream + " " + std::to_string(r->first_version) + " " +
                           std::to_string(r->last_version) + " " +
                           std::to_string(r->first_position) + " " +
                           std::to_string(r->last_position) + " " + commit + "\n";
        std::lock_guard guard(out);
        if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}
