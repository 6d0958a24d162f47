// A bank account as an event-sourced aggregate, from scratch, on the embedded SQLite store:
//
//   example_bank_account [FOLDER]
//
// An account is opened with an overdraft limit; deposits add to its balance; a withdrawal that
// would take the balance below minus the limit is refused; it closes only at a zero balance, and
// a closed account takes nothing more. Two tellers that load the same account and both store a
// change show the optimistic concurrency check: the second store conflicts, and its command runs
// again on fresh state. The store's file is in FOLDER (kept), or in a temporary folder (removed).
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "evs/aggregate.h"
#include "evs/event_store.h"
#include "evs/event_types.h"
#include "evs/repository.h"
#include "evs/status.h"
#include "evs/testing.h"
#include "work_folder.h"

namespace bank {

// The events: each a struct with its stored type name, converted with nlohmann::json.
struct AccountOpened {
  static constexpr std::string_view kType = "AccountOpened";
  std::string owner;
  int64_t overdraft_limit_cents = 0;
};
struct MoneyDeposited {
  static constexpr std::string_view kType = "MoneyDeposited";
  int64_t amount_cents = 0;
};
struct MoneyWithdrawn {
  static constexpr std::string_view kType = "MoneyWithdrawn";
  int64_t amount_cents = 0;
};
struct AccountClosed {
  static constexpr std::string_view kType = "AccountClosed";
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AccountOpened, owner, overdraft_limit_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MoneyDeposited, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MoneyWithdrawn, amount_cents)
void to_json(nlohmann::json& j, const AccountClosed&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, AccountClosed&) {}

using AccountEvents = evs::EventTypes<AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed>;

evs::Error Refused(std::string why) {
  return evs::Error::Make(evs::ErrorCode::kDomainRule, std::move(why));
}

class Account : public evs::Aggregate<Account, AccountEvents> {
 public:
  static constexpr std::string_view kCategory = "account";  // streams "account-<id>"
  explicit Account(std::string id) : Aggregate(std::move(id)) {}

  // Commands: check the rules, then raise events (or refuse, raising nothing).
  evs::Status Open(std::string owner, int64_t overdraft_limit_cents) {
    if (opened_) return Refused("account " + id() + " is already open");
    if (overdraft_limit_cents < 0) return Refused("the overdraft limit cannot be negative");
    Raise(AccountOpened{std::move(owner), overdraft_limit_cents});
    return evs::OkStatus();
  }
  evs::Status Deposit(int64_t amount_cents) {
    if (auto s = CheckActive(amount_cents); !s.ok()) return s;
    Raise(MoneyDeposited{amount_cents});
    return evs::OkStatus();
  }
  evs::Status Withdraw(int64_t amount_cents) {
    if (auto s = CheckActive(amount_cents); !s.ok()) return s;
    if (balance_cents_ - amount_cents < -overdraft_limit_cents_) {
      return Refused("withdrawing " + std::to_string(amount_cents) + " from a balance of " +
                     std::to_string(balance_cents_) + " would pass the overdraft limit of " +
                     std::to_string(overdraft_limit_cents_));
    }
    Raise(MoneyWithdrawn{amount_cents});
    return evs::OkStatus();
  }
  evs::Status Close() {
    if (auto s = CheckActive(1); !s.ok()) return s;
    if (balance_cents_ != 0) {
      return Refused("the balance is " + std::to_string(balance_cents_) + "; only 0 closes");
    }
    Raise(AccountClosed{});
    return evs::OkStatus();
  }

  int64_t balance_cents() const { return balance_cents_; }
  bool closed() const { return closed_; }

 private:
  // Apply is private: only events change the state. The base calls it, so it is a friend.
  friend Aggregate;
  void Apply(const Event& event) {
    if (auto* opened = std::get_if<AccountOpened>(&event)) {
      opened_ = true;
      overdraft_limit_cents_ = opened->overdraft_limit_cents;
    } else if (auto* deposited = std::get_if<MoneyDeposited>(&event)) {
      balance_cents_ += deposited->amount_cents;
    } else if (auto* withdrawn = std::get_if<MoneyWithdrawn>(&event)) {
      balance_cents_ -= withdrawn->amount_cents;
    } else if (std::holds_alternative<AccountClosed>(event)) {
      closed_ = true;
    }
  }

  evs::Status CheckActive(int64_t amount_cents) const {
    if (!opened_) return Refused("account " + id() + " is not open");
    if (closed_) return Refused("account " + id() + " is closed");
    if (amount_cents <= 0) {
      return evs::Error::Make(evs::ErrorCode::kInvalidArgument, "amounts are positive");
    }
    return evs::OkStatus();
  }

  bool opened_ = false;
  bool closed_ = false;
  int64_t overdraft_limit_cents_ = 0;
  int64_t balance_cents_ = 0;
};

static_assert(evs::AggregateRoot<Account>);

}  // namespace bank

namespace {

using bank::Account;

// A command as the repository takes it: a callable on the aggregate that returns a Status.
auto Deposit(int64_t cents) {
  return [=](Account& a) { return a.Deposit(cents); };
}
auto Withdraw(int64_t cents) {
  return [=](Account& a) { return a.Withdraw(cents); };
}

evs::SqliteStoreOptions StoreAt(const std::string& path) {
  evs::SqliteStoreOptions options;  // the defaults: durable, one writer with group commit
  options.path = path;
  return options;
}

bool FailedWith(const evs::Result<Account>& result, evs::ErrorCode code) {
  return !result.ok() && result.error().code == code;
}
bool Refused(const evs::Result<Account>& result) {
  return FailedWith(result, evs::ErrorCode::kDomainRule);
}

// The rules as given/when/then specifications (evs/testing.h), with no test framework: each
// runs on a memory store through a Repository, as the program below does on SQLite.
void CheckRules(example::Checks& checks) {
  using evs::testing::AggregateSpec;
  const std::vector<Account::Event> opened = {bank::AccountOpened{"Alice", 5000},
                                              bank::MoneyDeposited{10000}};
  evs::testing::SpecResult results[] = {
      AggregateSpec<Account>()
          .Given(opened)
          .When(Withdraw(15000))
          .Then({bank::MoneyWithdrawn{15000}}),
      AggregateSpec<Account>()
          .Given(opened)
          .When(Withdraw(15001))
          .ThenError(evs::ErrorCode::kDomainRule, "overdraft"),
      AggregateSpec<Account>()
          .Given(opened)
          .When([](Account& a) { return a.Close(); })
          .ThenError(evs::ErrorCode::kDomainRule, "only 0 closes"),
      AggregateSpec<Account>()
          .Given(opened)
          .Given({bank::MoneyWithdrawn{10000}})
          .When([](Account& a) { return a.Close(); })
          .Then({bank::AccountClosed{}}),
  };
  int passed = 0;
  for (const auto& result : results) passed += checks.Expect(result.ok(), result.message());
  std::printf("%d of %zu rule specifications hold\n", passed, std::size(results));
}

}  // namespace

int main(int argc, char** argv) {
  example::WorkFolder folder(argc > 1 ? argv[1] : "");
  example::Checks checks;
  CheckRules(checks);
  if (!checks.Expect(folder.ok(), "a folder to work in")) return checks.ExitCode();
  const std::string path = folder.File("bank.sqlite");
  {
    auto store = evs::OpenSqliteEventStore(StoreAt(path));
    if (!checks.Expect(store.ok(), "the store opens")) return checks.ExitCode();
    evs::Repository<Account> accounts(**store);

    auto opened = accounts.Create("alice", [](Account& a) { return a.Open("Alice", 5000); });
    checks.Expect(opened.ok(), "the account opens");
    std::printf("opened account alice with an overdraft limit of 5000 cents\n");
    checks.Expect(accounts.Execute("alice", Deposit(10000)).ok(), "a deposit of 10000");
    auto overdrawn = accounts.Execute("alice", Withdraw(15001));
    checks.Expect(Refused(overdrawn), "a withdrawal past the overdraft is refused");
    if (!overdrawn.ok()) std::printf("refused: %s\n", overdrawn.error().message.c_str());
    checks.Expect(accounts.Execute("alice", Withdraw(14000)).ok(),
                  "a withdrawal of 14000 (overdrawn)");
    auto not_zero = accounts.Execute("alice", [](Account& a) { return a.Close(); });
    checks.Expect(Refused(not_zero), "an account closes only at zero");
    if (!not_zero.ok()) std::printf("refused: %s\n", not_zero.error().message.c_str());

    // Two tellers load the account at the same version; both change it.
    auto teller_a = accounts.Fetch("alice");
    auto teller_b = accounts.Fetch("alice");
    if (!checks.Expect(teller_a.ok() && teller_b.ok(), "two loads")) return checks.ExitCode();
    const int64_t loaded_at = teller_a->version();
    checks.Expect(teller_a->Deposit(3000).ok() && teller_b->Deposit(1000).ok(), "two deposits");
    checks.Expect(accounts.Store(std::move(teller_a).value()).ok(), "the first store succeeds");
    auto second = accounts.Store(std::move(teller_b).value());
    const bool conflict =
        !second.ok() && second.error().code == evs::ErrorCode::kWrongExpectedVersion;
    checks.Expect(conflict, "the second store conflicts");
    if (conflict && second.error().conflict) {
      std::printf("teller b conflicted: loaded at version %lld, the stream is at %lld now\n",
                  static_cast<long long>(loaded_at),
                  static_cast<long long>(second.error().conflict->actual));
    }
    // Its command runs again on fresh state (Execute retries conflicts by itself, too).
    auto retried = accounts.Execute("alice", Deposit(1000));
    checks.Expect(retried.ok(), "the retried deposit is stored");
    if (retried.ok()) {
      std::printf("teller b retried on fresh state: balance %lld cents at version %lld\n",
                  static_cast<long long>(retried->balance_cents()),
                  static_cast<long long>(retried->version()));
    }
    checks.Expect(
        FailedWith(accounts.Execute("alice", Withdraw(0)), evs::ErrorCode::kInvalidArgument),
        "a zero amount is invalid");
  }

  // Reopened, the store rebuilds the account from its events; it closes once it is at zero.
  auto store = evs::OpenSqliteEventStore(StoreAt(path));
  if (!checks.Expect(store.ok(), "the store reopens")) return checks.ExitCode();
  evs::Repository<Account> accounts(**store);
  auto account = accounts.Fetch("alice");
  if (!checks.Expect(account.ok(), "the account is fetched again")) return checks.ExitCode();
  const int64_t balance = account->balance_cents();
  checks.Expect(balance == 10000 - 14000 + 3000 + 1000, "balance " + std::to_string(balance));
  checks.Expect(account->version() == 5, "five events: opened, 1 withdrawal, 3 deposits");
  std::printf("after a reopen: balance %lld cents at version %lld\n",
              static_cast<long long>(balance), static_cast<long long>(account->version()));
  auto closed = accounts.Execute("alice", [](Account& a) { return a.Close(); });
  checks.Expect(closed.ok() && closed->closed(), "an account at zero closes");
  checks.Expect(Refused(accounts.Execute("alice", Deposit(100))), "a closed account takes nothing");
  std::printf("closed account alice; a deposit after that is refused\n");
  return checks.ExitCode();
}
