// A helper process for the PostgreSQL tests (tests/postgres_test.cc), on the database at URL:
//   evs_pg_child append URL NAME APPENDS THREADS
//       THREADS threads append APPENDS appends each (1 to 3 events, expected any) to streams
//       NAME-<thread>-<k>; prints "ack FIRST_POSITION LAST_POSITION EVENT_ID..." for each
//       acknowledged append (flushed, so that a parent that kills this process knows what was
//       acknowledged), retrying an append that failed (kUnavailable, kIOError) with the same ids.
//   evs_pg_child follow URL TOTAL SECONDS
//       follows the global log from the start (ReadLog pages, WaitForHead when caught up) until
//       it has seen TOTAL events or SECONDS pass; prints "gap AFTER GOT" and exits 1 at the first
//       position that is not the one after the last, else prints "seen N" and exits 0 (1 when
//       N < TOTAL).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "evs/postgres.h"

namespace {

std::unique_ptr<evs::EventStore> OpenOrDie(const std::string& url) {
  evs::PostgresStoreOptions options;
  options.url = url;
  auto store = evs::OpenPostgresEventStore(options);
  if (!store) {
    std::fprintf(stderr, "evs_pg_child: %s\n", store.error().message.c_str());
    std::exit(2);
  }
  return std::move(store).value();
}

int Append(const std::string& url, const std::string& name, int appends, int threads) {
  auto store = OpenOrDie(url);
  std::mutex out;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < appends; ++i) {
        std::vector<evs::EventData> events(static_cast<size_t>(1 + (i + t) % 3));
        for (auto& e : events) {
          e.id = evs::Uuid::Random();
          e.type = "Tick";
          e.data = "{\"i\":" + std::to_string(i) + "}";
        }
        const std::string stream = name + "-" + std::to_string(t) + "-" + std::to_string(i % 5);
        for (int attempt = 0;; ++attempt) {
          auto r = store->Append(stream, evs::ExpectedVersion::Any(), events);
          if (r.ok()) {
            std::string line =
                "ack " + std::to_string(r->first_position) + " " + std::to_string(r->last_position);
            for (const auto& e : events) line += " " + e.id.ToString();
            std::lock_guard guard(out);
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
            break;
          }
          if (attempt >= 20) {
            std::fprintf(stderr, "evs_pg_child: append failed: %s\n", r.error().message.c_str());
            std::exit(1);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int Follow(const std::string& url, int64_t total, int seconds) {
  auto store = OpenOrDie(url);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int64_t last = 0;
  while (last < total && std::chrono::steady_clock::now() < deadline) {
    auto page = store->ReadLog(last, 97);
    if (!page) {
      std::fprintf(stderr, "evs_pg_child: %s\n", page.error().message.c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (const auto& e : page->events) {
      if (e.position != last + 1) {
        std::printf("gap %lld %lld\n", static_cast<long long>(last),
                    static_cast<long long>(e.position));
        return 1;
      }
      last = e.position;
    }
    if (page->events.empty()) (void)store->WaitForHead(last, std::chrono::milliseconds(500));
  }
  std::printf("seen %lld\n", static_cast<long long>(last));
  return last >= total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "append" && argc == 6) {
    return Append(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  }
  if (mode == "follow" && argc == 5)
    return Follow(argv[2], std::atoll(argv[3]), std::atoi(argv[4]));
  std::fprintf(stderr,
               "usage: evs_pg_child append URL NAME APPENDS THREADS | follow URL TOTAL SECONDS\n");
  return 2;
}
