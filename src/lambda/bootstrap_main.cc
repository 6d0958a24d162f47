// `bootstrap`: the custom Lambda runtime of evs. Reads its settings, sets up the function that
// _HANDLER names (an init error through the Runtime API when it cannot), then serves invocations
// one after another until Lambda ends the process. A failing invocation is reported and the loop
// goes on; nothing an event holds can end it.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "aws/aws_client.h"
#include "lambda/functions.h"
#include "lambda/runtime_client.h"

namespace {

using namespace evs;

// No time limit on requests to the Runtime API: `next` waits until an invocation comes.
std::unique_ptr<aws::HttpTransport> RuntimeTransport() {
  aws::CurlOptions options;
  options.request_timeout = std::chrono::milliseconds(0);
  return aws::NewCurlTransport(options);
}

int Run() {
  const char* endpoint = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (endpoint == nullptr || *endpoint == '\0') {
    std::fprintf(stderr,
                 "bootstrap: AWS_LAMBDA_RUNTIME_API is not set: this is the Lambda runtime of "
                 "evs and runs inside Lambda (or beside a Runtime API emulator)\n");
    return 2;
  }
  lambda::RuntimeClient runtime(endpoint, RuntimeTransport());
  auto init_failed = [&](const std::string& message) {
    std::fprintf(stderr, "bootstrap: init failed: %s\n", message.c_str());
    (void)runtime.ReportInitError({"InitError", message});
    return 1;
  };
  auto settings = lambda::SettingsFromEnvironment();
  if (!settings.ok()) return init_failed(settings.error().message);
  auto config = aws::AwsConfigFromEnvironment();
  if (!config.ok()) return init_failed(config.error().message);
  auto client =
      std::make_shared<aws::AwsClient>(std::move(config).value(), aws::NewCurlTransport());
  auto function = lambda::NewFunction(*settings, client);
  if (!function.ok()) return init_failed(function.error().message);

  for (int unreachable = 0;;) {
    auto invocation = runtime.Next();
    if (!invocation.ok()) {
      // The Runtime API is part of the sandbox: if it stays away, so does Lambda.
      std::fprintf(stderr, "bootstrap: %s\n", invocation.error().message.c_str());
      if (++unreachable == 10) return 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * unreachable));
      continue;
    }
    unreachable = 0;
    // The X-Ray trace header, as the SDKs expect it.
    setenv("_X_AMZN_TRACE_ID", invocation->trace_id.c_str(), 1);
    lambda::Outcome outcome;
    try {
      outcome = (*function)->Invoke(*invocation);
    } catch (const std::exception& e) {
      outcome = lambda::Outcome::Failed("HandlerError", std::string("unexpected: ") + e.what());
    }
    const Status sent = outcome.ok ? runtime.Respond(invocation->request_id, outcome.answer)
                                   : runtime.ReportError(invocation->request_id, outcome.error);
    if (!sent.ok()) {
      std::fprintf(stderr, "bootstrap: cannot answer %s: %s\n", invocation->request_id.c_str(),
                   sent.error().message.c_str());
    }
  }
}

}  // namespace

int main() { return Run(); }
