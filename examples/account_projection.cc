// A projection of one's own: balances per account, kept by a handler subscribed to the store's
// feed, that survives restarts without counting an event twice:
//
//   example_account_projection [FOLDER]
//
// The feed delivers at least once: it saves its checkpoint (in a checkpoint store) after the
// handler took a batch, so a process that stops between the two sees that batch again. The
// handler therefore keeps, with its balances, the last log position they include, writes both in
// one file replaced whole, and skips what it has already counted. Three runs show it: the first
// counts everything; the second, after a restart, resumes from the checkpoint and gets only the
// new events; the third starts from a checkpoint set back (as after a stop between the handler's
// write and the checkpoint's) and counts nothing twice.
#include <stdio.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "evs/event_store.h"
#include "evs/event_types.h"
#include "evs/subscription.h"
#include "work_folder.h"

namespace {

struct MoneyDeposited {
  static constexpr std::string_view kType = "MoneyDeposited";
  int64_t amount_cents = 0;
};
struct MoneyWithdrawn {
  static constexpr std::string_view kType = "MoneyWithdrawn";
  int64_t amount_cents = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MoneyDeposited, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MoneyWithdrawn, amount_cents)
using AccountEvents = evs::EventTypes<MoneyDeposited, MoneyWithdrawn>;

constexpr std::string_view kStreamPrefix = "account-";
using Balances = std::map<std::string, int64_t>;

// Balances per account and the last position they include, in a JSON file of their own.
class BalancesProjection : public evs::EventHandler {
 public:
  // Starts from the file when there is one.
  explicit BalancesProjection(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_);
    if (!in) return;
    nlohmann::json saved = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (saved.is_discarded()) return;
    position_ = saved.value("position", int64_t{0});
    balances_ = saved.value("balances", Balances());
  }

  evs::Status Handle(std::span<const evs::RecordedEvent> batch) override {
    for (const evs::RecordedEvent& recorded : batch) {
      if (recorded.position <= position_) {  // counted before this batch came again
        ++skipped_;
        continue;
      }
      auto event = AccountEvents::Decode(recorded);
      if (!event.ok()) return event.error();  // retried, then parked (FailurePolicy)
      int64_t& balance = balances_[recorded.stream_id.substr(kStreamPrefix.size())];
      if (auto* deposit = std::get_if<MoneyDeposited>(&*event)) balance += deposit->amount_cents;
      if (auto* withdrawal = std::get_if<MoneyWithdrawn>(&*event)) {
        balance -= withdrawal->amount_cents;
      }
      position_ = recorded.position;
      ++applied_;
    }
    return Save();
  }

  const Balances& balances() const { return balances_; }
  int64_t position() const { return position_; }
  int64_t applied() const { return applied_; }
  int64_t skipped() const { return skipped_; }

 private:
  // Written beside, synced, then renamed over the old file: a stop leaves one or the other.
  evs::Status Save() {
    const std::string text =
        nlohmann::json{{"position", position_}, {"balances", balances_}}.dump();
    const std::string temporary = path_ + ".new";
    FILE* out = fopen(temporary.c_str(), "w");
    bool written = out != nullptr && fwrite(text.data(), 1, text.size(), out) == text.size() &&
                   fflush(out) == 0 && fsync(fileno(out)) == 0;
    if (out != nullptr) written = fclose(out) == 0 && written;
    if (!written || rename(temporary.c_str(), path_.c_str()) != 0) {
      return evs::Error::Make(evs::ErrorCode::kIOError, "cannot write " + path_);
    }
    return evs::OkStatus();
  }

  std::string path_;
  Balances balances_;
  int64_t position_ = 0;
  int64_t applied_ = 0;  // in this run
  int64_t skipped_ = 0;
};

std::string Show(const Balances& balances) {
  std::string out;
  for (const auto& [account, cents] : balances) {
    out += (out.empty() ? "" : ", ") + account + " " + std::to_string(cents);
  }
  return out;
}

// Appends one event to an account's stream and counts it in `expected`.
bool Append(evs::EventStore& store, const std::string& account, const AccountEvents::Event& event,
            Balances& expected) {
  auto data = AccountEvents::Encode(event);
  if (!data.ok()) return false;
  std::visit(
      [&](const auto& e) {
        const bool deposit = std::is_same_v<std::decay_t<decltype(e)>, MoneyDeposited>;
        expected[account] += deposit ? e.amount_cents : -e.amount_cents;
      },
      event);
  return store.Append(std::string(kStreamPrefix) + account, evs::ExpectedVersion::Any(), {*data})
      .ok();
}

struct Run {
  int64_t delivered = 0;
  int64_t applied = 0;
  int64_t skipped = 0;
  Balances balances;
};

// One run of the projection, as a process would do it: its checkpoint store and its file opened
// afresh, the subscription started, followed up to the log's head, and stopped.
evs::Result<Run> RunProjection(evs::EventStore& store, const example::WorkFolder& folder) {
  auto checkpoints = evs::OpenSqliteCheckpointStore(folder.File("checkpoints.sqlite"));
  if (!checkpoints.ok()) return checkpoints.error();
  BalancesProjection projection(folder.File("balances.json"));
  evs::SubscriptionOptions options;
  options.name = "balances";
  options.stream_prefix = std::string(kStreamPrefix);
  auto subscription = evs::Subscription::Start(store, **checkpoints, projection, options);
  if (!subscription.ok()) return subscription.error();
  auto head = store.HeadPosition();
  if (!head.ok()) return head.error();
  if (!(*subscription)->WaitUntil(*head, std::chrono::seconds(30))) {
    return evs::Error::Make(evs::ErrorCode::kUnavailable, "the projection did not reach position " +
                                                              std::to_string(*head) + ": " +
                                                              (*subscription)->GetStatus().error);
  }
  Run run;
  run.delivered = (*subscription)->GetStatus().delivered;
  subscription->reset();  // stopped: the handler is ours again
  run.applied = projection.applied();
  run.skipped = projection.skipped();
  run.balances = projection.balances();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  example::WorkFolder folder(argc > 1 ? argv[1] : "");
  example::Checks checks;
  if (!checks.Expect(folder.ok(), "a folder to work in")) return checks.ExitCode();
  evs::SqliteStoreOptions store_options;
  store_options.path = folder.File("events.sqlite");
  auto store = evs::OpenSqliteEventStore(store_options);
  if (!checks.Expect(store.ok(), "the store opens")) return checks.ExitCode();
  evs::EventStore& events = **store;
  Balances expected;

  bool appended = Append(events, "alice", MoneyDeposited{10000}, expected) &&
                  Append(events, "bob", MoneyDeposited{7000}, expected) &&
                  Append(events, "alice", MoneyWithdrawn{3000}, expected) &&
                  Append(events, "carol", MoneyDeposited{500}, expected);
  checks.Expect(appended, "four events appended");
  auto first = RunProjection(events, folder);
  if (!checks.Expect(first.ok(), "run 1")) return checks.ExitCode();
  std::printf("run 1: %lld events delivered, %lld counted; balances %s\n",
              static_cast<long long>(first->delivered), static_cast<long long>(first->applied),
              Show(first->balances).c_str());
  checks.Expect(first->applied == 4 && first->balances == expected, "run 1 counts all four");
  const int64_t after_first = *events.HeadPosition();

  appended = Append(events, "bob", MoneyWithdrawn{2000}, expected) &&
             Append(events, "dave", MoneyDeposited{100}, expected);
  checks.Expect(appended, "two more events appended");
  auto second = RunProjection(events, folder);
  if (!checks.Expect(second.ok(), "run 2")) return checks.ExitCode();
  std::printf(
      "run 2, restarted: resumed after position %lld, %lld events delivered, %lld counted; "
      "balances %s\n",
      static_cast<long long>(after_first), static_cast<long long>(second->delivered),
      static_cast<long long>(second->applied), Show(second->balances).c_str());
  checks.Expect(second->delivered == 2 && second->applied == 2, "run 2 gets only the new events");
  checks.Expect(second->balances == expected, "run 2's balances");

  // As if the last run had stopped after writing its balances and before saving its checkpoint.
  {
    auto checkpoints = evs::OpenSqliteCheckpointStore(folder.File("checkpoints.sqlite"));
    checks.Expect(
        checkpoints.ok() && (*checkpoints)->Save("balances", std::to_string(after_first)).ok(),
        "the checkpoint is set back");
  }
  auto third = RunProjection(events, folder);
  if (!checks.Expect(third.ok(), "run 3")) return checks.ExitCode();
  std::printf(
      "run 3, from a checkpoint behind the balances: %lld events delivered again, %lld "
      "counted, %lld skipped; balances %s\n",
      static_cast<long long>(third->delivered), static_cast<long long>(third->applied),
      static_cast<long long>(third->skipped), Show(third->balances).c_str());
  checks.Expect(third->delivered == 2 && third->applied == 0 && third->skipped == 2,
                "run 3 counts nothing twice");
  checks.Expect(third->balances == expected, "run 3's balances are unchanged");
  return checks.ExitCode();
}
