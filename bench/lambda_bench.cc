// `evs-bench lambda`: the Lambda runtime (`bootstrap`, handler api) beside `evs serve`, both on
// the same DynamoDB table (dynalite locally), in one run.
//
//   lambda_cold_start   a fresh process to its first handled GetCart: for bootstrap, from the
//                       spawn until its answer reaches the Runtime API (a local one on
//                       127.0.0.1, as Lambda's is local to the sandbox); for evs serve, from the
//                       spawn until the first GET /carts/{id} is answered 200. Median of 20
//                       starts each (p50_us; ops_per_s = starts per second at that median).
//   lambda_get_cart     warm GetCart invocations per second, one at a time: an API Gateway v2
//   lambda_add_item     event through the Runtime API vs a keep-alive HTTP request to evs serve;
//                       and AddItem likewise. evs serve is the baseline of every row.
//
// Lambda's own overhead (its Runtime API service, the sandbox, the network to DynamoDB) is not
// here: these rows measure what evs adds on either path. Binaries: `bootstrap` and `evs` beside
// evs-bench (build/lambda/bootstrap, build/evs).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "aws/aws_client.h"
#include "aws/dynamodb_event_store.h"
#include "bench.h"
#include "lambda_runtime_fake.h"
#include "report.h"

extern char** environ;

namespace evs::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kColdStarts = 20;
constexpr auto kStartTimeout = std::chrono::seconds(30);

// A child process started with posix_spawn, its stderr in a pipe; killed by its PID when done.
class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args,
          const std::vector<std::string>& extra_env) {
    int err[2];
    if (pipe(err) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<std::string> argv_storage{program};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(err[1]);
    err_ = err[0];
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);  // only the process this benchmark started
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (err_ >= 0) close(err_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }

  // The port of evs serve's "evs: serving http://127.0.0.1:PORT" line (0 when it never came).
  int WaitForPort() {
    const std::regex line("evs: serving http://127\\.0\\.0\\.1:([0-9]+) ");
    std::string text;
    const auto deadline = Clock::now() + kStartTimeout;
    char buffer[512];
    while (Clock::now() < deadline) {
      const ssize_t n = read(err_, buffer, sizeof buffer);
      if (n <= 0) return 0;
      text.append(buffer, static_cast<size_t>(n));
      std::smatch match;
      if (std::regex_search(text, match, line)) return std::stoi(match[1].str());
    }
    return 0;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
};

// The status code of an answer through the Runtime API, or an error.
Result<int> Invoke(testing::FakeRuntimeApi& runtime, const std::string& event) {
  auto answer = runtime.WaitForAnswer(runtime.Invoke(event), std::chrono::seconds(30));
  if (!answer) return Error::Make(ErrorCode::kUnavailable, "no answer from bootstrap in 30 s");
  if (!answer->ok) return Error::Make(ErrorCode::kIOError, answer->error_type + answer->body);
  return json::parse(answer->body, nullptr, false).value("statusCode", 0);
}

Status Expect(const Result<int>& status, int want, const char* what) {
  if (!status.ok()) return status.error();
  if (*status != want) {
    return Error::Make(ErrorCode::kIOError,
                       std::string(what) + " answered " + std::to_string(*status));
  }
  return OkStatus();
}

Status ExpectHttp(const httplib::Result& result, int want, const char* what) {
  if (!result) {
    return Error::Make(ErrorCode::kUnavailable,
                       std::string(what) + ": " + httplib::to_string(result.error()));
  }
  if (result->status != want) {
    return Error::Make(ErrorCode::kIOError,
                       std::string(what) + " answered " + std::to_string(result->status));
  }
  return OkStatus();
}

Row ColdStartRow(const std::string& system, std::vector<int64_t> nanos, int64_t errors,
                 const std::string& note) {
  Row row;
  row.bench = "lambda_cold_start";
  row.system = system;
  row.ops = static_cast<int64_t>(nanos.size());
  row.errors = errors;
  row.latency = ComputeLatencyStats(nanos);
  row.ops_per_s = row.latency.p50_us > 0 ? 1e6 / row.latency.p50_us : 0;
  row.note = note;
  row.extra = json{{"starts", row.ops}, {"median_ms", row.latency.p50_us / 1000}};
  return row;
}

}  // namespace

Status RunLambdaBench(const BenchOptions& options, Reporter& reporter) {
  std::error_code ec;
  const auto here = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  const std::string bootstrap = (here / "lambda" / "bootstrap").string();
  const std::string evs = (here / "evs").string();
  for (const std::string& program : {bootstrap, evs}) {
    if (access(program.c_str(), X_OK) != 0) {
      return Error::Make(ErrorCode::kNotFound, program + " is missing: build every target");
    }
  }
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok() || config->dynamodb_endpoint.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "needs a DynamoDB endpoint: D=$(mktemp -d); scripts/standins start $D; "
                       "source $D/env");
  }
  auto client = std::make_shared<aws::AwsClient>(*config, aws::NewCurlTransport());
  const std::string table = "evs-bench-lambda-" + Uuid::Random().ToString().substr(0, 8);
  if (auto s = aws::CreateEventTable(*client, table, /*with_stream=*/true); !s) return s;
  struct DropTable {
    aws::AwsClient& client;
    std::string table;
    ~DropTable() {
      (void)client.CallJson(aws::Service::kDynamoDb, "DeleteTable", {{"TableName", table}});
    }
  } drop{*client, table};
  const std::vector<std::string> function_env = {"_HANDLER=api", "EVS_STORE=dynamodb:" + table};
  const std::vector<std::string> serve_args = {
      "--store", "dynamodb:" + table, "--data",   options.dir,
      "serve",   "--quiet",           "--listen", "127.0.0.1:0"};

  // One cart to read, opened through the function.
  std::string cart;
  {
    testing::FakeRuntimeApi runtime;
    std::vector<std::string> env = function_env;
    env.push_back("AWS_LAMBDA_RUNTIME_API=" + runtime.endpoint());
    Process function(bootstrap, {}, env);
    auto answer =
        runtime.WaitForAnswer(runtime.Invoke(testing::ApiGatewayEvent("POST", "/carts").dump()),
                              std::chrono::seconds(30));
    if (!answer || !answer->ok) {
      return Error::Make(ErrorCode::kIOError,
                         "bootstrap did not open a cart: " + (answer ? answer->body : "no answer"));
    }
    cart = json::parse(json::parse(answer->body)["body"].get<std::string>())["cart_id"];
  }
  const std::string get_path = "/carts/" + cart;
  const std::string add_path = "/carts/" + cart + "/items";
  const std::string add_body = R"({"name":"pear","quantity":1,"unit_price_cents":120})";

  // Cold starts, alternating between the two so that the machine's moods fall on both.
  std::vector<int64_t> serve_nanos, lambda_nanos;
  int64_t serve_errors = 0, lambda_errors = 0;
  std::string serve_note, lambda_note;
  for (int round = 0; round < kColdStarts; ++round) {
    {
      const auto start = Clock::now();
      Process server(evs, serve_args, {});
      const int port = server.WaitForPort();
      Status got = port > 0 ? ExpectHttp(httplib::Client("127.0.0.1", port).Get(get_path), 200,
                                         "evs serve GET")
                            : Error::Make(ErrorCode::kUnavailable, "evs serve did not start");
      if (got.ok()) {
        serve_nanos.push_back(std::chrono::nanoseconds(Clock::now() - start).count());
      } else if (serve_errors++ == 0) {
        serve_note = got.error().message;
      }
    }
    {
      testing::FakeRuntimeApi runtime;
      std::vector<std::string> env = function_env;
      env.push_back("AWS_LAMBDA_RUNTIME_API=" + runtime.endpoint());
      const std::string id = runtime.Invoke(testing::ApiGatewayEvent("GET", get_path).dump());
      const auto start = Clock::now();
      Process function(bootstrap, {}, env);
      auto answer = runtime.WaitForAnswer(id, std::chrono::seconds(30));
      if (answer && answer->ok) {
        lambda_nanos.push_back(std::chrono::nanoseconds(Clock::now() - start).count());
      } else if (lambda_errors++ == 0) {
        lambda_note = answer ? answer->body : "no answer in 30 s";
      }
    }
  }
  Row serve_cold = ColdStartRow("evs-serve", serve_nanos, serve_errors, serve_note);
  Row lambda_cold = ColdStartRow("bootstrap", lambda_nanos, lambda_errors, lambda_note);
  // Here lower is better: the ratio is of starts per second at the median, like ops_per_s.
  SetRatio(serve_cold, serve_cold);
  SetRatio(lambda_cold, serve_cold);
  reporter.Add(serve_cold);
  reporter.Add(lambda_cold);

  // Warm invocations: one function process and one server, both kept running.
  testing::FakeRuntimeApi runtime;
  std::vector<std::string> env = function_env;
  env.push_back("AWS_LAMBDA_RUNTIME_API=" + runtime.endpoint());
  Process function(bootstrap, {}, env);
  Process server(evs, serve_args, {});
  const int port = server.WaitForPort();
  if (port <= 0) return Error::Make(ErrorCode::kUnavailable, "evs serve did not start");
  const std::string get_event = testing::ApiGatewayEvent("GET", get_path).dump();
  const std::string add_event = testing::ApiGatewayEvent("POST", add_path, add_body).dump();
  TimedRunOptions timed;
  timed.threads = 1;
  timed.seconds = options.seconds;
  timed.warmup_seconds = options.warmup_seconds;
  struct Case {
    const char* bench;
    bool add;
  };
  for (const Case& c : {Case{"lambda_get_cart", false}, Case{"lambda_add_item", true}}) {
    Row serve_row = RunTimed(timed, [&](int) -> Worker {
      auto http = std::make_shared<httplib::Client>("127.0.0.1", port);
      http->set_keep_alive(true);
      http->set_tcp_nodelay(true);  // as any client should for small requests
      return [http, &c, &get_path, &add_path, &add_body]() {
        return c.add ? ExpectHttp(http->Post(add_path, add_body, "application/json"), 200,
                                  "evs serve POST")
                     : ExpectHttp(http->Get(get_path), 200, "evs serve GET");
      };
    });
    Row lambda_row = RunTimed(timed, [&](int) -> Worker {
      return [&]() {
        return Expect(Invoke(runtime, c.add ? add_event : get_event), 200, "bootstrap");
      };
    });
    for (Row* row : {&serve_row, &lambda_row}) {
      row->bench = c.bench;
      row->concurrency_name = "threads";
      row->concurrency = 1;
    }
    serve_row.system = "evs-serve";
    lambda_row.system = "bootstrap";
    SetRatio(serve_row, serve_row);
    SetRatio(lambda_row, serve_row);
    reporter.Add(serve_row);
    reporter.Add(lambda_row);
  }
  return OkStatus();
}

}  // namespace evs::bench
