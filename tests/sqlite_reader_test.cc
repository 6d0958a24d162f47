// The read-only view for other processes: it must see only what is durable, like the owner's
// own reads. A reader that saw a commit before its fsync could hand a subscriber events that a
// power loss then takes back; the subscriber would checkpoint past positions that later commits
// reuse, and skip those.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include "evs/event_store.h"
#include "fault_vfs.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

std::vector<EventData> Events(int n) {
  std::vector<EventData> events(n);
  for (auto& e : events) {
    e.id = Uuid::Random();
    e.type = "T";
  }
  return events;
}

class SqliteReaderTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.File("events.sqlite"); }
  Result<std::unique_ptr<EventStore>> OpenOwner() {
    SqliteStoreOptions options;
    options.path = Path();
    options.vfs = vfs_.name();
    return OpenSqliteEventStore(options);
  }

  testing::TempDir dir_;
  testing::FaultVfs vfs_;
};

TEST_F(SqliteReaderTest, SeesOnlyDurableCommits) {
  auto owner = OpenOwner();
  ASSERT_TRUE(owner.ok()) << owner.error().message;
  ASSERT_TRUE((*owner)->Append("durable", ExpectedVersion::NoStream(), Events(1)).ok());
  auto reader = OpenSqliteEventStoreReader(Path());
  ASSERT_TRUE(reader.ok()) << reader.error().message;

  // The next commit is written to the WAL (SQLite shows it to every connection) but its fsync
  // waits: it is not durable, and the reader must not see it.
  vfs_.HoldSyncs(testing::kWal);
  auto pending = std::async(std::launch::async, [&] {
    return (*owner)->Append("pending", ExpectedVersion::NoStream(), Events(2));
  });
  // Declared after `pending`, so that a failed assertion releases the sync before the future
  // waits for the append.
  struct Release {
    testing::FaultVfs& vfs;
    ~Release() { vfs.ReleaseSyncs(); }
  } release{vfs_};
  vfs_.WaitForHeldSync();

  auto log = (*reader)->ReadLog(0, 100);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->events.size(), 1u);
  EXPECT_EQ(log->events[0].stream_id, "durable");
  EXPECT_EQ(log->head_position, 1);
  EXPECT_EQ(*(*reader)->HeadPosition(), 1);
  auto stream = (*reader)->ReadStream("pending", {});
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*(*reader)->StreamVersion("pending"), 0);
  auto streams = (*reader)->ListStreams("", 100);
  ASSERT_TRUE(streams.ok());
  ASSERT_EQ(streams->streams.size(), 1u);
  EXPECT_EQ(streams->streams[0].stream_id, "durable");
  // Nothing durable arrives while the fsync waits.
  EXPECT_EQ(*(*reader)->WaitForHead(1, 100ms), 1);

  vfs_.ReleaseSyncs();
  auto appended = pending.get();
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(*(*reader)->WaitForHead(1, 5s), 3);
  log = (*reader)->ReadLog(0, 100);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->events.size(), 3u);
  EXPECT_EQ(*(*reader)->StreamVersion("pending"), 2);
}

TEST_F(SqliteReaderTest, StoreOfAnEarlierReleaseWithoutHeadFileIsReadWhole) {
  {
    auto owner = OpenOwner();
    ASSERT_TRUE(owner.ok()) << owner.error().message;
    ASSERT_TRUE((*owner)->Append("s", ExpectedVersion::Any(), Events(3)).ok());
  }
  // Releases before the durable head wrote no head file.
  ASSERT_TRUE(std::filesystem::remove(Path() + "-head"));
  auto reader = OpenSqliteEventStoreReader(Path());
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(*(*reader)->HeadPosition(), 3);
  auto log = (*reader)->ReadLog(0, 100);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->events.size(), 3u);

  // An owner that opens it writes the file again, and the reader goes by it.
  auto owner = OpenOwner();
  ASSERT_TRUE(owner.ok()) << owner.error().message;
  EXPECT_TRUE(std::filesystem::exists(Path() + "-head"));
  ASSERT_TRUE((*owner)->Append("s", ExpectedVersion::Any(), Events(1)).ok());
  EXPECT_EQ(*(*reader)->WaitForHead(3, 5s), 4);
}

TEST_F(SqliteReaderTest, DamagedHeadFileIsAClearError) {
  {
    auto owner = OpenOwner();
    ASSERT_TRUE(owner.ok()) << owner.error().message;
    ASSERT_TRUE((*owner)->Append("s", ExpectedVersion::Any(), Events(1)).ok());
  }
  std::ofstream(Path() + "-head", std::ios::binary) << "0123456789abcdef";
  auto reader = OpenSqliteEventStoreReader(Path());
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto log = (*reader)->ReadLog(0, 10);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::kCorruption);
  EXPECT_NE(log.error().message.find("-head"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace evs
