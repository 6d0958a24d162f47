// A consumer-group member in its own process, for the group test:
//   evs_group_member DB_PATH FEED_PATH MEMBER SIZE OUT_FILE
// follows the store through the read-only view and writes "position stream version" per
// handled event to OUT_FILE, until SIGTERM.
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "evs/event_store.h"
#include "evs/subscription.h"

namespace {

class FileHandler : public evs::EventHandler {
 public:
  explicit FileHandler(FILE* out) : out_(out) {}
  evs::Status Handle(std::span<const evs::RecordedEvent> batch) override {
    for (const auto& e : batch) {
      std::fprintf(out_, "%lld %s %lld\n", static_cast<long long>(e.position), e.stream_id.c_str(),
                   static_cast<long long>(e.version));
    }
    if (std::fflush(out_) != 0) {
      return evs::Error::Make(evs::ErrorCode::kIOError, "cannot write the output");
    }
    return evs::OkStatus();
  }

 private:
  FILE* out_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s DB_PATH FEED_PATH MEMBER SIZE OUT_FILE\n", argv[0]);
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto store = evs::OpenSqliteEventStoreReader(argv[1]);
  auto checkpoints = evs::OpenSqliteCheckpointStore(argv[2]);
  FILE* out = std::fopen(argv[5], "a");
  if (!store.ok() || !checkpoints.ok() || out == nullptr) {
    std::fprintf(stderr, "cannot open: %s\n",
                 !store.ok()         ? store.error().message.c_str()
                 : !checkpoints.ok() ? checkpoints.error().message.c_str()
                                     : argv[5]);
    return 1;
  }
  FileHandler handler(out);
  evs::SubscriptionOptions options;
  options.name = "group";
  options.group_member = std::atoi(argv[3]);
  options.group_size = std::atoi(argv[4]);
  options.batch_size = 50;
  auto subscription = evs::Subscription::Start(**store, **checkpoints, handler, options);
  if (!subscription.ok()) {
    std::fprintf(stderr, "%s\n", subscription.error().message.c_str());
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  (*subscription)->Stop();
  subscription->reset();
  std::fclose(out);
  return 0;
}
