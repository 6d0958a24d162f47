// The one backoff of evs's retry loops: doubling, capped, never overflowing, jitter in range.
#include "common/backoff.h"

#include <gtest/gtest.h>

namespace evs {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesUpToTheCapAndNeverOverflows) {
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), 0), milliseconds(10));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), 1), milliseconds(20));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), 3), milliseconds(80));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), 8), milliseconds(2000));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), 1000000), milliseconds(2000));
  EXPECT_EQ(ExponentialDelay(milliseconds(3000), milliseconds(2000), 0), milliseconds(2000));
  EXPECT_EQ(ExponentialDelay(milliseconds(-5), milliseconds(2000), 4), milliseconds(0));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(-1), 4), milliseconds(0));
  EXPECT_EQ(ExponentialDelay(milliseconds(10), milliseconds(2000), -3), milliseconds(10));
  const milliseconds huge(INT64_MAX / 2);
  EXPECT_EQ(ExponentialDelay(huge, milliseconds(INT64_MAX), 10), milliseconds(INT64_MAX));
}

TEST(BackoffTest, FullJitterStaysBelowTheDelay) {
  EXPECT_EQ(FullJitter(milliseconds(0), 12345), milliseconds(0));
  EXPECT_EQ(FullJitter(milliseconds(100), 250), milliseconds(50));
  for (int i = 0; i < 1000; ++i) {
    const auto d = FullJitter(milliseconds(64), JitterRandom());
    EXPECT_GE(d.count(), 0);
    EXPECT_LT(d.count(), 64);
  }
}

TEST(BackoffTest, ALoopsWaitsDoubleAndStartOverAfterReset) {
  Backoff backoff(milliseconds(5), milliseconds(30));
  EXPECT_EQ(backoff.Next(), milliseconds(5));
  EXPECT_EQ(backoff.Next(), milliseconds(10));
  EXPECT_EQ(backoff.Next(), milliseconds(20));
  EXPECT_EQ(backoff.Next(), milliseconds(30));
  EXPECT_EQ(backoff.Next(), milliseconds(30));
  EXPECT_EQ(backoff.retries(), 5);
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(5));
}

}  // namespace
}  // namespace evs
