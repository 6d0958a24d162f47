// The write and read helpers of evs/file_system.h against a FileSystem that misbehaves.
#include "evs/file_system.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "fault_file_system.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::FaultFileSystem;
using testing::TempDir;

class FileSystemHelpersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = ::open((dir_.path() + "/f").c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override { ::close(fd_); }
  TempDir dir_;
  FaultFileSystem fs_;
  int fd_ = -1;
};

// A device that reports 0 bytes written would otherwise make the helpers spin for ever.
TEST_F(FileSystemHelpersTest, AWriteThatMakesNoProgressIsEioNotALoop) {
  const std::string bytes = "0123456789";
  fs_.StalledWrites(1);
  EXPECT_EQ(WriteFully(fs_, fd_, bytes.data(), bytes.size()), EIO);
  fs_.StalledWrites(1);
  EXPECT_EQ(PwriteFully(fs_, fd_, bytes.data(), bytes.size(), 0), EIO);
  EXPECT_EQ(fs_.Faults(), 2);
}

TEST_F(FileSystemHelpersTest, ShortWritesAreCompletedAndReadBack) {
  const std::string bytes = "0123456789abcdef";
  fs_.ShortWrites(3);
  ASSERT_EQ(PwriteFully(fs_, fd_, bytes.data(), bytes.size(), 4), 0);
  std::string read(bytes.size(), '\0');
  ASSERT_EQ(PreadFully(fs_, fd_, read.data(), read.size(), 4), 0);
  EXPECT_EQ(read, bytes);
  EXPECT_EQ(fs_.Faults(), 3);
  // Past the end of the file: EIO, not a short read passed off as whole.
  EXPECT_EQ(PreadFully(fs_, fd_, read.data(), read.size(), 10), EIO);
}

}  // namespace
}  // namespace evs
