// `evs-bench http`: the HTTP API of `evs serve` under load on loopback, measured with wrk.
//
// The server runs in this process on its own thread, set up as `evs serve` runs by default: a
// durable SQLite store in the run's scratch folder, the cart-summary projection and the event
// log subscribed to it (the log's JSON lines formatted and written, to /dev/null here rather
// than to serve's stdout, where the report goes), GET /subscriptions and /carts served from
// them, http::Api and http::Server on 127.0.0.1 with an ephemeral port. Left out: the access
// log (`evs serve --quiet` leaves it out too; it goes to stderr) and the archiver (only with
// `evs serve --archive`). Before
// measuring, --carts carts are opened through the Api. Then wrk (--wrk-threads threads,
// --connections keep-alive connections) runs one Lua script per row, written to the scratch
// folder, whose request() picks a random pre-formatted request and whose done() prints
// requests, duration and latency percentiles on one line that this program parses:
//
//   http_healthz   GET /healthz, the server's cheapest endpoint; first from nginx (system
//                  "nginx": a static file of the same {"status":"ok"}, started as a child process
//                  with a config of its own, as many workers as the evs server has I/O threads),
//                  the HTTP ceiling of this machine and the baseline of every evs row, each
//                  beside issue 17's target at 64 connections (without nginx: evs's /healthz)
//   http_add_item  POST /carts/{id}/items {"name": one of 5, "quantity": 1, "unit_price_cents"}
//                  (durable: acknowledged after fsync), a random cart per request
//   http_get_cart  GET /carts/{id}, a random cart per request (run after AddItem, so the carts
//                  hold a few lines)
//
// Every row runs the same request() (a table lookup by a random index), so the client's share
// of the CPU is alike and the ratios compare the server's work. wrk and the server share the
// machine's cores: the ceiling is that of wrk and the server together.
//
// After AddItem the carts are read back from the store (no cache) and their total quantity is
// checked against the server's count of 2xx AddItem responses; wrk's own count of the measured
// run must be at most the server's (requests in flight when wrk stops are answered after it has
// stopped counting). Non-2xx responses and socket errors are counted as errors of the row and
// named in its note, and make the benchmark fail.
//
// Each row's note also says where the CPU went during the measured run (this process, i.e. the
// server; wrk; everything else on the machine, which should be near 0) and, for AddItem, what
// the store's group commit did (appends per commit, commits/s, mean fsync).
//
// Then the http-idle rows: --idle-connections keep-alive connections (default 10,000), each
// sending one GET /healthz and then idle, held by a child process (evs-bench --idle-client) so
// that its sockets count neither against this process's file limit nor in its memory; first to
// an evs server of its own (options sized for them in one place, IdleOptions), whose memory is
// this process's RSS, then to nginx (its processes' RSS); a fresh request meanwhile, and how many
// the server still holds after --seconds idle.
//
// Connects the listen queue dropped are counted (the kernel's ListenOverflows) and named in the
// note: a dropped connect stalls for a second or more (SYN-ACK retransmit), so a row with drops
// measures fewer live connections than it says. A measured run with drops is repeated, at most
// kAttempts runs in all, and the row names the drops it replaced.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "cart/cart.h"
#include "cart/cart_http.h"
#include "cart/cart_reports.h"
#include "cart/cart_summary_projection.h"
#include "common/event_json.h"
#include "engines.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "evs/projection.h"
#include "evs/repository.h"
#include "evs/subscription.h"
#include "http_ceiling.h"
#include "report.h"

extern char** environ;

namespace evs::bench {
namespace {

constexpr int kOpenThreads = 32;  // carts are opened concurrently so their fsyncs are shared
constexpr int64_t kUnitPriceCents = 250;
constexpr const char* kItemNames[] = {"apple", "banana", "cherry", "date", "elderberry"};
constexpr const char* kAddItemRoute = "/carts/{id}/items";

// ---- running wrk ---------------------------------------------------------------------------

struct ProcessResult {
  int exit_code = -1;
  std::string output;      // stdout and stderr, interleaved
  double cpu_seconds = 0;  // user and system time of the process
};

double CpuSeconds(const struct rusage& usage) {
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Runs `argv` (looked up on PATH) and collects its output.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return Error::Make(ErrorCode::kIOError, "pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Error::Make(
        ErrorCode::kUnavailable,
        "cannot run " + argv[0] + " (" + std::strerror(rc) +
            "); install wrk (apt-get install wrk; scripts/setup does) or pass --wrk");
  }
  ProcessResult result;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  struct rusage usage {};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.cpu_seconds = CpuSeconds(usage);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// What the script's done() prints, one "key=value" per field after the marker.
constexpr const char* kMarker = "evs-bench-wrk";

struct WrkResult {
  int64_t requests = 0;   // responses of any status
  double duration_s = 0;  // wrk's measured interval
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  int64_t non_2xx = 0;  // wrk's "status" errors: responses with a status of 400 or more
  int64_t connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
  double cpu_seconds = 0;  // wrk's own
  int64_t SocketErrors() const { return connect_errors + read_errors + write_errors + timeouts; }
};

std::optional<WrkResult> ParseWrk(const std::string& output) {
  const size_t at = output.find(std::string(kMarker) + " ");
  if (at == std::string::npos) return std::nullopt;
  const size_t end = output.find('\n', at);
  std::istringstream line(output.substr(at, end == std::string::npos ? end : end - at));
  std::map<std::string, double> fields;
  std::string token;
  line >> token;  // the marker
  while (line >> token) {
    const size_t eq = token.find('=');
    if (eq == std::string::npos) continue;
    fields[token.substr(0, eq)] = std::strtod(token.c_str() + eq + 1, nullptr);
  }
  for (const char* key : {"requests", "duration_us", "p50_us", "p99_us"}) {
    if (!fields.count(key)) return std::nullopt;
  }
  WrkResult r;
  auto count = [&](const char* key) { return static_cast<int64_t>(std::llround(fields[key])); };
  r.requests = count("requests");
  r.duration_s = fields["duration_us"] / 1e6;
  r.p50_us = fields["p50_us"];
  r.p90_us = fields["p90_us"];
  r.p99_us = fields["p99_us"];
  r.p999_us = fields["p999_us"];
  r.max_us = fields["max_us"];
  r.mean_us = fields["mean_us"];
  r.non_2xx = count("status_errors");
  r.connect_errors = count("connect_errors");
  r.read_errors = count("read_errors");
  r.write_errors = count("write_errors");
  r.timeouts = count("timeouts");
  return r;
}

std::string LuaString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A wrk script that sends `method` to a random one of `paths`, with a random one of `bodies`
// (JSON) when there are any. The requests are formatted once, in init(), so that request() costs
// the same little for every row.
std::string WrkScript(const std::string& method, const std::vector<std::string>& paths,
                      const std::vector<std::string>& bodies) {
  std::string s = "-- written by evs-bench http\nlocal paths = {\n";
  for (const std::string& p : paths) s += "  " + LuaString(p) + ",\n";
  s += "}\nlocal bodies = {\n";
  for (const std::string& b : bodies) s += "  " + LuaString(b) + ",\n";
  s += "}\nlocal method = " + LuaString(method) + "\n";
  s += R"(local prepared = {}
local thread_index = 0

function setup(thread)
  thread:set("thread_index", thread_index)
  thread_index = thread_index + 1
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_index or 0))
  for _, path in ipairs(paths) do
    if #bodies == 0 then
      prepared[#prepared + 1] = wrk.format(method, path, {})
    else
      for _, body in ipairs(bodies) do
        prepared[#prepared + 1] =
            wrk.format(method, path, {["Content-Type"] = "application/json"}, body)
      end
    end
  end
end

function request()
  return prepared[math.random(#prepared)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
      "evs-bench-wrk requests=%.0f duration_us=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f " ..
      "p999_us=%.0f max_us=%.0f mean_us=%.1f status_errors=%.0f connect_errors=%.0f " ..
      "read_errors=%.0f write_errors=%.0f timeouts=%.0f\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean, e.status,
      e.connect, e.read, e.write, e.timeout))
end
)";
  return s;
}

// The kernel's count of connections dropped because a listen queue was full (TcpExt
// ListenOverflows in /proc/net/netstat, all sockets of the machine); -1 when unknown. A dropped
// connection is retried by the client's TCP after a second or more, which shows as a latency tail
// and as connections that sit idle for part of the run.
int64_t ListenOverflows() {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name == "ListenOverflows") return std::atoll(value.c_str());
    }
  }
  return -1;
}

// Busy and total CPU time of the machine so far, in clock ticks (the "cpu" line of /proc/stat).
struct MachineCpu {
  int64_t busy = 0, total = 0;
};

MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  MachineCpu cpu;
  int64_t value = 0;
  for (int field = 0; field < 8 && in >> value; ++field) {
    cpu.total += value;
    if (field != 3 && field != 4) cpu.busy += value;  // not idle, not iowait
  }
  return cpu;
}

double SelfCpuSeconds() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return CpuSeconds(usage);
}

// ---- the server's own counts ---------------------------------------------------------------

// Responses by status of one route and method, from the server's /metrics.
std::map<int, int64_t> ServerStatusCounts(http::Api& api, const std::string& route,
                                          const std::string& method) {
  http::Request request;
  request.method = "GET";
  request.target = "/metrics";
  const std::string text = api.Handle(request).body;
  const std::string prefix =
      "evs_http_requests_total{route=\"" + route + "\",method=\"" + method + "\",status=\"";
  std::map<int, int64_t> counts;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const int status = std::atoi(line.c_str() + prefix.size());
    const size_t space = line.rfind(' ');
    counts[status] += std::atoll(line.c_str() + space + 1);
  }
  return counts;
}

int64_t Total(const std::map<int, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [status, count] : counts) n += count;
  return n;
}

int64_t Count2xx(const std::map<int, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [status, count] : counts) n += status >= 200 && status < 300 ? count : 0;
  return n;
}

std::map<int, int64_t> Minus(std::map<int, int64_t> after, const std::map<int, int64_t>& before) {
  for (const auto& [status, count] : before) after[status] -= count;
  return after;
}

// Waits until the server has answered the requests still in flight when wrk stopped: its count
// of responses on `route` has not moved for 100 ms (at most 10 s).
void WaitUntilSettled(http::Api& api, const std::string& route, const std::string& method) {
  int64_t last = -1;
  int stable = 0;
  for (int i = 0; i < 500 && stable < 5; ++i) {
    const int64_t now = Total(ServerStatusCounts(api, route, method));
    stable = now == last ? stable + 1 : 0;
    last = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---- the rows --------------------------------------------------------------------------------

struct Load {
  const char* bench;
  std::string method;
  std::string route;  // the server's route label
  std::vector<std::string> paths;
  std::vector<std::string> bodies;
};

// The server under load: the in-process evs server (api and store set), or nginx (its pid).
struct HttpRun {
  const BenchOptions& options;
  http::Api* api;
  EventStore* store;
  int port;
  std::string system = "evs";
  pid_t server_pid = 0;  // 0: this process
};

Result<WrkResult> RunWrk(const HttpRun& run, const std::string& script_path, int seconds) {
  const std::vector<std::string> argv = {run.options.wrk,
                                         "-t" + std::to_string(run.options.wrk_threads),
                                         "-c" + std::to_string(run.options.connections),
                                         "-d" + std::to_string(seconds) + "s",
                                         "--timeout",
                                         "10s",
                                         "-s",
                                         script_path,
                                         "http://127.0.0.1:" + std::to_string(run.port)};
  auto process = RunProcess(argv);
  if (!process.ok()) return process.error();
  auto parsed = ParseWrk(process->output);
  if (process->exit_code != 0 || !parsed) {
    return Error::Make(ErrorCode::kUnavailable, "wrk exited with " +
                                                    std::to_string(process->exit_code) +
                                                    " and printed:\n" + process->output);
  }
  parsed->cpu_seconds = process->cpu_seconds;
  return *parsed;
}

std::string StatusList(const std::map<int, int64_t>& counts, bool non_2xx_only) {
  std::string out;
  for (const auto& [status, count] : counts) {
    if (count == 0 || (non_2xx_only && status >= 200 && status < 300)) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(count) + "x " + std::to_string(status);
  }
  return out;
}

// One measured wrk run and what the server and the machine did meanwhile.
struct Measurement {
  WrkResult wrk;
  std::map<int, int64_t> server;  // the server's responses on the route, by status
  int64_t listen_overflows = -1;
  double server_cores = 0, wrk_cores = 0, other_cores = 0;  // CPU used, in cores
  // The store's group commits in the run (including the requests in flight when wrk stopped).
  uint64_t commits = 0, appends = 0;
  double fsync_seconds = 0;
  uint64_t fsyncs = 0;
};

Result<Measurement> MeasureOnce(const HttpRun& run, const Load& load,
                                const std::string& script_path) {
  Measurement m;
  const StoreStats store_before = run.store ? run.store->Stats() : StoreStats{};
  const auto before =
      run.api ? ServerStatusCounts(*run.api, load.route, load.method) : std::map<int, int64_t>{};
  const int64_t overflows_before = ListenOverflows();
  const MachineCpu machine_before = ReadMachineCpu();
  auto server_cpu = [&run] {
    return run.server_pid > 0 ? ProcessTreeCpuSeconds(run.server_pid) : SelfCpuSeconds();
  };
  const double self_before = server_cpu();
  const auto start = std::chrono::steady_clock::now();
  // wrk takes whole seconds.
  const int seconds = std::max(1, static_cast<int>(std::lround(run.options.seconds)));
  auto wrk = RunWrk(run, script_path, seconds);
  if (!wrk.ok()) return wrk.error();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double self_cpu = server_cpu() - self_before;
  const MachineCpu machine_after = ReadMachineCpu();
  const int64_t overflows_after = ListenOverflows();
  m.wrk = *wrk;
  m.listen_overflows =
      overflows_before < 0 || overflows_after < 0 ? -1 : overflows_after - overflows_before;
  if (wall > 0) {
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    const int64_t total = machine_after.total - machine_before.total;
    const double busy_cores =
        total > 0 ? cores * static_cast<double>(machine_after.busy - machine_before.busy) /
                        static_cast<double>(total)
                  : 0;
    m.server_cores = self_cpu / wall;
    m.wrk_cores = wrk->cpu_seconds / wall;
    m.other_cores = std::max(0.0, busy_cores - m.server_cores - m.wrk_cores);
  }
  if (!run.api) return m;  // nginx counts nothing for us
  WaitUntilSettled(*run.api, load.route, load.method);
  m.server = Minus(ServerStatusCounts(*run.api, load.route, load.method), before);
  const StoreStats store_after = run.store->Stats();
  m.commits = store_after.commits - store_before.commits;
  m.appends = store_after.appends - store_before.appends;
  m.fsyncs = store_after.fsync_seconds.count - store_before.fsync_seconds.count;
  m.fsync_seconds = store_after.fsync_seconds.sum - store_before.fsync_seconds.sum;
  return m;
}

double Round2(double value) { return std::round(value * 100) / 100; }

// A connect burst of --connections can overflow the server's listen queue; the dropped
// connections sit idle for a second or more, which moves both the rate and the tail. A run where
// that happened is repeated, at most this many times in all, and the row says so.
constexpr int kAttempts = 5;

Result<Row> RunLoad(const HttpRun& run, const Load& load) {
  const BenchOptions& options = run.options;
  const std::string script_path = options.dir + "/" + load.bench + ".lua";
  {
    std::ofstream script(script_path);
    script << WrkScript(load.method, load.paths, load.bodies);
    if (!script.good()) {
      return Error::Make(ErrorCode::kIOError, "cannot write the wrk script " + script_path);
    }
  }
  if (options.warmup_seconds > 0) {
    std::fprintf(stderr, "http: %s warm-up...\n", load.bench);
    auto warm = RunWrk(run, script_path, static_cast<int>(std::ceil(options.warmup_seconds)));
    if (!warm.ok()) return warm.error();
    if (run.api) WaitUntilSettled(*run.api, load.route, load.method);
  }
  Measurement m;
  std::vector<int64_t> dropped;  // listen overflows of the attempts repeated
  for (int attempt = 1;; ++attempt) {
    std::fprintf(stderr, "http: %s (%s), %d connections...\n", load.bench, run.system.c_str(),
                 options.connections);
    auto measured = MeasureOnce(run, load, script_path);
    if (!measured.ok()) return measured.error();
    m = std::move(measured).value();
    if (m.listen_overflows <= 0 || attempt == kAttempts) break;
    std::fprintf(stderr, "http: %s: %lld connects dropped by the listen queue; again\n", load.bench,
                 static_cast<long long>(m.listen_overflows));
    dropped.push_back(m.listen_overflows);
  }
  const WrkResult& wrk = m.wrk;

  Row row;
  row.bench = load.bench;
  row.system = run.system;
  row.concurrency_name = "connections";
  row.concurrency = options.connections;
  row.ops = wrk.requests - wrk.non_2xx;
  row.errors = wrk.non_2xx + wrk.SocketErrors();
  row.seconds = wrk.duration_s;
  row.ops_per_s = row.seconds > 0 ? static_cast<double>(row.ops) / row.seconds : 0;
  // wrk's histogram holds every response, whatever its status.
  row.latency.count = wrk.requests;
  row.latency.mean_us = wrk.mean_us;
  row.latency.p50_us = wrk.p50_us;
  row.latency.p90_us = wrk.p90_us;
  row.latency.p99_us = wrk.p99_us;
  row.latency.p999_us = wrk.p999_us;
  row.latency.max_us = wrk.max_us;
  row.extra = {{"tool", "wrk"},
               {"wrk_threads", options.wrk_threads},
               {"carts", options.http_carts},
               {"requests", wrk.requests},
               {"non_2xx", wrk.non_2xx},
               {"connect_errors", wrk.connect_errors},
               {"read_errors", wrk.read_errors},
               {"write_errors", wrk.write_errors},
               {"timeouts", wrk.timeouts},
               {"server_responses", Total(m.server)},
               {"server_2xx", Count2xx(m.server)},
               {"listen_overflows", m.listen_overflows},
               {"listen_overflows_of_repeated_runs", dropped},
               {"server_cores", Round2(m.server_cores)},
               {"wrk_cores", Round2(m.wrk_cores)},
               {"other_cores", Round2(m.other_cores)}};

  if (!run.api) {
    row.extra.erase("server_responses");
    row.extra.erase("server_2xx");
  }
  std::vector<std::string> notes;
  const int64_t server_non_2xx = Total(m.server) - Count2xx(m.server);
  if (wrk.non_2xx > 0 || server_non_2xx > 0) {
    notes.push_back("FAILED: " + std::to_string(wrk.non_2xx) +
                    " non-2xx responses (wrk); server: " + StatusList(m.server, true));
  }
  if (wrk.SocketErrors() > 0) {
    notes.push_back("socket errors: connect " + std::to_string(wrk.connect_errors) + ", read " +
                    std::to_string(wrk.read_errors) + ", write " +
                    std::to_string(wrk.write_errors) + ", timeout " + std::to_string(wrk.timeouts));
  }
  char cpu[96];
  std::snprintf(cpu, sizeof(cpu), "cpu: %s %.2f, wrk %.2f, other %.2f cores",
                run.api ? "server" : run.system.c_str(), m.server_cores, m.wrk_cores,
                m.other_cores);
  notes.push_back(cpu);
  if (m.commits > 0) {
    const double mean_fsync_ms = m.fsyncs > 0 ? 1000 * m.fsync_seconds / m.fsyncs : 0;
    row.extra["store_commits"] = m.commits;
    row.extra["store_appends"] = m.appends;
    row.extra["store_fsyncs"] = m.fsyncs;
    row.extra["store_fsync_mean_ms"] = std::round(mean_fsync_ms * 1000) / 1000;
    char store[128];
    std::snprintf(store, sizeof(store), "store: %.1f appends/commit, %.0f commits/s, fsync %.2f ms",
                  static_cast<double>(m.appends) / static_cast<double>(m.commits),
                  static_cast<double>(m.commits) / std::max(wrk.duration_s, 1e-9), mean_fsync_ms);
    notes.push_back(store);
  }
  if (m.listen_overflows > 0) {
    notes.push_back(std::to_string(m.listen_overflows) +
                    " connects dropped by a full listen queue: those connections waited >= 1 s, "
                    "the rate and the tail show it");
  }
  if (!dropped.empty()) {
    std::string list;
    for (int64_t d : dropped) list += (list.empty() ? "" : ", ") + std::to_string(d);
    notes.push_back("run " + std::to_string(dropped.size() + 1) + " of " +
                    std::to_string(kAttempts) + ": earlier runs had " + list +
                    " connects dropped by the listen queue");
  }
  for (const std::string& n : notes) row.note += (row.note.empty() ? "" : "; ") + n;
  return row;
}

// ---- the server's options: the one place that sets them --------------------------------------

// Room for the fresh request beside the idle connections, and for stray ones.
constexpr int kSpareConnections = 64;
// Idle connections must outlive the row (open, hold --seconds, check); both servers get this.
constexpr int kIdleKeepAliveSeconds = 120;

// The evs server as `evs serve` runs it by default (no access log, as with --quiet), on a free
// loopback port: the wrk rows.
http::ServerOptions ServeOptions() {
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.access_log = false;
  return o;
}

// The idle row's server: room for `connections` open at once, kept open while idle (the I/O
// threads hold every connection; no thread per connection).
http::ServerOptions IdleOptions(int64_t connections) {
  http::ServerOptions o = ServeOptions();
  o.max_connections = static_cast<int>(connections) + kSpareConnections;
  o.keep_alive_seconds = kIdleKeepAliveSeconds;
  return o;
}

int ServerIoThreads(const http::ServerOptions& o);

// The idle row's note on what was set.
std::string DescribeIdleOptions(const http::ServerOptions& o) {
  return "server options io_threads=" + std::to_string(ServerIoThreads(o)) +
         " max_connections=" + std::to_string(o.max_connections) +
         " keep_alive_seconds=" + std::to_string(o.keep_alive_seconds);
}

// The threads that do the server's network I/O, which nginx gets as many workers as (0: one per
// core, the server's default).
int ServerIoThreads(const http::ServerOptions& o) {
  return o.io_threads > 0 ? o.io_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// ---- nginx, targets and the idle row ---------------------------------------------------------

// Issue 17's targets, set at 64 connections: each evs row's rate as a share of nginx's, and
// AddItem's p99.
struct Target {
  const char* bench;
  double min_ratio_to_nginx;
  double max_p99_us;  // 0: none
};
constexpr Target kTargets[] = {
    {"http_healthz", 0.8, 0}, {"http_add_item", 0.4, 5000}, {"http_get_cart", 0.7, 0}};
constexpr int kTargetConnections = 64;

// The row's ratio to nginx (its baseline then) and its targets, or, without nginx, its ratio to
// evs's /healthz as before. The targets lead the note, so the table shows them beside the ratio.
void SetRatios(Row& row, const Row& healthz, const Row* nginx, int connections) {
  if (healthz.ops_per_s > 0) {
    row.extra["ratio_to_healthz"] = std::round(1000 * row.ops_per_s / healthz.ops_per_s) / 1000;
  }
  if (!nginx) {
    SetRatio(row, healthz);
    row.note = "no nginx: ratio to evs's /healthz, targets not checked; " + row.note;
    return;
  }
  SetRatio(row, *nginx);
  const double ratio = row.ratio_to_baseline.value_or(0);
  row.extra["ratio_to_nginx"] = std::round(1000 * ratio) / 1000;
  std::string notes;
  for (const Target& t : kTargets) {
    if (row.bench != t.bench) continue;
    const bool applies = connections == kTargetConnections;
    char text[160];
    row.extra["target_ratio_to_nginx"] = t.min_ratio_to_nginx;
    if (applies) row.extra["target_ratio_met"] = ratio >= t.min_ratio_to_nginx;
    std::snprintf(text, sizeof(text), "target >= %.2fx of nginx: %s", t.min_ratio_to_nginx,
                  !applies                        ? "set at 64 connections"
                  : ratio >= t.min_ratio_to_nginx ? "met"
                                                  : "NOT met");
    notes = text;
    if (t.max_p99_us > 0) {
      const bool met = row.latency.p99_us <= t.max_p99_us;
      row.extra["target_p99_us"] = t.max_p99_us;
      if (applies) row.extra["target_p99_met"] = met;
      std::snprintf(text, sizeof(text), "; target p99 <= %.0f ms: %s", t.max_p99_us / 1000,
                    !applies ? "set at 64 connections"
                    : met    ? "met"
                             : "NOT met");
      notes += text;
    }
  }
  if (!notes.empty()) row.note = notes + (row.note.empty() ? "" : "; " + row.note);
}

std::string Megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// The http-idle row of one server: `count` connections opened by the idle client, each sending
// one GET /healthz and then idle; the server's RSS (`rss`) before and while they are open; one
// fresh request while they are; and how many the server still holds when the row ends.
Result<Row> RunIdle(const BenchOptions& options, const std::string& system, int port, int64_t count,
                    const std::function<int64_t()>& rss, const std::function<double()>& cpu_seconds,
                    const std::string& rss_source) {
  std::fprintf(stderr, "http: http-idle (%s), %lld connections...\n", system.c_str(),
               static_cast<long long>(count));
  const int64_t before = rss();
  auto client = IdleClient::Start(port, count);
  if (!client.ok()) return client.error();
  auto opened = (*client)->WaitOpened();
  if (!opened.ok()) return opened.error();
  // Idle for the row's length, then measured while they are open. An idle connection should
  // cost the server no CPU: what it used meanwhile is in the row.
  const double cpu_before = cpu_seconds();
  const auto idle_start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  const double idle_cores =
      (cpu_seconds() - cpu_before) /
      std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_start).count();
  const int64_t after = rss();
  const FreshRequest fresh = GetHealthz(port);
  auto still_open = (*client)->CountStillOpen();
  if (!still_open.ok()) return still_open.error();
  (*client)->Finish();

  const int64_t held = opened->answered_2xx;
  Row row;
  row.bench = "http-idle";
  row.system = system;
  row.concurrency_name = "connections";
  row.concurrency = static_cast<int>(count);
  row.ops = held;
  row.errors =
      opened->refused + opened->closed + opened->unanswered + (fresh.status == 200 ? 0 : 1);
  row.seconds = opened->open_seconds;
  // Connections opened and answered per second; the latency columns are the fresh request's.
  row.ops_per_s = row.seconds > 0 ? static_cast<double>(held) / row.seconds : 0;
  row.latency.count = 1;
  row.latency.mean_us = row.latency.p50_us = row.latency.p90_us = row.latency.p99_us =
      row.latency.p999_us = row.latency.max_us = fresh.ms * 1000;
  const double per_connection =
      held > 0 ? static_cast<double>(after - before) / static_cast<double>(held) : 0;
  row.extra = {{"requested", count},
               {"held", held},
               {"refused", opened->refused},
               {"closed_early", opened->closed},
               {"unanswered", opened->unanswered},
               {"still_open", *still_open},
               {"open_seconds", Round2(opened->open_seconds)},
               {"idle_seconds", options.seconds},
               {"rss_before_bytes", before},
               {"rss_after_bytes", after},
               {"rss_delta_bytes", after - before},
               {"bytes_per_connection", std::llround(per_connection)},
               {"rss_of", rss_source},
               {"idle_server_cores", Round2(idle_cores)},
               {"fresh_status", fresh.status},
               {"fresh_ms", Round2(fresh.ms)}};
  if (!opened->error.empty()) row.extra["client_error"] = opened->error;

  std::vector<std::string> notes;
  char memory[200];
  std::snprintf(memory, sizeof(memory), "RSS %s -> %s (%+.1f MB, %.1f KB per connection; %s)",
                Megabytes(before).c_str(), Megabytes(after).c_str(),
                static_cast<double>(after - before) / 1e6, per_connection / 1e3,
                rss_source.c_str());
  notes.push_back(memory);
  char cores[96];
  std::snprintf(cores, sizeof(cores), "%.2f cores of CPU while idle", idle_cores);
  notes.push_back(cores);
  notes.push_back(std::to_string(held) + " of " + std::to_string(count) + " answered and held, " +
                  std::to_string(*still_open) + " still open after " +
                  std::to_string(static_cast<int>(options.seconds)) + " s idle");
  if (opened->refused + opened->closed + opened->unanswered > 0) {
    notes.push_back("NOT all taken: " + std::to_string(opened->refused) + " refused (non-2xx), " +
                    std::to_string(opened->closed) + " closed before an answer, " +
                    std::to_string(opened->unanswered) + " unanswered in 10 s");
  }
  if (!opened->error.empty()) notes.push_back("client stopped: " + opened->error);
  char fresh_text[160];
  if (fresh.status == 200) {
    std::snprintf(fresh_text, sizeof(fresh_text), "fresh GET /healthz meanwhile: 200 in %.2f ms",
                  fresh.ms);
  } else {
    std::snprintf(fresh_text, sizeof(fresh_text), "fresh GET /healthz meanwhile FAILED: %s%s",
                  fresh.status ? ("status " + std::to_string(fresh.status)).c_str() : "",
                  fresh.error.c_str());
  }
  notes.push_back(fresh_text);
  for (const std::string& n : notes) row.note += (row.note.empty() ? "" : "; ") + n;
  return row;
}

// ---- preparation and the check -------------------------------------------------------------

// Opens `count` carts through the Api, several at a time.
Result<std::vector<std::string>> OpenCarts(http::Api& api, int count) {
  std::vector<std::string> ids(static_cast<size_t>(count));
  std::atomic<int> next{0};
  std::vector<std::string> errors(kOpenThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kOpenThreads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next.fetch_add(1)) < count;) {
        http::Request request;
        request.method = "POST";
        request.target = "/carts";
        http::Response response = api.Handle(request);
        auto body = nlohmann::json::parse(response.body, nullptr, false);
        if (response.status != 201 || !body.is_object() || !body.contains("cart_id")) {
          errors[static_cast<size_t>(t)] =
              "POST /carts answered " + std::to_string(response.status) + ": " + response.body;
          return;
        }
        ids[static_cast<size_t>(i)] = body["cart_id"].get<std::string>();
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return Error::Make(ErrorCode::kUnavailable, "opening carts: " + e);
  }
  return ids;
}

// The total quantity in the carts, read from the store itself (no cache).
Result<int64_t> StoredQuantity(EventStore& store, const std::vector<std::string>& ids) {
  RepositoryOptions options;
  options.cache_capacity = 0;
  Repository<cart::Cart> repo(store, options);
  int64_t total = 0;
  for (const std::string& id : ids) {
    auto cart = repo.Fetch(id);
    if (!cart.ok()) return cart.error();
    for (const auto& [name, line] : cart->items()) total += line.quantity;
  }
  return total;
}

}  // namespace

// What `evs serve`'s event log does with each committed event (one JSON line, flushed), with
// the lines going to /dev/null.
class EventLogToNull final : public EventHandler {
 public:
  EventLogToNull() : out_(std::fopen("/dev/null", "w")) {}
  ~EventLogToNull() override {
    if (out_) std::fclose(out_);
  }
  bool ok() const { return out_ != nullptr; }
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::string lines;
    for (const RecordedEvent& e : batch) {
      lines += EventToJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      lines += '\n';
    }
    if (std::fwrite(lines.data(), 1, lines.size(), out_) != lines.size() || std::fflush(out_)) {
      return Error::Make(ErrorCode::kIOError, "cannot write the event log");
    }
    return OkStatus();
  }

 private:
  std::FILE* out_;
};

Status RunHttpBench(const BenchOptions& options, Reporter& reporter) {
  const std::string folder = options.dir + "/evs-http";
  auto store = OpenDefaultStore(folder, /*durable=*/true);
  if (!store.ok()) return store.error();

  // The read side `evs serve` runs: the cart-summary projection and the event log.
  cart::CartSummaryProjection projection;
  ProjectionOptions projection_options;
  projection_options.path = options.dir + "/evs-http-cart_summary.sqlite";
  auto runner = ProjectionRunner::Open(**store, projection, projection_options);
  if (!runner.ok()) return runner.error();
  if (auto s = (*runner)->Start(); !s) return s.error();
  auto reports = cart::CartReports::Open(projection_options.path);
  if (!reports.ok()) return reports.error();
  auto checkpoints = OpenSqliteCheckpointStore(options.dir + "/evs-http-feed.sqlite");
  if (!checkpoints.ok()) return checkpoints.error();
  EventLogToNull event_log;
  if (!event_log.ok()) return Error::Make(ErrorCode::kIOError, "cannot open /dev/null");
  SubscriptionOptions log_options;
  log_options.name = "event-log";
  auto log_subscription = Subscription::Start(**store, **checkpoints, event_log, log_options);
  if (!log_subscription.ok()) return log_subscription.error();
  http::ApiFeeds feeds;
  feeds.subscriptions = [&] {
    return std::vector<SubscriptionStatus>{(*runner)->GetStatus(),
                                           (*log_subscription)->GetStatus()};
  };

  // Both servers must hold --idle-connections at once, and the idle client as many in its own
  // process; each also needs some files of its own.
  constexpr int64_t kReservedFiles = 256;
  const int64_t file_limit = RaiseFileLimit();
  int64_t idle_connections = options.idle_connections;
  std::string idle_capped;
  if (idle_connections > file_limit - kReservedFiles) {
    idle_connections = std::max<int64_t>(0, file_limit - kReservedFiles);
    idle_capped = "; capped from " + std::to_string(options.idle_connections) +
                  " connections: RLIMIT_NOFILE's hard limit is " + std::to_string(file_limit) +
                  " (raise it, e.g. ulimit -Hn as root, for more)";
    std::fprintf(stderr, "http: http-idle%s\n", idle_capped.c_str());
  }

  // nginx serves a file as large as evs's /healthz answer, with as many workers as the evs
  // server has I/O threads (or --nginx-workers).
  NginxOptions nginx_options;
  nginx_options.program = options.nginx;
  nginx_options.dir = options.dir + "/nginx";
  nginx_options.workers =
      options.nginx_workers > 0 ? options.nginx_workers : ServerIoThreads(ServeOptions());
  nginx_options.max_connections = static_cast<int>(idle_connections) + kSpareConnections;
  nginx_options.keepalive_seconds = kIdleKeepAliveSeconds;
  nginx_options.body = R"({"status":"ok"})";
  auto nginx = Nginx::Start(nginx_options);
  const std::string nginx_setup =
      nginx_options.workers <= 1 ? "nginx: one process (master_process off), static file"
                                 : "nginx: a master and " + std::to_string(nginx_options.workers) +
                                       " workers, static file";
  if (!nginx) {
    std::fprintf(stderr, "http: no nginx rows: %s\n", nginx.error().message.c_str());
  }

  Status result = OkStatus();
  {
    http::ApiOptions api_options;
    api_options.upcaster = cart::CartUpcaster();
    http::Api api(**store, api_options, feeds);
    cart::CartHttpOptions cart_options;
    cart_options.reports = reports->get();
    cart::CartHttp cart_http(**store, cart_options);
    if (auto s = cart_http.Register(api.routes()); !s) return s.error();
    const http::ServerOptions server_options = ServeOptions();
    http::Server server(api, server_options);
    auto port = server.Bind();
    if (!port.ok()) return port.error();
    std::thread serving([&server] { server.Run(); });

    auto run_all = [&]() -> Status {
      std::fprintf(stderr, "http: opening %d carts through the API...\n", options.http_carts);
      auto ids = OpenCarts(api, options.http_carts);
      if (!ids.ok()) return ids.error();

      reporter.Comment(
          "http: wrk (" + std::to_string(options.wrk_threads) +
          (options.wrk_threads == 1 ? " thread" : " threads") +
          ") and the in-process server (durable store, cart-summary projection and event log "
          "subscribed, as evs serve runs them) share this machine's " +
          std::to_string(std::thread::hardware_concurrency()) + " cores on loopback; " +
          std::to_string(options.connections) + " keep-alive connections over " +
          std::to_string(options.http_carts) + " carts; ratios are to " +
          (nginx ? "nginx (" + nginx_setup + "), the HTTP ceiling of this machine"
                 : std::string("evs's GET /healthz (nginx: ") + nginx.error().message + ")"));

      std::optional<Row> nginx_row;
      if (nginx) {
        HttpRun nginx_run{options, nullptr, nullptr, (*nginx)->port(), "nginx", (*nginx)->pid()};
        auto row = RunLoad(nginx_run, {"http_healthz", "GET", "", {"/healthz"}, {}});
        if (!row.ok()) return row.error();
        row->note = nginx_setup + "; " + row->note;
        nginx_row = *row;
        SetRatio(*nginx_row, *nginx_row);
        reporter.Add(*nginx_row);
      }
      const Row* baseline = nginx_row ? &*nginx_row : nullptr;

      HttpRun run{options, &api, store->get(), *port, "evs", 0};
      std::vector<std::string> cart_paths, item_paths, bodies;
      for (const std::string& id : *ids) {
        cart_paths.push_back("/carts/" + id);
        item_paths.push_back("/carts/" + id + "/items");
      }
      for (const char* name : kItemNames) {
        bodies.push_back(
            nlohmann::json{{"name", name}, {"quantity", 1}, {"unit_price_cents", kUnitPriceCents}}
                .dump());
      }

      auto healthz = RunLoad(run, {"http_healthz", "GET", "/healthz", {"/healthz"}, {}});
      if (!healthz.ok()) return healthz.error();
      SetRatios(*healthz, *healthz, baseline, options.connections);
      reporter.Add(*healthz);

      auto add_item = RunLoad(run, {"http_add_item", "POST", kAddItemRoute, item_paths, bodies});
      if (!add_item.ok()) return add_item.error();
      SetRatios(*add_item, *healthz, baseline, options.connections);
      // The check: every acknowledged AddItem (warm-up and measured) is in the store.
      auto stored = StoredQuantity(**store, *ids);
      if (!stored.ok()) return stored.error();
      const int64_t acknowledged = Count2xx(ServerStatusCounts(api, kAddItemRoute, "POST"));
      const int64_t wrk_ok = add_item->ops;
      const int64_t server_ok = add_item->extra["server_2xx"].get<int64_t>();
      const bool check_ok = *stored == acknowledged && wrk_ok <= server_ok;
      char check[320];
      std::snprintf(check, sizeof(check),
                    "check %s: stored quantity %lld %s %lld AddItem 2xx answered by the server "
                    "(warm-up and measured); measured: wrk counted %lld 2xx, the server %lld "
                    "(%lld in flight when wrk stopped)",
                    check_ok ? "ok" : "FAILED", static_cast<long long>(*stored),
                    *stored == acknowledged ? "=" : "!=", static_cast<long long>(acknowledged),
                    static_cast<long long>(wrk_ok), static_cast<long long>(server_ok),
                    static_cast<long long>(server_ok - wrk_ok));
      add_item->extra["stored_quantity"] = *stored;
      add_item->extra["server_2xx_total"] = acknowledged;
      add_item->extra["check_ok"] = check_ok;
      if (!check_ok) {
        add_item->note = std::string(check) + (add_item->note.empty() ? "" : "; ") + add_item->note;
      }
      reporter.Add(*add_item);
      reporter.Comment(std::string("http_add_item ") + check);
      std::fprintf(stderr, "http: %s\n", check);

      auto get_cart = RunLoad(run, {"http_get_cart", "GET", "/carts/{id}", cart_paths, {}});
      if (!get_cart.ok()) return get_cart.error();
      SetRatios(*get_cart, *healthz, baseline, options.connections);
      reporter.Add(*get_cart);

      int64_t failed = 0;
      for (const Row* row : {&*healthz, &*add_item, &*get_cart}) failed += row->errors;
      if (nginx_row) failed += nginx_row->errors;
      if (!check_ok) {
        return Error::Make(ErrorCode::kCorruption, std::string("http_add_item ") + check);
      }
      if (failed > 0) {
        return Error::Make(ErrorCode::kUnavailable,
                           std::to_string(failed) +
                               " requests failed (non-2xx or socket errors); see the rows' notes");
      }
      return OkStatus();
    };
    result = run_all();
    server.Stop();
    serving.join();

    // The idle rows, on a server of their own sized for them (and nginx, already sized).
    auto run_idle = [&]() -> Status {
      if (idle_connections <= 0) return OkStatus();
      const http::ServerOptions idle_options = IdleOptions(idle_connections);
      const int64_t before_server = ProcessRss(getpid());
      http::Server idle_server(api, idle_options);
      auto idle_port = idle_server.Bind();
      if (!idle_port.ok()) return idle_port.error();
      std::thread idle_serving([&idle_server] { idle_server.Run(); });
      // Run() starts the server's threads: wait for it to answer before taking "before".
      for (int i = 0; i < 100 && GetHealthz(*idle_port).status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      auto evs_row = RunIdle(
          options, "evs", *idle_port, idle_connections, [] { return ProcessRss(getpid()); },
          SelfCpuSeconds, "bench process: the server runs in it; the client is a child process");
      idle_server.Stop();
      idle_serving.join();
      if (!evs_row.ok()) return evs_row.error();
      const int64_t server_start =
          evs_row->extra["rss_before_bytes"].get<int64_t>() - before_server;
      evs_row->extra["rss_server_start_bytes"] = server_start;
      evs_row->note += "; " + DescribeIdleOptions(idle_options) + " (starting it took " +
                       Megabytes(server_start) + ")" + idle_capped;
      reporter.Add(*evs_row);
      if (nginx) {
        const pid_t nginx_pid = (*nginx)->pid();
        auto nginx_idle = RunIdle(
            options, "nginx", (*nginx)->port(), idle_connections,
            [nginx_pid] { return ProcessTreeRss(nginx_pid); },
            [nginx_pid] { return ProcessTreeCpuSeconds(nginx_pid); }, "nginx's processes");
        if (!nginx_idle.ok()) return nginx_idle.error();
        nginx_idle->note += "; " + nginx_setup + idle_capped;
        reporter.Add(*nginx_idle);
      }
      return OkStatus();
    };
    Status idle = run_idle();
    if (result.ok()) result = idle;
  }
  // The subscriptions read the store until they stop.
  log_subscription->reset();
  runner->reset();
  store->reset();
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
  return result;
}

}  // namespace evs::bench
