// Concurrency: one winner per expected version, dense versions, and positions in commit order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "store_factory.h"

namespace evs {
namespace {

EventData Tagged(int writer, int seq) {
  EventData e;
  e.type = "Tick";
  e.data = "{\"writer\":" + std::to_string(writer) + ",\"seq\":" + std::to_string(seq) + "}";
  return e;
}

class StoreConcurrency : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    factory_ = testing::MakeFactory(GetParam());
    if (auto reason = factory_->SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }

  std::vector<RecordedEvent> WholeLog() {
    std::vector<RecordedEvent> all;
    int64_t after = 0;
    for (;;) {
      auto page = store_->ReadLog(after, 500);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->events.empty()) return all;
      after = page->next_position;
      for (auto& e : page->events) all.push_back(std::move(e));
    }
  }

  std::unique_ptr<testing::StoreFactory> factory_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(StoreConcurrency, ExactlyOneNoStreamAppendWins) {
  constexpr int kThreads = 32;
  for (int round = 0; round < 5; ++round) {
    const std::string stream = "new-" + std::to_string(round);
    std::atomic<int> wins{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto r = store_->Append(stream, ExpectedVersion::NoStream(), {Tagged(t, 0)});
        if (r.ok()) {
          ++wins;
        } else if (r.error().code == ErrorCode::kWrongExpectedVersion) {
          EXPECT_EQ(r.error().conflict->actual, 1);
          ++conflicts;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(conflicts.load(), kThreads - 1);
    EXPECT_EQ(*store_->StreamVersion(stream), 1);
  }
}

TEST_P(StoreConcurrency, OneWinnerPerVersionOnOneStream) {
  constexpr int kThreads = 32;
  constexpr int kAttempts = 40;
  std::atomic<int> wins{0};
  std::mutex mu;
  std::map<int64_t, int> winner_of_version;  // version -> writer
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttempts; ++i) {
        int64_t seen = *store_->StreamVersion("hot");
        auto r = store_->Append("hot", ExpectedVersion::Exact(seen), {Tagged(t, i)});
        if (r.ok()) {
          ++wins;
          EXPECT_EQ(r->first_version, seen + 1);
          std::lock_guard guard(mu);
          EXPECT_TRUE(winner_of_version.emplace(r->first_version, t).second)
              << "two winners for version " << r->first_version;
        } else {
          EXPECT_EQ(r.error().code, ErrorCode::kWrongExpectedVersion) << r.error().message;
          EXPECT_GT(r.error().conflict->actual, seen);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_GT(wins.load(), 0);
  auto log = WholeLog();
  ASSERT_EQ(static_cast<int>(log.size()), wins.load());
  std::set<int64_t> positions;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].version, static_cast<int64_t>(i + 1)) << "versions must be dense";
    EXPECT_TRUE(positions.insert(log[i].position).second) << "duplicate position";
    EXPECT_NE(log[i].data.find("\"writer\":" + std::to_string(winner_of_version[log[i].version])),
              std::string::npos);
  }
}

TEST_P(StoreConcurrency, PositionsDenseAndInCommitOrderAcrossStreams) {
  constexpr int kThreads = 32;
  constexpr int kAppends = 30;
  std::vector<std::thread> threads;
  std::vector<std::vector<AppendResult>> acked(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string stream = "w-" + std::to_string(t);
      for (int i = 0; i < kAppends; ++i) {
        std::vector<EventData> events{Tagged(t, i), Tagged(t, i)};
        auto r = store_->Append(stream, ExpectedVersion::Exact(2 * i), std::move(events));
        ASSERT_TRUE(r.ok()) << r.error().message;
        acked[t].push_back(*r);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto log = WholeLog();
  ASSERT_EQ(log.size(), static_cast<size_t>(kThreads * kAppends * 2));
  std::map<std::string, int64_t> last_version;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].position, static_cast<int64_t>(i + 1)) << "positions must be dense";
    int64_t& v = last_version[log[i].stream_id];
    EXPECT_EQ(log[i].version, v + 1) << "a stream's versions follow its positions";
    v = log[i].version;
  }
  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 1; i < acked[t].size(); ++i) {
      EXPECT_GT(acked[t][i].first_position, acked[t][i - 1].last_position);
      EXPECT_EQ(acked[t][i].last_position, acked[t][i].first_position + 1)
          << "one append's events are consecutive in the log";
    }
  }
}

TEST_P(StoreConcurrency, ReadersNeverSeeAGap) {
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          ASSERT_TRUE(
              store_->Append("g-" + std::to_string(t), ExpectedVersion::Any(), {Tagged(t, i)})
                  .ok());
        }
      });
    }
    for (auto& w : writers) w.join();
    done = true;
  });
  int64_t after = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((!done || after < 800) && std::chrono::steady_clock::now() < deadline) {
    auto page = store_->ReadLog(after, 64);
    ASSERT_TRUE(page.ok());
    for (const auto& e : page->events) {
      ASSERT_EQ(e.position, after + 1) << "a reader saw a position before an earlier one";
      after = e.position;
    }
  }
  writer.join();
  EXPECT_EQ(after, 800);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConcurrency, testing::kBackends,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace evs
