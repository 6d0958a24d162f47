#include "http_ceiling.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHealthzRequest = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// Direct children of `pid`, from the ppid field of /proc/*/stat.
std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');  // the command name may hold spaces
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    std::string state;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == pid) out.push_back(std::atoi(name.c_str()));
  }
  return out;
}

double CpuSecondsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  // Fields 3.. after the name; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::atof(field.c_str());
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A port that was free a moment ago on 127.0.0.1.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// To a socket, or a pipe (`to_pipe`; the client reads until EOF, so the pipe outlives writes).
bool SendAll(int fd, const std::string& data, bool to_pipe = false) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n = to_pipe ? write(fd, data.data() + sent, data.size() - sent)
                              : send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// The status of a whole response in `data`, 0 while incomplete. Both servers answer /healthz
// with a Content-Length.
int CompleteStatus(const std::string& data) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos || data.size() < 12) return 0;
  std::string head = data.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(), ::tolower);
  size_t length = 0;
  if (const size_t at = head.find("\r\ncontent-length:"); at != std::string::npos) {
    length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
  }
  if (data.size() < end + 4 + length) return 0;
  return std::atoi(data.c_str() + 9);  // "HTTP/1.1 200"
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

int64_t ProcessRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;  // kB
  }
  return -1;
}

int64_t ProcessTreeRss(pid_t pid) {
  int64_t total = ProcessRss(pid);
  if (total < 0) return -1;
  for (pid_t child : Children(pid)) total += std::max<int64_t>(0, ProcessRss(child));
  return total;
}

double ProcessTreeCpuSeconds(pid_t pid) {
  double total = CpuSecondsOf(pid);
  for (pid_t child : Children(pid)) total += CpuSecondsOf(child);
  return total;
}

int64_t RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur == RLIM_INFINITY ? INT64_MAX : static_cast<int64_t>(limit.rlim_cur);
}

// ---- nginx -----------------------------------------------------------------------------------

Result<std::unique_ptr<Nginx>> Nginx::Start(const NginxOptions& options) {
  if (access(options.program.c_str(), X_OK) != 0) {
    return Error::Make(ErrorCode::kUnavailable,
                       options.program +
                           " not found (apt-get install nginx; scripts/setup does; "
                           "or pass --nginx PATH)");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  const int port = FreePort();
  if (ec || port < 0) return Error::Make(ErrorCode::kIOError, "cannot prepare " + options.dir);
  {
    std::ofstream body(options.dir + "/healthz");
    body << options.body;
  }
  const std::string& d = options.dir;
  std::ostringstream conf;
  conf << "# written by evs-bench http\ndaemon off;\n";
  if (options.workers <= 1) {
    conf << "master_process off;\n";
  } else {
    conf << "worker_processes " << options.workers << ";\n";
    // Workers of a master started by root switch to `nobody`, which cannot read the scratch
    // folder: keep them as the bench's own user.
    if (geteuid() == 0) conf << "user root;\n";
  }
  conf << "pid " << d << "/nginx.pid;\n"
       << "error_log " << d << "/error.log warn;\n"
       << "worker_rlimit_nofile " << options.max_connections + 64 << ";\n"
       << "events { worker_connections " << options.max_connections << "; }\n"
       << "http {\n"
       << "  access_log off;\n"
       << "  keepalive_timeout " << options.keepalive_seconds << "s;\n"
       << "  keepalive_requests 1000000;\n";  // as the evs server: no limit per connection
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    conf << "  " << temp << "_temp_path " << d << "/" << temp << ";\n";
  }
  conf << "  server {\n"
       << "    listen 127.0.0.1:" << port << ";\n"
       << "    root " << d << ";\n"
       << "    location = /healthz { default_type application/json; }\n"
       << "  }\n}\n";
  {
    std::ofstream out(d + "/nginx.conf");
    out << conf.str();
    if (!out.good()) return Error::Make(ErrorCode::kIOError, "cannot write " + d + "/nginx.conf");
  }

  const std::vector<std::string> argv = {options.program, "-p", d, "-c", d + "/nginx.conf", "-e",
                                         d + "/error.log"};
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = open((d + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    if (log >= 0) close(log);
    return Error::Make(ErrorCode::kIOError, "fork failed");
  }
  if (pid == 0) {
    // Only async-signal-safe calls until execv: the bench has threads.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (log >= 0) close(log);
  std::unique_ptr<Nginx> nginx(new Nginx(pid, port, d));

  // Up when it accepts a connection; failed when it exits first.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      nginx->pid_ = -1;
      std::ifstream error_log(d + "/error.log"), stderr_log(d + "/stderr.log");
      std::string text((std::istreambuf_iterator<char>(error_log)),
                       std::istreambuf_iterator<char>());
      text.append(std::istreambuf_iterator<char>(stderr_log), std::istreambuf_iterator<char>());
      return Error::Make(ErrorCode::kUnavailable, "nginx exited at start: " + text);
    }
    const int fd = Connect(port);
    if (fd >= 0) {
      close(fd);
      return nginx;
    }
    if (Clock::now() > deadline) {
      return Error::Make(ErrorCode::kUnavailable, "nginx did not listen within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {

// Waits for the child `pid` to exit; past `timeout`, kills it (SIGKILL) and reaps it.
void ReapWithin(pid_t pid, std::chrono::seconds timeout) {
  int status = 0;
  const auto deadline = Clock::now() + timeout;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

Nginx::~Nginx() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers
    ReapWithin(pid_, std::chrono::seconds(10));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

// ---- the idle client -------------------------------------------------------------------------

Result<std::unique_ptr<IdleClient>> IdleClient::Start(int port, int64_t count) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0) return Error::Make(ErrorCode::kIOError, "pipe failed");
  if (pipe2(from, O_CLOEXEC) != 0) {
    close(to[0]);
    close(to[1]);
    return Error::Make(ErrorCode::kIOError, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from[1], 1);
  const std::vector<std::string> argv = {"evs-bench", "--idle-client", std::to_string(port),
                                         std::to_string(count)};
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(to[0]);
  close(from[1]);
  if (rc != 0) {
    close(to[1]);
    close(from[0]);
    return Error::Make(ErrorCode::kUnavailable,
                       std::string("cannot start the idle client: ") + std::strerror(rc));
  }
  return std::unique_ptr<IdleClient>(new IdleClient(pid, to[1], from[0]));
}

IdleClient::~IdleClient() { Finish(); }

void IdleClient::Finish() {
  if (pid_ <= 0) return;
  close(to_);  // EOF: the client closes its connections and exits
  close(from_);
  ReapWithin(pid_, std::chrono::seconds(30));
  pid_ = -1;
}

Result<std::string> IdleClient::ReadLine() {
  for (;;) {
    if (const size_t nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    char buf[512];
    const ssize_t n = read(from_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::Make(ErrorCode::kUnavailable, "the idle client exited early");
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

Result<IdleOpened> IdleClient::WaitOpened() {
  auto line = ReadLine();
  if (!line.ok()) return line.error();
  // "opened requested=N ok=N refused=N closed=N unanswered=N seconds=S error=TEXT"
  IdleOpened r;
  std::istringstream in(*line);
  std::string token;
  in >> token;
  while (in >> token) {
    const size_t eq = token.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = token.substr(0, eq), value = token.substr(eq + 1);
    if (key == "error") {
      std::string rest;
      std::getline(in, rest);
      r.error = value + rest;
      break;
    }
    const int64_t n = std::atoll(value.c_str());
    if (key == "requested") r.requested = n;
    if (key == "ok") r.answered_2xx = n;
    if (key == "refused") r.refused = n;
    if (key == "closed") r.closed = n;
    if (key == "unanswered") r.unanswered = n;
    if (key == "seconds") r.open_seconds = std::atof(value.c_str());
  }
  return r;
}

Result<int64_t> IdleClient::CountStillOpen() {
  if (!SendAll(to_, "check\n", true))
    return Error::Make(ErrorCode::kUnavailable, "idle client gone");
  auto line = ReadLine();
  if (!line.ok()) return line.error();
  return std::atoll(line->c_str());
}

FreshRequest GetHealthz(int port) {
  FreshRequest r;
  const auto start = Clock::now();
  const int fd = Connect(port);
  if (fd < 0) {
    r.error = std::string("connect: ") + std::strerror(-fd);
    return r;
  }
  std::string data;
  const auto deadline = start + std::chrono::seconds(10);
  if (!SendAll(fd, kHealthzRequest)) r.error = "send failed";
  while (r.error.empty() && CompleteStatus(data) == 0) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) {
      r.error = "no answer within 10 s";
      break;
    }
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.error = "closed by the server";
      break;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (r.error.empty()) r.status = CompleteStatus(data);
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return r;
}

int IdleClientMain(int port, int64_t count) {
  RaiseFileLimit();
  // Batches of connects, each sending its request and waiting for every answer before the next,
  // so that neither listen queue overflows.
  constexpr int64_t kBatch = 256;
  std::vector<int> held;
  held.reserve(static_cast<size_t>(count));
  int64_t refused = 0, closed = 0, unanswered = 0;
  std::string error;
  const auto start = Clock::now();
  for (int64_t first = 0; first < count && error.empty() && unanswered == 0; first += kBatch) {
    std::vector<int> fds;
    std::vector<std::string> data;
    for (int64_t i = first; i < std::min(count, first + kBatch); ++i) {
      const int fd = Connect(port);
      if (fd < 0) {
        error = "connect " + std::to_string(i + 1) + ": " + std::strerror(-fd);
        break;
      }
      fds.push_back(fd);
      data.emplace_back();
      if (!SendAll(fd, kHealthzRequest)) data.back() = "x";  // counts as closed below
    }
    std::vector<int> status(fds.size(), 0);  // 0 waiting, -1 closed, else the HTTP status
    for (size_t i = 0; i < fds.size(); ++i) {
      if (data[i] == "x") status[i] = -1;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::vector<pollfd> waiting;
      std::vector<size_t> index;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (status[i] != 0) continue;
        waiting.push_back({fds[i], POLLIN, 0});
        index.push_back(i);
      }
      if (waiting.empty()) break;
      const int ready = poll(waiting.data(), waiting.size(), RemainingMs(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;  // the rest are unanswered
      for (size_t k = 0; k < waiting.size(); ++k) {
        if (waiting[k].revents == 0) continue;
        const size_t i = index[k];
        char buf[4096];
        const ssize_t n = recv(fds[i], buf, sizeof buf, 0);
        if (n <= 0) {
          status[i] = -1;
          continue;
        }
        data[i].append(buf, static_cast<size_t>(n));
        status[i] = CompleteStatus(data[i]);
      }
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (status[i] >= 200 && status[i] < 300) {
        held.push_back(fds[i]);
        continue;
      }
      if (status[i] == 0) ++unanswered;
      if (status[i] == -1) ++closed;
      if (status[i] > 0) ++refused;
      close(fds[i]);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("opened requested=%lld ok=%zu refused=%lld closed=%lld unanswered=%lld seconds=%.3f",
              static_cast<long long>(count), held.size(), static_cast<long long>(refused),
              static_cast<long long>(closed), static_cast<long long>(unanswered), seconds);
  if (!error.empty()) std::printf(" error=%s", error.c_str());
  std::printf("\n");
  std::fflush(stdout);

  // "check": how many the server has not closed (a closed one polls readable, with EOF).
  for (char line[64]; std::fgets(line, sizeof line, stdin) != nullptr;) {
    std::vector<pollfd> all;
    all.reserve(held.size());
    for (int fd : held) all.push_back({fd, POLLIN | POLLRDHUP, 0});
    int64_t open = static_cast<int64_t>(held.size());
    if (!all.empty() && poll(all.data(), all.size(), 0) > 0) {
      for (const pollfd& p : all) open -= p.revents != 0 ? 1 : 0;
    }
    std::printf("%lld\n", static_cast<long long>(open));
    std::fflush(stdout);
  }
  for (int fd : held) close(fd);
  return 0;
}

}  // namespace evs::bench
