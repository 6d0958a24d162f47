#include "postgres/pg_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "postgres/pg_connection.h"

namespace evs::pg {

Listener::Listener(std::string url) : url_(std::move(url)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

Listener::~Listener() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

uint64_t Listener::Generation() {
  std::lock_guard guard(mu_);
  return generation_;
}

void Listener::Bump() {
  {
    std::lock_guard guard(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

void Listener::WaitPast(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!listening_.load()) {
    deadline = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  }
  cv_.wait_until(lock, deadline, [&] { return generation_ != seen; });
}

void Listener::Run() {
  auto pause = std::chrono::milliseconds(50);
  while (!stop_.load()) {
    auto connection = Connection::Open(url_);
    if (connection.ok() && (*connection)->ExecScript("LISTEN evs_log").ok()) {
      listening_.store(true);
      Bump();  // commits made while no one listened: waiters look again
      pause = std::chrono::milliseconds(50);
      PGconn* conn = (*connection)->raw();
      while (!stop_.load()) {
        pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int ready = poll(fds, 2, 1000);
        if (ready < 0) continue;  // EINTR
        if (fds[1].revents != 0) break;
        if (fds[0].revents == 0) continue;
        if (PQconsumeInput(conn) == 0) break;  // the connection is gone: reconnect
        bool heard = false;
        while (PGnotify* n = PQnotifies(conn)) {
          heard = true;
          PQfreemem(n);
        }
        if (heard) Bump();
      }
      listening_.store(false);
      Bump();
    }
    if (stop_.load()) break;
    // Down: try again soon, without spinning.
    pollfd wake = {wake_fd_, POLLIN, 0};
    (void)poll(&wake, 1, static_cast<int>(pause.count()));
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace evs::pg
