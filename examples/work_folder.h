// What every example shares and what is not about evs: the folder it works in, and the count of
// its checks that failed (an example exits non-zero when any did, so that its test fails).
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace example {

// The folder given as `path` (created when absent, kept), or, when `path` is empty, a new
// temporary folder removed with everything in it when this object ends.
class WorkFolder {
 public:
  explicit WorkFolder(const std::string& path) {
    if (!path.empty()) {
      std::error_code error;
      std::filesystem::create_directories(path, error);
      path_ = error ? std::string() : path;
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "evs-example-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
      remove_ = true;
    }
  }
  ~WorkFolder() {
    std::error_code ignored;
    if (remove_) std::filesystem::remove_all(path_, ignored);
  }
  WorkFolder(const WorkFolder&) = delete;
  WorkFolder& operator=(const WorkFolder&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  bool remove_ = false;
};

// Counts the checks that failed, each reported on stderr.
class Checks {
 public:
  bool Expect(bool ok, const std::string& what) {
    if (!ok) {
      std::fprintf(stderr, "MISMATCH: %s\n", what.c_str());
      ++failed_;
    }
    return ok;
  }
  int ExitCode() const {
    if (failed_ > 0) std::fprintf(stderr, "%d check(s) failed\n", failed_);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  int failed_ = 0;
};

}  // namespace example
