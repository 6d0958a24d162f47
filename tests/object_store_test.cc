// The local-folder ObjectStore, through a real folder.
#include "evs/object_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evs/s3.h"
#include "temp_dir.h"

namespace evs {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<ObjectStore> OpenAt(const std::string& path, bool durable = true) {
  DirectoryObjectStoreOptions options;
  options.path = path;
  options.durable = durable;
  auto store = OpenDirectoryObjectStore(options);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// Every path under `root`, relative to it, folders included.
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    paths.insert(fs::relative(entry.path(), root).string());
  }
  return paths;
}

std::vector<std::string> Keys(const ObjectList& list) {
  std::vector<std::string> keys;
  for (const auto& object : list.objects) keys.push_back(object.key);
  return keys;
}

ListOptions Page(std::string_view prefix, std::string_view continuation = {},
                 size_t max_keys = 1000, std::string_view start_after = {}) {
  ListOptions options;
  options.prefix = prefix;
  options.continuation = continuation;
  options.max_keys = max_keys;
  options.start_after = start_after;
  return options;
}

// All keys under `prefix`, page by page; checks that pages are ordered and the token is right.
std::vector<std::string> ListAll(ObjectStore& store, const std::string& prefix, size_t max_keys,
                                 const std::string& start_after = {}) {
  std::vector<std::string> keys;
  std::string token;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = store.List(Page(prefix, token, max_keys, start_after));
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) break;
    EXPECT_LE(page->objects.size(), max_keys);
    for (const auto& object : page->objects) keys.push_back(object.key);
    if (page->next_token.empty()) break;
    EXPECT_EQ(page->next_token, page->objects.back().key);
    token = page->next_token;
  }
  return keys;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(outer_.path().empty());
    root_ = outer_.File("store");
    store_ = OpenAt(root_);
    ASSERT_NE(store_, nullptr);
  }

  void Put(const std::string& key, const std::string& bytes) {
    auto s = store_->Put(key, bytes);
    ASSERT_TRUE(s.ok()) << key << ": " << s.error().message;
  }

  std::string Get(const std::string& key, std::optional<ByteRange> range = std::nullopt) {
    auto bytes = store_->Get(key, range);
    EXPECT_TRUE(bytes.ok()) << key << ": " << bytes.error().message;
    return bytes.ok() ? *bytes : "<error>";
  }

  evs::testing::TempDir outer_;  // the store lives in outer_/store, so escapes can be seen
  std::string root_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(ObjectStoreTest, PutGetRoundTripsBinaryBytes) {
  std::string binary("a\0b\0\0c\xff\xfe\n", 9);
  Put("segments/0001", binary);
  Put("empty", "");
  EXPECT_EQ(Get("segments/0001"), binary);
  EXPECT_EQ(Get("empty"), "");

  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 % 251);
  Put("a/b/c/big", big);
  EXPECT_EQ(Get("a/b/c/big"), big);
  EXPECT_TRUE(fs::is_regular_file(root_ + "/a/b/c/big"));
}

TEST_F(ObjectStoreTest, PutReplacesTheObject) {
  Put("k", "first version, longer");
  Put("k", "second");
  EXPECT_EQ(Get("k"), "second");
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"k"}));  // no temporary file left behind
}

TEST_F(ObjectStoreTest, GetReadsRanges) {
  Put("k", "0123456789");
  EXPECT_EQ(Get("k", ByteRange{2, 3}), "234");
  EXPECT_EQ(Get("k", ByteRange{0, 10}), "0123456789");
  EXPECT_EQ(Get("k", ByteRange{7, 100}), "789");  // cut at the end
  EXPECT_EQ(Get("k", ByteRange{7, UINT64_MAX}), "789");
  EXPECT_EQ(Get("k", ByteRange{10, 5}), "");  // at the end
  EXPECT_EQ(Get("k", ByteRange{50, 5}), "");  // past the end
  EXPECT_EQ(Get("k", ByteRange{UINT64_MAX, UINT64_MAX}), "");
  EXPECT_EQ(Get("k", ByteRange{3, 0}), "");
}

TEST_F(ObjectStoreTest, HeadGivesSizeAndTime) {
  int64_t before_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Put("dir/k", std::string(1234, 'z'));
  auto info = store_->Head("dir/k");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->key, "dir/k");
  EXPECT_EQ(info->size, 1234u);
  // File times can be a tick coarser than the clock; allow a few seconds either way.
  EXPECT_GT(info->modified_at_us, before_us - 5'000'000);
  EXPECT_LT(info->modified_at_us, before_us + 60'000'000);
}

TEST_F(ObjectStoreTest, MissingObjectsAreNotFound) {
  Put("dir/k", "v");
  for (const std::string key : {"nope", "dir", "dir/nope", "dir/k/below"}) {
    auto bytes = store_->Get(key);
    ASSERT_FALSE(bytes.ok()) << key;
    EXPECT_EQ(bytes.error().code, ErrorCode::kNotFound) << key;
    EXPECT_NE(bytes.error().message.find(key), std::string::npos) << bytes.error().message;
    auto ranged = store_->Get(key, ByteRange{0, 1});
    ASSERT_FALSE(ranged.ok()) << key;
    EXPECT_EQ(ranged.error().code, ErrorCode::kNotFound) << key;
    auto info = store_->Head(key);
    ASSERT_FALSE(info.ok()) << key;
    EXPECT_EQ(info.error().code, ErrorCode::kNotFound) << key;
  }
}

TEST_F(ObjectStoreTest, ListOrdersNestedKeysBytewise) {
  // Bytewise: "A" < "a-b" ('-' is 0x2d) < "a/..." ('/' is 0x2f) < "ab" < "b" < "z" < "é" < "ü/x"
  // (0xc3 ...).
  const std::vector<std::string> want = {"A",  "a-b", "a/a", "a/b/c/d", "a/b0",
                                         "ab", "b",   "z",   "é",       "ü/x"};
  for (auto it = want.rbegin(); it != want.rend(); ++it) Put(*it, "v:" + *it);

  auto list = store_->List(Page(""));
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(Keys(*list), want);
  EXPECT_TRUE(list->next_token.empty());
  for (const auto& object : list->objects) {
    EXPECT_EQ(object.size, object.key.size() + 2) << object.key;
    EXPECT_GT(object.modified_at_us, 0) << object.key;
  }
}

TEST_F(ObjectStoreTest, ListPagesCoverEveryKeyExactlyOnce) {
  auto store = OpenAt(outer_.File("fast"), /*durable=*/false);
  std::vector<std::string> keys;
  for (int i = 0; i < 23; ++i) {
    std::string key = (i % 3 == 0 ? "x/" : i % 3 == 1 ? "x/y/" : "") + std::to_string(i * 7);
    ASSERT_TRUE(store->Put(key, "v").ok());
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  for (size_t max_keys : {size_t{1}, size_t{2}, size_t{5}, size_t{1000}}) {
    EXPECT_EQ(ListAll(*store, "", max_keys), keys) << "max_keys " << max_keys;
  }
  auto one_page = store->List(Page(""));
  ASSERT_TRUE(one_page.ok());
  EXPECT_EQ(one_page->objects.size(), keys.size());
  EXPECT_TRUE(one_page->next_token.empty());

  // Exactly a page's worth: the next call returns an empty last page, not an error.
  auto first = store->List(Page("", "", keys.size() - 1));
  ASSERT_TRUE(first.ok());
  auto last = store->List(Page("", first->next_token, 1));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(Keys(*last), std::vector<std::string>{keys.back()});
  EXPECT_TRUE(last->next_token.empty());
  auto after_end = store->List(Page("", keys.back(), 10));
  ASSERT_TRUE(after_end.ok());
  EXPECT_TRUE(after_end->objects.empty());
  EXPECT_TRUE(after_end->next_token.empty());
}

TEST_F(ObjectStoreTest, ListFiltersByPrefix) {
  for (const std::string key : {"seg", "seg-x", "segments/001", "segments/002", "segments/010",
                                "segments/sub/1", "segmentsX", "other/segments/1", "z"}) {
    Put(key, "v");
  }
  using V = std::vector<std::string>;
  EXPECT_EQ(ListAll(*store_, "segments/", 2),
            (V{"segments/001", "segments/002", "segments/010", "segments/sub/1"}));
  EXPECT_EQ(ListAll(*store_, "seg", 3), (V{"seg", "seg-x", "segments/001", "segments/002",
                                           "segments/010", "segments/sub/1", "segmentsX"}));
  EXPECT_EQ(ListAll(*store_, "segments/00", 1), (V{"segments/001", "segments/002"}));
  EXPECT_EQ(ListAll(*store_, "segments/sub/", 1000), (V{"segments/sub/1"}));
  EXPECT_EQ(ListAll(*store_, "segments", 1000),
            (V{"segments/001", "segments/002", "segments/010", "segments/sub/1", "segmentsX"}));
  EXPECT_EQ(ListAll(*store_, "", 1000).size(), 9u);
  EXPECT_EQ(ListAll(*store_, "zz", 1000), V{});
  EXPECT_EQ(ListAll(*store_, "nothing/", 1000), V{});
  EXPECT_EQ(ListAll(*store_, "z/", 1000), V{});  // "z" is an object, not a folder
  EXPECT_EQ(ListAll(*store_, "/", 1000), V{});   // no key starts with '/'
  EXPECT_EQ(ListAll(*store_, "a//", 1000), V{});
  EXPECT_EQ(ListAll(*store_, "segments/./", 1000), V{});
  // A prefix may end inside a multi-byte character.
  Put("é", "v");
  EXPECT_EQ(ListAll(*store_, std::string("\xc3"), 1000), V{"é"});
}

TEST_F(ObjectStoreTest, ListStartsAfterAGivenKey) {
  for (const std::string key : {"segments/001", "segments/002", "segments/010", "z"}) Put(key, "v");
  using V = std::vector<std::string>;
  EXPECT_EQ(ListAll(*store_, "segments/", 1, "segments/001"), (V{"segments/002", "segments/010"}));
  EXPECT_EQ(ListAll(*store_, "segments/", 1000, "segments/010"), V{});
  // start_after need not be a key, nor one that exists.
  EXPECT_EQ(ListAll(*store_, "segments/", 1000, "segments/0015"),
            (V{"segments/002", "segments/010"}));
  EXPECT_EQ(ListAll(*store_, "", 1000, "segments//"),
            (V{"segments/001", "segments/002", "segments/010", "z"}));
  EXPECT_EQ(ListAll(*store_, "", 2, "a"), (V{"segments/001", "segments/002", "segments/010", "z"}));
  // A start before the prefix starts at the prefix.
  EXPECT_EQ(ListAll(*store_, "segments/", 1000, "a"),
            (V{"segments/001", "segments/002", "segments/010"}));

  // With both, the later bound wins: a continuation past start_after goes on from the token.
  auto page = store_->List(Page("", "segments/002", 1000, "segments/001"));
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(Keys(*page), (V{"segments/010", "z"}));

  // The archiver's check: is there anything after the last segment it wrote?
  auto after_last = store_->List(Page("segments/", "", 1, "segments/010"));
  ASSERT_TRUE(after_last.ok());
  EXPECT_TRUE(after_last->objects.empty());
  EXPECT_TRUE(after_last->next_token.empty());
}

TEST_F(ObjectStoreTest, ListRefusesBadArguments) {
  Put("k", "v");
  for (size_t max_keys : {size_t{0}, size_t{1001}}) {
    auto list = store_->List(Page("", "", max_keys));
    ASSERT_FALSE(list.ok()) << max_keys;
    EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(list.error().message.find("max_keys"), std::string::npos) << list.error().message;
  }
  for (const std::string& prefix : {std::string(".."), std::string("../"), std::string("a/../"),
                                    std::string("a/.."), std::string("x\0y", 3)}) {
    auto list = store_->List(Page(prefix));
    ASSERT_FALSE(list.ok()) << prefix;
    EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument) << prefix;
  }
  for (const std::string token : {"../k", "a//b", "/k", ".evs-tmp-1"}) {
    auto list = store_->List(Page("", token));
    ASSERT_FALSE(list.ok()) << token;
    EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument) << token;
  }
  // Prefixes that are not keys but hold no ".." part are fine.
  EXPECT_TRUE(store_->List(Page("..x")).ok());
  EXPECT_TRUE(store_->List(Page("a/..b/")).ok());
}

TEST_F(ObjectStoreTest, DeleteRemovesTheObjectAndMissingIsOk) {
  Put("dir/a", "1");
  Put("dir/b", "2");
  auto s = store_->Delete("dir/a");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(store_->Get("dir/a").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Get("dir/b"), "2");
  EXPECT_EQ(ListAll(*store_, "", 1000), std::vector<std::string>{"dir/b"});

  EXPECT_TRUE(store_->Delete("dir/a").ok());      // again
  EXPECT_TRUE(store_->Delete("never/put").ok());  // missing folder
  EXPECT_TRUE(store_->Delete("dir/b/x").ok());    // below an object
  EXPECT_TRUE(store_->Delete("dir").ok());        // a folder is not an object
  EXPECT_EQ(Get("dir/b"), "2");
}

std::string KeyOfLength(size_t n) {
  // Parts of at most 200 bytes, so that the file system's name limit is not what is tested.
  std::string key;
  while (key.size() < n) {
    if (!key.empty()) key += '/';
    key += std::string(std::min<size_t>(200, n - key.size()), 'k');
  }
  return key;
}

TEST_F(ObjectStoreTest, InvalidKeysAreRefusedEverywhere) {
  const std::vector<std::string> bad = {
      "",
      "../x",
      "a/../../x",
      "..",
      ".",
      "a/..",
      "./a",
      "/etc/passwd",
      "/abs",
      "a//b",
      "a/./b",
      "a/",
      "/",
      std::string("a\0b", 3),
      std::string("\0", 1),
      "tab\there",
      "new\nline",
      "del\x7f",
      "c1\xc2\x85",
      "bad\xff utf8",
      "\xc3",
      KeyOfLength(1025),
      std::string(256, 'p'),
      "a/" + std::string(256, 'p'),
      ".evs-tmp-x",
      "a/.evs-tmp-x",
      ".evs-tmp-dir/x",
  };
  for (const std::string& key : bad) {
    std::string shown = key.substr(0, 40);
    auto put = store_->Put(key, "evil");
    ASSERT_FALSE(put.ok()) << shown;
    EXPECT_EQ(put.error().code, ErrorCode::kInvalidArgument) << shown;
    EXPECT_NE(put.error().message.find("invalid key"), std::string::npos) << put.error().message;
    auto get = store_->Get(key);
    ASSERT_FALSE(get.ok()) << shown;
    EXPECT_EQ(get.error().code, ErrorCode::kInvalidArgument) << shown;
    auto ranged = store_->Get(key, ByteRange{0, 1});
    ASSERT_FALSE(ranged.ok()) << shown;
    EXPECT_EQ(ranged.error().code, ErrorCode::kInvalidArgument) << shown;
    auto head = store_->Head(key);
    ASSERT_FALSE(head.ok()) << shown;
    EXPECT_EQ(head.error().code, ErrorCode::kInvalidArgument) << shown;
    auto del = store_->Delete(key);
    ASSERT_FALSE(del.ok()) << shown;
    EXPECT_EQ(del.error().code, ErrorCode::kInvalidArgument) << shown;
  }
  // The message says what is wrong with which key.
  auto put = store_->Put("a//b", "x");
  EXPECT_NE(put.error().message.find("\"a//b\""), std::string::npos) << put.error().message;
  EXPECT_NE(put.error().message.find("empty part"), std::string::npos) << put.error().message;
  auto too_long = store_->Put(KeyOfLength(1025), "x");
  EXPECT_NE(too_long.error().message.find("1025"), std::string::npos);

  // Nothing was written anywhere: not in the root, not beside it.
  EXPECT_EQ(Tree(root_), std::set<std::string>{});
  EXPECT_EQ(Tree(outer_.path()), std::set<std::string>{"store"});

  // The limits themselves are fine.
  Put(KeyOfLength(1024), "long");
  EXPECT_EQ(Get(KeyOfLength(1024)), "long");
  Put(std::string(255, 'p'), "long part");
  EXPECT_EQ(Get(std::string(255, 'p')), "long part");
  Put("..x/.y/x..", "dots inside parts");
  Put("é/ü/日本", "utf8");
  EXPECT_EQ(Get("é/ü/日本"), "utf8");
  EXPECT_EQ(ListAll(*store_, "", 1000).size(), 4u);
  EXPECT_EQ(Tree(outer_.path()).count("x"), 0u);
}

TEST_F(ObjectStoreTest, TemporaryFilesAreNotListedAndAreRemoved) {
  Put("a/k", "v");
  Put("top", "v");
  WriteFile(root_ + "/.evs-tmp-123", "partial");
  WriteFile(root_ + "/a/.evs-tmp-456", "partial");
  WriteFile(root_ + "/deep/er/.evs-tmp-789", "partial");

  EXPECT_EQ(ListAll(*store_, "", 1000), (std::vector<std::string>{"a/k", "top"}));
  EXPECT_EQ(ListAll(*store_, "a/", 1000), (std::vector<std::string>{"a/k"}));
  EXPECT_EQ(ListAll(*store_, ".evs", 1000), std::vector<std::string>{});

  auto removed = store_->RemoveIncompleteWrites();
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 3u);
  EXPECT_FALSE(fs::exists(root_ + "/.evs-tmp-123"));
  EXPECT_FALSE(fs::exists(root_ + "/a/.evs-tmp-456"));
  EXPECT_FALSE(fs::exists(root_ + "/deep/er/.evs-tmp-789"));
  EXPECT_EQ(Get("a/k"), "v");
  EXPECT_EQ(Get("top"), "v");

  auto again = store_->RemoveIncompleteWrites();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
}

TEST_F(ObjectStoreTest, FilesThatAreNotKeysAreNotListed) {
  Put("ok", "v");
  WriteFile(root_ + "/ctl\x01name", "x");
  WriteFile(root_ + "/bad\xffutf8", "x");
  EXPECT_EQ(ListAll(*store_, "", 1000), std::vector<std::string>{"ok"});
}

TEST_F(ObjectStoreTest, FailedPutLeavesNoTemporaryFile) {
  Put("file", "v");
  auto below_file = store_->Put("file/x", "v");
  ASSERT_FALSE(below_file.ok());
  EXPECT_EQ(below_file.error().code, ErrorCode::kIOError);
  EXPECT_NE(below_file.error().message.find("file/x"), std::string::npos)
      << below_file.error().message;

  Put("dir/x", "v");
  auto over_folder = store_->Put("dir", "v");
  ASSERT_FALSE(over_folder.ok());
  EXPECT_EQ(over_folder.error().code, ErrorCode::kIOError);
  EXPECT_NE(over_folder.error().message.find("\"dir\""), std::string::npos)
      << over_folder.error().message;

  EXPECT_EQ(Tree(root_), (std::set<std::string>{"file", "dir", "dir/x"}));
  EXPECT_EQ(Get("file"), "v");
}

TEST_F(ObjectStoreTest, ReadersSeeWholeObjectsWhileTheyAreReplaced) {
  auto store = OpenAt(outer_.File("race"), /*durable=*/false);
  const std::vector<std::string> versions = {std::string(100, 'a'), std::string(300000, 'b'),
                                             std::string(7000, 'c')};
  ASSERT_TRUE(store->Put("k", versions[0]).ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 100 && !stop; ++i) {
        EXPECT_TRUE(store->Put("k", versions[(w + i) % versions.size()]).ok());
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    auto bytes = store->Get("k");
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    bool whole = std::find(versions.begin(), versions.end(), *bytes) != versions.end();
    EXPECT_TRUE(whole) << "saw " << bytes->size() << " bytes";
    if (!whole) break;
  }
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(Tree(outer_.File("race")), std::set<std::string>{"k"});
}

TEST(DirectoryObjectStoreOpen, CreatesTheFolderWithParents) {
  evs::testing::TempDir dir;
  std::string path = dir.File("a/b/c");
  auto store = OpenAt(path + "/");
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(store->Location(), path);
  ASSERT_TRUE(store->Put("k", "v").ok());
  EXPECT_TRUE(fs::is_regular_file(path + "/k"));

  // Reopening finds the objects.
  auto again = OpenAt(path);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->Get("k").value(), "v");
}

TEST(DirectoryObjectStoreOpen, MissingFolderWithoutCreateIsNotFound) {
  evs::testing::TempDir dir;
  DirectoryObjectStoreOptions options;
  options.path = dir.File("missing");
  options.create_if_missing = false;
  auto store = OpenDirectoryObjectStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir.File("missing")));
}

TEST(DirectoryObjectStoreOpen, RegularFileIsInvalidArgument) {
  evs::testing::TempDir dir;
  WriteFile(dir.File("file"), "not a folder");
  DirectoryObjectStoreOptions options;
  options.path = dir.File("file");
  auto store = OpenDirectoryObjectStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message.find(dir.File("file")), std::string::npos);

  options.path = "";
  auto empty = OpenDirectoryObjectStore(options);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
}

TEST(ObjectStoreOpen, S3LocationsAreCheckedBeforeAnyRequest) {
  // A malformed bucket is refused whatever the environment holds (with credentials or without).
  auto store = OpenObjectStore("s3://B/p");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
}

TEST(ObjectStoreOpen, FileUrlAndPlainPathOpenFolders) {
  evs::testing::TempDir dir;
  std::string path = dir.File("archive");
  auto by_url = OpenObjectStore("file://" + path);
  ASSERT_TRUE(by_url.ok()) << by_url.error().message;
  EXPECT_EQ((*by_url)->Location(), path);
  ASSERT_TRUE((*by_url)->Put("segments/1", "data").ok());

  auto by_path = OpenObjectStore(path);
  ASSERT_TRUE(by_path.ok()) << by_path.error().message;
  EXPECT_EQ((*by_path)->Get("segments/1").value(), "data");
}

TEST(ObjectStoreOpen, BadLocationsAreInvalidArgument) {
  for (const std::string location : {"", "file://relative/path"}) {
    auto store = OpenObjectStore(location);
    ASSERT_FALSE(store.ok()) << location;
    EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument) << location;
  }
}

}  // namespace
}  // namespace evs
