// An `evs` child process for tests: started with arguments, its stdout and stderr captured,
// ended only by its own PID, every wait bounded.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace evs::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Generous bounds: the sanitizer build is slow, and the machine is shared.
inline constexpr auto kStartTimeout = 60s;
inline constexpr auto kExitTimeout = 60s;

// One `evs` child process with its stdout and stderr captured through pipes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    std::vector<std::string> argv_storage = {EVS_BINARY};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, STDIN_FILENO);
      execv(EVS_BINARY, argv.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    if (pid_ < 0) {
      close(out[0]);
      close(err[0]);
      ADD_FAILURE() << "fork failed";
      return;
    }
    out_reader_ = Drain(out[0], stdout_);
    err_reader_ = Drain(err[0], stderr_);
  }

  ~Child() {
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);  // only the child this test started
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    JoinReaders();
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  std::string Stdout() {
    std::lock_guard guard(mu_);
    return stdout_;
  }
  std::string Stderr() {
    std::lock_guard guard(mu_);
    return stderr_;
  }

  // The port from "evs: serving http://127.0.0.1:PORT (data in DIR)", or 0 when the line does
  // not come in time (or the child ends first). A non-empty `data_dir` must match DIR.
  int WaitForPort(const std::string& data_dir = "") {
    const std::regex line("evs: serving http://127\\.0\\.0\\.1:([0-9]+) \\(data in (.*)\\)\n");
    const auto deadline = Clock::now() + kStartTimeout;
    while (Clock::now() < deadline) {
      std::smatch match;
      const std::string text = Stderr();
      if (std::regex_search(text, match, line)) {
        if (!data_dir.empty()) {
          EXPECT_EQ(match[2].str(), data_dir);
        }
        return std::stoi(match[1].str());
      }
      if (Exited()) return 0;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }

  // True once the child's stderr holds `text`; false when it does not come in time (or the
  // child ends first). Lines written one after the other can arrive apart.
  bool WaitForStderr(const std::string& text) {
    const auto deadline = Clock::now() + kStartTimeout;
    while (Stderr().find(text) == std::string::npos) {
      if (Clock::now() >= deadline || Exited()) return Stderr().find(text) != std::string::npos;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  bool Exited() {
    if (exit_status_) return true;
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      return true;
    }
    return false;
  }

  // Waits, bounded, for the child to end; its wait status, or nullopt on a timeout (the child is
  // then killed).
  std::optional<int> WaitForExit(Clock::duration timeout = kExitTimeout) {
    if (pid_ <= 0) return std::nullopt;
    const auto deadline = Clock::now() + timeout;
    while (!Exited()) {
      if (Clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        exit_status_ = status;
        JoinReaders();
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    JoinReaders();  // the pipes close with the child
    return exit_status_;
  }

  // SIGTERM, then the exit must be clean (status 0) and in time.
  void Terminate() {
    ASSERT_GT(pid_, 0);
    ASSERT_EQ(kill(pid_, SIGTERM), 0);
    auto status = WaitForExit();
    ASSERT_TRUE(status.has_value()) << "no exit within the timeout after SIGTERM\n" << Stderr();
    ASSERT_TRUE(WIFEXITED(*status)) << "ended by signal " << WTERMSIG(*status);
    EXPECT_EQ(WEXITSTATUS(*status), 0) << Stderr();
  }

  // SIGKILL by PID; the child must end by that signal.
  void Kill() {
    ASSERT_GT(pid_, 0);
    ASSERT_EQ(kill(pid_, SIGKILL), 0);
    auto status = WaitForExit();
    ASSERT_TRUE(status.has_value());
    ASSERT_TRUE(WIFSIGNALED(*status));
    EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  }

 private:
  std::thread Drain(int fd, std::string& into) {
    return std::thread([this, fd, &into] {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof buffer)) > 0) {
        std::lock_guard guard(mu_);
        into.append(buffer, static_cast<size_t>(n));
      }
      close(fd);
    });
  }
  void JoinReaders() {
    if (out_reader_.joinable()) out_reader_.join();
    if (err_reader_.joinable()) err_reader_.join();
  }

  pid_t pid_ = -1;
  std::thread out_reader_;
  std::thread err_reader_;
  std::mutex mu_;
  std::string stdout_;
  std::string stderr_;
  std::optional<int> exit_status_;
};

}  // namespace evs::testing
