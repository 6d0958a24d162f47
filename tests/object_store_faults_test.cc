// The folder object store and the archiver on it when the disk fails, through a FileSystem that
// injects faults (fault_file_system.h): a failed put leaves no object and no temporary file, an
// object it would have replaced stays whole, and the archiver writes the segment again.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/verify.h"
#include "fault_file_system.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::FaultFileSystem;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string Bytes(size_t n, char seed) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(seed + static_cast<char>(i % 31));
  return bytes;
}

class ObjectStoreFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DirectoryObjectStoreOptions options;
    options.path = dir_.File("objects");
    options.file_system = fs_;
    auto objects = OpenDirectoryObjectStore(options);
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    objects_ = std::move(objects).value();
  }

  std::vector<std::string> Keys() {
    auto list = objects_->List({});
    EXPECT_TRUE(list.ok()) << list.error().message;
    std::vector<std::string> keys;
    if (list.ok()) {
      for (const ObjectInfo& o : list->objects) keys.push_back(o.key);
    }
    return keys;
  }

  // Files under the folder whose name is a temporary file's, whatever List shows.
  size_t TemporaryFiles() {
    size_t n = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.File("objects"))) {
      if (entry.path().filename().string().starts_with(".evs-tmp-")) ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  std::unique_ptr<ObjectStore> objects_;
};

TEST_F(ObjectStoreFaultsTest, AFailedFsyncLeavesNoObjectAndNoTemporaryFile) {
  fs_->FailFsyncs(1, FaultFileSystem::kFiles);
  Status put = objects_->Put("a/b", Bytes(5000, 'a'));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(put.error().message, "cannot fsync")) << put.error().message;
  EXPECT_TRUE(Contains(put.error().message, "\"a/b\"")) << put.error().message;
  EXPECT_TRUE(Contains(put.error().message, "Input/output error")) << put.error().message;
  EXPECT_EQ(fs_->Faults(), 1);
  EXPECT_EQ(objects_->Head("a/b").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Keys().empty());
  EXPECT_EQ(TemporaryFiles(), 0u);

  ASSERT_TRUE(objects_->Put("a/b", Bytes(5000, 'a')).ok());
  EXPECT_EQ(*objects_->Get("a/b"), Bytes(5000, 'a'));
}

TEST_F(ObjectStoreFaultsTest, AFailedPutKeepsTheObjectItWouldHaveReplaced) {
  ASSERT_TRUE(objects_->Put("k", "old").ok());
  fs_->FailFsyncs(1, FaultFileSystem::kFiles);
  ASSERT_FALSE(objects_->Put("k", Bytes(3000, 'n')).ok());
  fs_->DiskFullAfter(1000);
  Status full = objects_->Put("k", Bytes(3000, 'n'));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(*objects_->Get("k"), "old");
  EXPECT_EQ(Keys(), std::vector<std::string>{"k"});
  EXPECT_EQ(TemporaryFiles(), 0u);
}

TEST_F(ObjectStoreFaultsTest, ADiskFullIsAClearErrorAndPutsWorkOnceThereIsSpace) {
  ASSERT_TRUE(objects_->Put("before", Bytes(100, 'b')).ok());
  fs_->DiskFullAfter(4096);  // the put writes what fits, then gets ENOSPC
  Status put = objects_->Put("seg/1", Bytes(10000, 's'));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kIOError);
  EXPECT_TRUE(Contains(put.error().message, "No space left on device")) << put.error().message;
  EXPECT_TRUE(Contains(put.error().message, "\"seg/1\"")) << put.error().message;
  EXPECT_EQ(objects_->Head("seg/1").error().code, ErrorCode::kNotFound);
  ASSERT_FALSE(objects_->Put("seg/2", "x").ok());  // still full
  EXPECT_EQ(Keys(), std::vector<std::string>{"before"});
  EXPECT_EQ(TemporaryFiles(), 0u);
  EXPECT_EQ(*objects_->Get("before"), Bytes(100, 'b'));

  fs_->Clear();
  ASSERT_TRUE(objects_->Put("seg/1", Bytes(10000, 's')).ok());
  EXPECT_EQ(*objects_->Get("seg/1"), Bytes(10000, 's'));
}

TEST_F(ObjectStoreFaultsTest, ShortWritesAreCompletedNotCut) {
  fs_->ShortWrites(20);
  const std::string bytes = Bytes(100000, 'w');
  ASSERT_TRUE(objects_->Put("big", bytes).ok());
  EXPECT_GE(fs_->Faults(), 10);
  EXPECT_EQ(*objects_->Get("big"), bytes);
}

TEST_F(ObjectStoreFaultsTest, AFailedFsyncOfANewFolderLeavesNoObject) {
  fs_->FailFsyncs(1, FaultFileSystem::kFolders);
  Status put = objects_->Put("new/folder/key", "data");
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(Contains(put.error().message, "cannot create folder")) << put.error().message;
  EXPECT_EQ(objects_->Head("new/folder/key").error().code, ErrorCode::kNotFound);
  // The folders that exist are synced again by the next put.
  const int64_t before = fs_->Fsyncs(FaultFileSystem::kFolders);
  ASSERT_TRUE(objects_->Put("new/folder/key", "data").ok());
  EXPECT_GE(fs_->Fsyncs(FaultFileSystem::kFolders) - before, 3);
  EXPECT_EQ(*objects_->Get("new/folder/key"), "data");
}

// After the rename the object is whole and in place; only its folder entry may not be durable.
// Put reports it so that the caller puts it again, which makes it durable.
TEST_F(ObjectStoreFaultsTest, AFailedFsyncOfTheFolderAfterTheRenameIsReported) {
  fs_->FailFsyncs(1, FaultFileSystem::kFolders);
  Status put = objects_->Put("key", "whole");
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(Contains(put.error().message, "cannot fsync folder")) << put.error().message;
  EXPECT_EQ(*objects_->Get("key"), "whole");
  EXPECT_EQ(TemporaryFiles(), 0u);
  ASSERT_TRUE(objects_->Put("key", "whole").ok());
}

TEST_F(ObjectStoreFaultsTest, AFailedFsyncAfterADeleteIsReported) {
  ASSERT_TRUE(objects_->Put("gone", "x").ok());
  fs_->FailFsyncs(1, FaultFileSystem::kFolders);
  Status deleted = objects_->Delete("gone");
  ASSERT_FALSE(deleted.ok());
  EXPECT_TRUE(Contains(deleted.error().message, "after deleting")) << deleted.error().message;
  EXPECT_TRUE(objects_->Delete("gone").ok());
  EXPECT_EQ(objects_->Head("gone").error().code, ErrorCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// The archiver on a failing folder: the segment is not there while its put fails, and is written
// again, whole and in order, once the disk is fine.

class ArchiverFaultsTest : public ObjectStoreFaultsTest {
 protected:
  void SetUp() override {
    ObjectStoreFaultsTest::SetUp();
    SqliteStoreOptions options;
    options.path = dir_.File("events.sqlite");
    auto store = OpenSqliteEventStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    for (int i = 0; i < 20; ++i) {
      EventData e;
      e.id = Uuid::Random();
      e.type = "Noted";
      e.data = "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(200, 'p') + "\"}";
      ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 3), ExpectedVersion::Any(), {e}).ok());
    }
    auto page = store_->ReadLog(0, 100);
    ASSERT_TRUE(page.ok());
    log_ = page->events;
    ASSERT_EQ(log_.size(), 20u);
  }

  // Archives the log in segments of 5 with `fault` planned while the second segment is written;
  // `clear` ends the fault.
  void ArchiveThrough(const std::function<void()>& fault, const std::function<void()>& clear,
                      const std::string& error_part) {
    ArchiverOptions options;
    options.segment_max_events = 5;
    auto archiver = Archiver::Open(*objects_, options);
    ASSERT_TRUE(archiver.ok()) << archiver.error().message;
    ASSERT_TRUE((*archiver)->Handle(std::span(log_).subspan(0, 5)).ok());
    ASSERT_TRUE((*archiver)->Flush().ok());

    fault();
    Status handed = (*archiver)->Handle(std::span(log_).subspan(5, 5));
    Status flushed = (*archiver)->Flush();
    ASSERT_FALSE(handed.ok() && flushed.ok());
    const std::string message = (handed.ok() ? flushed : handed).error().message;
    EXPECT_TRUE(Contains(message, error_part)) << message;
    EXPECT_EQ((*archiver)->ArchivedUpTo(), 5);
    EXPECT_EQ(Keys(), std::vector<std::string>{SegmentKey(1, 5)});
    EXPECT_EQ(TemporaryFiles(), 0u);
    // Still failing: the retry fails too, and writes nothing.
    EXPECT_FALSE((*archiver)->Flush().ok());
    EXPECT_EQ(Keys(), std::vector<std::string>{SegmentKey(1, 5)});

    clear();
    ASSERT_TRUE((*archiver)->Handle(std::span(log_).subspan(10)).ok());
    ASSERT_TRUE((*archiver)->Flush().ok());
    EXPECT_EQ((*archiver)->ArchivedUpTo(), 20);
    EXPECT_EQ(Keys(), (std::vector<std::string>{SegmentKey(1, 5), SegmentKey(6, 10),
                                                SegmentKey(11, 15), SegmentKey(16, 20)}));
    EXPECT_EQ(TemporaryFiles(), 0u);
    auto report = Verify(store_.get(), objects_.get());
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
    EXPECT_EQ(report->compared_events, 20);
  }

  std::unique_ptr<EventStore> store_;
  std::vector<RecordedEvent> log_;
};

TEST_F(ArchiverFaultsTest, ASegmentWhoseFsyncFailedIsWrittenAgain) {
  ArchiveThrough([&] { fs_->FailFsyncs(1000, FaultFileSystem::kFiles); }, [&] { fs_->Clear(); },
                 "cannot fsync");
}

TEST_F(ArchiverFaultsTest, ASegmentThatMetAFullDiskIsWrittenAgainOnceThereIsSpace) {
  ArchiveThrough([&] { fs_->DiskFullAfter(100); }, [&] { fs_->Clear(); },
                 "No space left on device");
}

}  // namespace
}  // namespace evs
