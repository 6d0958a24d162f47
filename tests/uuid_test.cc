// UUIDs: the canonical text form both ways, and every malformed form refused.
#include "evs/uuid.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

namespace evs {
namespace {

TEST(UuidTest, RandomIdsRoundTripThroughText) {
  for (int i = 0; i < 1000; ++i) {
    const Uuid id = Uuid::Random();
    const std::string text = id.ToString();
    ASSERT_EQ(text.size(), 36u);
    EXPECT_EQ(text[14], '4');  // version 4
    auto parsed = Uuid::Parse(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(*parsed, id);
  }
}

TEST(UuidTest, ParsesEitherCaseToTheSameBytes) {
  auto lower = Uuid::Parse("0123abcd-ef45-4789-8abc-def012345678");
  auto upper = Uuid::Parse("0123ABCD-EF45-4789-8ABC-DEF012345678");
  ASSERT_TRUE(lower && upper);
  EXPECT_EQ(*lower, *upper);
  EXPECT_EQ(lower->ToString(), "0123abcd-ef45-4789-8abc-def012345678");
  EXPECT_EQ(lower->bytes[0], 0x01);
  EXPECT_EQ(lower->bytes[15], 0x78);
  auto nil = Uuid::Parse("00000000-0000-0000-0000-000000000000");
  ASSERT_TRUE(nil);
  EXPECT_TRUE(nil->IsNil());
}

TEST(UuidTest, RefusesMalformedText) {
  const std::string good = "0123abcd-ef45-4789-8abc-def012345678";
  EXPECT_FALSE(Uuid::Parse(""));
  EXPECT_FALSE(Uuid::Parse(good.substr(1)));
  EXPECT_FALSE(Uuid::Parse(good + "0"));
  EXPECT_FALSE(Uuid::Parse("0123abcdef45-4789-8abc-def0123456789"));  // dash moved
  for (size_t i = 0; i < good.size(); ++i) {
    for (char bad : {'g', 'G', ' ', '-', '\0', '\xff', 'x'}) {
      std::string text = good;
      if (text[i] == bad) continue;
      text[i] = bad;
      EXPECT_FALSE(Uuid::Parse(text)) << "accepted " << i << ": " << text;
    }
  }
}

}  // namespace
}  // namespace evs

namespace evs {
namespace {

// Ids come from the kernel's CSPRNG: a forked child does not repeat its parent's ids (a
// per-thread generator copied by fork would), and many ids share no value.
TEST(UuidTest, RandomIdsDifferAcrossAForkAndDoNotRepeat) {
  Uuid first = Uuid::Random();
  (void)first;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string id = Uuid::Random().ToString();
    (void)!write(fds[1], id.data(), id.size());
    _exit(0);
  }
  const std::string parent = Uuid::Random().ToString();
  char buffer[64] = {};
  ASSERT_EQ(read(fds[0], buffer, 36), 36);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(std::string(buffer, 36), parent);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const Uuid u = Uuid::Random();
    EXPECT_EQ(u.bytes[6] >> 4, 4);       // version 4
    EXPECT_EQ(u.bytes[8] & 0xc0, 0x80);  // RFC 4122 variant
    seen.insert(u.ToString());
  }
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace evs
