// A client of a Server-Sent Events stream (GET /log/live) for the HTTP tests.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace evs::testing {

// One Server-Sent Event.
struct SseEvent {
  int64_t id = -1;
  std::string type;
  nlohmann::json data;
};

// Reads GET /log/live on a thread of its own until Stop(); collects the events in order, and the
// ids of blocks that carry an id but no data (the checkpoints of a filtered tail).
class SseReader {
 public:
  SseReader(int port, std::string target, httplib::Headers headers = {})
      : client_(std::make_unique<httplib::Client>("127.0.0.1", port)) {
    client_->set_connection_timeout(5);
    client_->set_read_timeout(30);  // longer than nothing happening in these tests
    thread_ = std::thread([this, target = std::move(target), headers = std::move(headers)] {
      auto result = client_->Get(
          target, headers,
          [this](const httplib::Response& response) {
            std::lock_guard guard(mu_);
            status_ = response.status;
            content_type_ = response.get_header_value("Content-Type");
            cache_control_ = response.get_header_value("Cache-Control");
            return true;
          },
          [this](const char* data, size_t length) {
            std::lock_guard guard(mu_);
            buffer_.append(data, length);
            for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;) {
              Parse(buffer_.substr(0, end + 1));
              buffer_.erase(0, end + 2);
            }
            changed_.notify_all();
            return !stop_;
          });
      std::lock_guard guard(mu_);
      ended_ = true;
      changed_.notify_all();
    });
  }
  ~SseReader() {
    {
      std::lock_guard guard(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  // Waits until at least `count` events came (or the stream ended), bounded.
  bool WaitFor(size_t count, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count || ended_; }) &&
           events_.size() >= count;
  }
  // Waits until the first comment came.
  bool WaitForComment(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return !comments_.empty() || ended_; }) &&
           !comments_.empty();
  }

  // Asks the receiver to return false on its next call; the caller then makes the server send
  // something (an append) and the thread ends. Bounded by the read timeout in any case.
  void RequestStop() {
    std::lock_guard guard(mu_);
    stop_ = true;
  }
  bool WaitForEnd(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    bool ended = changed_.wait_for(lock, timeout, [&] { return ended_; });
    lock.unlock();
    if (ended && thread_.joinable()) thread_.join();
    return ended;
  }

  std::vector<SseEvent> Events() {
    std::lock_guard guard(mu_);
    return events_;
  }
  // The ids of the checkpoints, in order.
  std::vector<int64_t> Checkpoints() {
    std::lock_guard guard(mu_);
    return checkpoints_;
  }
  // Waits until a checkpoint at `position` or later came (or the stream ended), bounded.
  bool WaitForCheckpoint(int64_t position,
                         std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    auto reached = [&] { return !checkpoints_.empty() && checkpoints_.back() >= position; };
    return changed_.wait_for(lock, timeout, [&] { return reached() || ended_; }) && reached();
  }
  std::vector<std::string> Comments() {
    std::lock_guard guard(mu_);
    return comments_;
  }
  std::vector<std::string> Errors() {
    std::lock_guard guard(mu_);
    return errors_;
  }
  int status() {
    std::lock_guard guard(mu_);
    return status_;
  }
  std::string content_type() {
    std::lock_guard guard(mu_);
    return content_type_;
  }
  std::string cache_control() {
    std::lock_guard guard(mu_);
    return cache_control_;
  }

 private:
  // One block of "field: value" lines (each ending in \n).
  void Parse(const std::string& block) {
    SseEvent event;
    bool has_data = false;
    size_t start = 0;
    while (start < block.size()) {
      size_t end = block.find('\n', start);
      if (end == std::string::npos) end = block.size();
      const std::string line = block.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      if (line[0] == ':') {
        comments_.push_back(line);
      } else if (line.rfind("id: ", 0) == 0) {
        event.id = std::stoll(line.substr(4));
      } else if (line.rfind("event: ", 0) == 0) {
        event.type = line.substr(7);
      } else if (line.rfind("data: ", 0) == 0) {
        event.data = nlohmann::json::parse(line.substr(6), nullptr, /*allow_exceptions=*/false);
        has_data = true;
      } else {
        errors_.push_back("unexpected line: " + line);
      }
    }
    if (event.type == "error") {
      errors_.push_back("error event: " + block);
    } else if (has_data) {
      events_.push_back(std::move(event));
    } else if (event.id >= 0) {
      checkpoints_.push_back(event.id);
    }
  }

  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::string buffer_;
  std::vector<SseEvent> events_;
  std::vector<int64_t> checkpoints_;
  std::vector<std::string> comments_;
  std::vector<std::string> errors_;
  int status_ = 0;
  std::string content_type_;
  std::string cache_control_;
  bool stop_ = false;
  bool ended_ = false;
};

}  // namespace evs::testing
