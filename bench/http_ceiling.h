// What `evs-bench http` compares the evs server with: nginx serving a small static file on
// loopback (the machine's HTTP ceiling), and a client that holds many idle keep-alive
// connections to either server (wrk cannot) in a child process of its own, so that its sockets
// count neither against the bench's file limit nor in its memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "evs/status.h"

namespace evs::bench {

// Resident memory of a process in bytes (VmRSS of /proc/<pid>/status), -1 when unknown.
int64_t ProcessRss(pid_t pid);
// The same, summed over `pid` and its direct children (nginx's master and workers).
int64_t ProcessTreeRss(pid_t pid);
// User and system CPU seconds of `pid` and its direct children so far.
double ProcessTreeCpuSeconds(pid_t pid);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
int64_t RaiseFileLimit();

struct NginxOptions {
  std::string program = "/usr/sbin/nginx";
  std::string dir;             // its config, pid file, error log and the file it serves
  int workers = 1;             // 1: `master_process off` (one process); more: a master and workers
  int max_connections = 1024;  // worker_connections (each worker may get all of them)
  int keepalive_seconds = 60;
  std::string body;  // served at GET /healthz as application/json
};

// nginx started as a child process on 127.0.0.1 and a free port, with a config of its own
// written to options.dir. The destructor stops it (SIGTERM to its pid, then waits), also when
// the bench fails, and removes options.dir; if the bench itself dies, the kernel sends nginx
// SIGTERM (PR_SET_PDEATHSIG).
class Nginx {
 public:
  // kUnavailable when the program is missing or nginx does not come up (its error log is in
  // the message).
  static Result<std::unique_ptr<Nginx>> Start(const NginxOptions& options);
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  Nginx(pid_t pid, int port, std::string dir) : pid_(pid), port_(port), dir_(std::move(dir)) {}
  pid_t pid_;
  int port_;
  std::string dir_;
};

// What the idle client did: connections opened, each sending one GET /healthz, and how they
// were answered.
struct IdleOpened {
  int64_t requested = 0;
  int64_t answered_2xx = 0;  // held open, idle, afterwards
  int64_t refused = 0;       // answered with another status (closed by the client)
  int64_t closed = 0;        // closed by the server before a whole answer
  int64_t unanswered = 0;    // no answer within 10 s (the client stopped opening more)
  std::string error;         // why it stopped early (a connect or socket error), if it did
  double open_seconds = 0;   // opening and answering them all
};

// The client process: spawned by Start(), it opens `count` connections to 127.0.0.1:`port`
// in batches and holds the answered ones open until Finish() (or until the bench exits).
class IdleClient {
 public:
  static Result<std::unique_ptr<IdleClient>> Start(int port, int64_t count);
  ~IdleClient();
  IdleClient(const IdleClient&) = delete;
  IdleClient& operator=(const IdleClient&) = delete;

  // Waits until the client has opened its connections.
  Result<IdleOpened> WaitOpened();
  // How many of the held connections the server has not closed.
  Result<int64_t> CountStillOpen();
  // Closes them all and waits for the client to exit.
  void Finish();

 private:
  IdleClient(pid_t pid, int to_child, int from_child)
      : pid_(pid), to_(to_child), from_(from_child) {}
  Result<std::string> ReadLine();
  pid_t pid_;
  int to_, from_;
  std::string buffered_;
};

// One GET /healthz on a new connection: its status (0 when it failed) and its time.
struct FreshRequest {
  int status = 0;
  double ms = 0;
  std::string error;
};
FreshRequest GetHealthz(int port);

// The client's side, run by `evs-bench --idle-client PORT COUNT` (what IdleClient::Start
// spawns): reads "check" lines on stdin until EOF.
int IdleClientMain(int port, int64_t count);

}  // namespace evs::bench
