// An aggregate of the consumer's own on the installed evs: a counter that never goes below zero,
// stored in an embedded SQLite store, fetched back, and a stale write refused.
#include <evs/aggregate.h>
#include <evs/event_store.h>
#include <evs/event_types.h>
#include <evs/repository.h>
#include <evs/version.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

struct Added {
  static constexpr std::string_view kType = "Added";
  int64_t amount = 0;
};
struct Taken {
  static constexpr std::string_view kType = "Taken";
  int64_t amount = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Added, amount)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Taken, amount)

class Counter : public evs::Aggregate<Counter, evs::EventTypes<Added, Taken>> {
 public:
  static constexpr std::string_view kCategory = "counter";
  explicit Counter(std::string id) : Aggregate(std::move(id)) {}

  evs::Status Add(int64_t amount) {
    Raise(Added{amount});
    return evs::OkStatus();
  }
  evs::Status Take(int64_t amount) {
    if (amount > value_) {
      return evs::Status(evs::Error::Make(evs::ErrorCode::kDomainRule, "not enough to take"));
    }
    Raise(Taken{amount});
    return evs::OkStatus();
  }
  int64_t value() const { return value_; }

  void Apply(const Event& event) {
    if (auto* added = std::get_if<Added>(&event)) value_ += added->amount;
    if (auto* taken = std::get_if<Taken>(&event)) value_ -= taken->amount;
  }

 private:
  int64_t value_ = 0;
};

static int Fail(const std::string& what) {
  std::fprintf(stderr, "counter: %s\n", what.c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return Fail("usage: counter FOLDER");
  if (std::strcmp(evs::Version(), EVS_VERSION_STRING) != 0) {
    return Fail(std::string("library ") + evs::Version() + " with headers " + EVS_VERSION_STRING);
  }
  std::filesystem::create_directories(argv[1]);
  evs::SqliteStoreOptions options;
  options.path = std::string(argv[1]) + "/events.sqlite";
  auto store = evs::OpenSqliteEventStore(options);
  if (!store.ok()) return Fail(store.error().message);
  evs::Repository<Counter> counters(**store);

  Counter counter("c1");
  if (!counter.Add(5).ok() || !counter.Take(2).ok()) return Fail("commands refused");
  if (counter.Take(10).ok()) return Fail("took more than there was");
  auto stored = counters.Store(counter);
  if (!stored.ok()) return Fail(stored.error().message);

  auto fetched = counters.Fetch("c1");
  if (!fetched.ok()) return Fail(fetched.error().message);
  if (fetched->value() != 3 || fetched->version() != 2) return Fail("fetched the wrong state");

  // A second write from the state before the first is refused: optimistic concurrency.
  Counter stale("c1");
  if (!stale.Add(1).ok()) return Fail("add refused");
  auto conflict = counters.Store(stale);
  if (conflict.ok()) return Fail("a stale write was accepted");
  std::printf("counter c1 = %lld at version %lld (evs %s); stale write: %s\n",
              static_cast<long long>(fetched->value()), static_cast<long long>(fetched->version()),
              evs::Version(), conflict.error().message.c_str());
  return 0;
}
