// Keys that try to leave the folder of a directory ObjectStore: every operation refuses them with
// a message that names the key and the rule, or (when the key is an ordinary name that only
// looks odd) keeps the object inside the folder. Nothing ever appears beside the folder.
// (Stream ids over HTTP: tests/http_security_test.cc.)
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "evs/object_store.h"
#include "temp_dir.h"

namespace evs {
namespace {

namespace fs = std::filesystem;

// Every path under `root`, relative to it, folders included (symlinks not followed).
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    paths.insert(fs::relative(entry.path(), root).string());
  }
  return paths;
}

class PathTraversalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // outer/store is the store's folder; outer/secret and outer/etc/passwd are what an escape
    // would reach, and must stay as they are.
    root_ = outer_.File("store");
    fs::create_directories(outer_.File("etc"));
    WriteOutside("secret");
    WriteOutside("etc/passwd");
    DirectoryObjectStoreOptions options;
    options.path = root_;
    options.durable = false;
    auto store = OpenDirectoryObjectStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    outside_before_ = Tree(outer_.path());
  }

  void WriteOutside(const std::string& name) {
    FILE* f = std::fopen(outer_.File(name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("untouched", f);
    std::fclose(f);
  }

  std::string ReadOutside(const std::string& name) {
    std::string text(64, '\0');
    FILE* f = std::fopen(outer_.File(name).c_str(), "r");
    if (f == nullptr) return "<missing>";
    text.resize(std::fread(text.data(), 1, text.size(), f));
    std::fclose(f);
    return text;
  }

  // Every operation on `key` is kInvalidArgument, saying "invalid key" and why.
  void ExpectRefused(const std::string& key, const std::string& why) {
    const std::string shown = key.substr(0, 60);
    auto check = [&](const char* operation, bool ok, const Error* error) {
      ASSERT_FALSE(ok) << operation << " " << shown;
      EXPECT_EQ(error->code, ErrorCode::kInvalidArgument) << operation << " " << shown;
      EXPECT_NE(error->message.find("invalid key"), std::string::npos) << error->message;
      EXPECT_NE(error->message.find(why), std::string::npos) << error->message;
    };
    auto put = store_->Put(key, "evil");
    check("Put", put.ok(), put.ok() ? nullptr : &put.error());
    auto del = store_->Delete(key);
    check("Delete", del.ok(), del.ok() ? nullptr : &del.error());
    auto get = store_->Get(key);
    check("Get", get.ok(), get.ok() ? nullptr : &get.error());
    auto ranged = store_->Get(key, ByteRange{0, 4});
    check("Get range", ranged.ok(), ranged.ok() ? nullptr : &ranged.error());
    auto head = store_->Head(key);
    check("Head", head.ok(), head.ok() ? nullptr : &head.error());
  }

  void ExpectNothingEscaped() {
    EXPECT_EQ(ReadOutside("secret"), "untouched");
    EXPECT_EQ(ReadOutside("etc/passwd"), "untouched");
    std::set<std::string> outside = Tree(outer_.path());
    std::erase_if(outside,
                  [](const std::string& p) { return p == "store" || p.starts_with("store/"); });
    std::set<std::string> before = outside_before_;
    std::erase_if(before,
                  [](const std::string& p) { return p == "store" || p.starts_with("store/"); });
    EXPECT_EQ(outside, before);
  }

  testing::TempDir outer_;
  std::string root_;
  std::unique_ptr<ObjectStore> store_;
  std::set<std::string> outside_before_;
};

TEST_F(PathTraversalTest, KeysThatClimbOutAreRefused) {
  ExpectRefused("../secret", "'..' part");
  ExpectRefused("a/../../secret", "'..' part");
  ExpectRefused("../etc/passwd", "'..' part");
  ExpectRefused("a/b/../../../etc/passwd", "'..' part");
  ExpectRefused("..", "'..' part");
  ExpectRefused("a/..", "'..' part");
  ExpectRefused("a/./b", "'.' part");
  ExpectRefused("./a", "'.' part");
  ExpectRefused("/etc/passwd", "starts with '/'");
  ExpectRefused(outer_.File("secret"), "starts with '/'");
  ExpectRefused("a//../secret", "empty part");
  ExpectNothingEscaped();
  EXPECT_EQ(Tree(root_), std::set<std::string>{});
}

TEST_F(PathTraversalTest, NulControlAndOverlongKeysAreRefused) {
  ExpectRefused(std::string("ok\0/../../secret", 16), "NUL");
  ExpectRefused(std::string("\0", 1), "NUL");
  ExpectRefused("a\nb", "control character");
  ExpectRefused(std::string(1025, 'k'), "1025 bytes long; the limit is 1024");
  ExpectRefused("a/" + std::string(256, 'k'), "part longer than 255 bytes");
  ExpectRefused(std::string(100000, '.'), "100000 bytes long");
  ExpectNothingEscaped();
  EXPECT_EQ(Tree(root_), std::set<std::string>{});
}

// Keys whose bytes only look like traversal to another layer (a URL decoder, Windows) are plain
// names on this one: they are stored as files of exactly that name inside the folder.
TEST_F(PathTraversalTest, EncodedAndBackslashKeysStayInside) {
  const std::vector<std::string> keys = {
      "%2e%2e/secret", "..%2Fsecret",       "%2E%2E%2Fetc%2Fpasswd",
      "..\\secret",    "a\\..\\..\\secret", "\\etc\\passwd",
      "...",           "..secret"};
  for (const std::string& key : keys) {
    ASSERT_TRUE(store_->Put(key, "inside").ok()) << key;
    EXPECT_TRUE(fs::is_regular_file(fs::path(root_) / key)) << key;
    auto got = store_->Get(key);
    ASSERT_TRUE(got.ok()) << key;
    EXPECT_EQ(*got, "inside");
  }
  ListOptions all;
  auto listed = store_->List(all);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->objects.size(), keys.size());
  for (const std::string& key : keys) ASSERT_TRUE(store_->Delete(key).ok()) << key;
  ExpectNothingEscaped();
}

TEST_F(PathTraversalTest, ListingPrefixesCannotClimbOut) {
  ASSERT_TRUE(store_->Put("inside/a", "1").ok());
  for (const std::string prefix : {"../", "..", "a/../", "inside/../../", "../etc/"}) {
    ListOptions options;
    options.prefix = prefix;
    auto listed = store_->List(options);
    ASSERT_FALSE(listed.ok()) << prefix;
    EXPECT_EQ(listed.error().code, ErrorCode::kInvalidArgument) << prefix;
  }
  // A prefix that no key can have (keys never start with '/') lists nothing, and certainly not
  // the /etc beside the folder.
  for (const std::string& prefix : std::vector<std::string>{"/etc", "/", outer_.File("etc/")}) {
    ListOptions options;
    options.prefix = prefix;
    auto listed = store_->List(options);
    if (listed.ok()) {
      EXPECT_TRUE(listed->objects.empty()) << prefix << ": " << listed->objects.front().key;
    } else {
      EXPECT_EQ(listed.error().code, ErrorCode::kInvalidArgument) << prefix;
    }
  }
  ListOptions options;
  options.start_after = "../secret";
  auto listed = store_->List(options);
  if (listed.ok()) {
    for (const auto& object : listed->objects) EXPECT_EQ(object.key, "inside/a");
  }
  ExpectNothingEscaped();
}

}  // namespace
}  // namespace evs
