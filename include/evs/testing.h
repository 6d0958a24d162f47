// Given/when/then specifications of aggregates and deciders: "given these past events, when this
// command, then these new events, or this error", in the manner of Emmett's DeciderSpecification
// and Axon's aggregate test fixture. No test framework is needed: a Then step returns a
// SpecResult, true or false with a message that names what was expected and what happened.
//
//   evs::testing::AggregateSpec<Cart> spec;
//   evs::testing::SpecResult r =
//       spec.Given({CartOpened{}, ItemAdded{"apple", 2, {50, "USD"}}})
//           .When([](Cart& cart) { return cart.RemoveItem("apple", 3); })
//           .ThenError(evs::ErrorCode::kDomainRule, "cannot remove 3");
//   ASSERT_TRUE(r) << r.message();  // GoogleTest; any framework takes a bool and a string
//
// A spec runs on its own memory store (NewMemoryEventStore) and takes the production path both
// ways, so it tests Apply and the event conversions too:
// * Given: the events are encoded (EventTypes::Encode) and appended to the aggregate's stream.
// * When: the aggregate is fetched through a Repository (upcast, decode, Apply), or made new with
//   T(id) when nothing was given; the command runs on it as in Repository::Execute (a callable
//   taking T& and returning Status); its new events are stored through the Repository.
// * Then: the stored new events are compared with the expected ones by type and JSON data (two
//   events are the same when their types are and their data parse to equal JSON; ids and metadata
//   are not compared), or the error by code and part of its message.
// Every Then step also fails, naming the event, when an event does not come back the same from
// its JSON (read back, decoded and encoded again), or when the aggregate cannot be fetched again
// after its new events. A spec is for one thread. Each When step runs on what is stored so far:
// the given events and the new events of earlier When steps.
//
// A decider is a command handler as plain functions over a state; evs has no decider type, and a
// DeciderSpec takes any struct of this shape (the Decider concept below):
//
//   struct Turnstile {
//     using EventTypes = evs::EventTypes<Locked, Unlocked>;  // stored as aggregates' events are
//     using Command = std::variant<Push, Coin>;              // any type
//     using State = TurnstileState;                          // any copyable type
//     static State Initial();
//     // The new events for `command` in `state` (maybe none), or why not (e.g. kDomainRule);
//     // a decider that never refuses may return the std::vector itself.
//     static evs::Result<std::vector<EventTypes::Event>> Decide(const Command&, const State&);
//     // The state after `event`: never fails, never checks rules.
//     static State Evolve(const State&, const EventTypes::Event&);
//   };
//
// A DeciderSpec stores its events as an aggregate spec does, in the stream named by
// SpecOptions::id: given events are appended, read back and folded with Evolve from Initial();
// Decide's events are appended, read back, compared, and folded into the state that result()
// returns.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "evs/aggregate.h"
#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/event_types.h"
#include "evs/repository.h"
#include "evs/status.h"
#include "evs/upcasting.h"

namespace evs::testing {

// The shape of a decider (see above).
template <class D>
concept Decider = requires {
  typename D::State;
  typename D::Command;
  typename D::EventTypes;
}
&&StorableEvents<typename D::EventTypes>&& std::copyable<typename D::State>&& requires(
    const typename D::State& state, const typename D::Command& command,
    const typename D::EventTypes::Event& event) {
  { D::Initial() } -> std::convertible_to<typename D::State>;
  {
    D::Decide(command, state)
    } -> std::convertible_to<Result<std::vector<typename D::EventTypes::Event>>>;
  { D::Evolve(state, event) } -> std::convertible_to<typename D::State>;
};

// What a Then step found: true, or false with a message over several lines that says what was
// expected and what happened (each event as its type and JSON data).
class SpecResult {
 public:
  // A result that passed, with an empty message.
  static SpecResult Pass() { return SpecResult(true, {}); }
  // A result that failed, with `message` saying why.
  static SpecResult Fail(std::string message) { return SpecResult(false, std::move(message)); }

  // True when it passed.
  bool ok() const { return ok_; }
  // ok(), for ASSERT_TRUE(result) and if (result).
  explicit operator bool() const { return ok_; }
  // Empty when it passed.
  const std::string& message() const { return message_; }

 private:
  SpecResult(bool ok, std::string message) : ok_(ok), message_(std::move(message)) {}
  bool ok_;
  std::string message_;
};

// The options of an AggregateSpec or a DeciderSpec.
struct SpecOptions {
  // The aggregate's id (its stream is "<kCategory>-<id>"), or a decider's stream id.
  std::string id = "spec-1";
  // Upcasts stored events before they are decoded, as RepositoryOptions::upcaster does: for
  // histories given with GivenStored() in older schemas. Null: none.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

template <class Types, class Subject>
class ThenStep;
template <class T>
class AggregateSpec;
template <Decider D>
class DeciderSpec;

namespace internal {

// "ItemAdded {"name":"apple"}": an event as the messages show it.
inline std::string DescribeEvent(std::string_view type, const std::string& data) {
  nlohmann::json json = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  return std::string(type) + " " + (json.is_discarded() ? data : json.dump());
}

// An event as a Then step compares it: the same type and equal JSON data.
struct ComparedEvent {
  std::string type;
  nlohmann::json data;
  std::string shown;  // DescribeEvent

  static ComparedEvent Of(std::string_view type, const std::string& data) {
    return {std::string(type), nlohmann::json::parse(data, nullptr, false),
            DescribeEvent(type, data)};
  }
  bool operator==(const ComparedEvent& other) const {
    return type == other.type && data == other.data;
  }
};

inline std::string DescribeError(const Error& error) {
  return std::string(ErrorCodeName(error.code)) + ": " + error.message;
}

// The spec's memory store and its one stream, and what went wrong in the Given steps.
class SpecStream {
 public:
  SpecStream(std::string stream_id, std::shared_ptr<const Upcaster> upcaster)
      : store_(NewMemoryEventStore()),
        stream_id_(std::move(stream_id)),
        upcaster_(std::move(upcaster)) {}

  EventStore& store() { return *store_; }
  // The stream's version: the given events and the new events of earlier When steps.
  int64_t version() {
    auto version = store_->StreamVersion(stream_id_);
    return version.ok() ? *version : 0;
  }
  // The first Given step that failed, as a message; empty when none did.
  const std::string& problem() const { return problem_; }

  // Appends events as stored (the Given steps). A failure becomes problem().
  void GivenStored(std::vector<EventData> events) {
    if (!problem_.empty() || events.empty()) return;
    auto appended = Append(std::move(events));
    if (!appended.ok()) {
      problem_ = "given: the events cannot be appended: " + DescribeError(appended.error());
    }
  }

  // Encodes and appends typed events, then reads them back as a reader would (each must come
  // back the same from its JSON). A failure becomes problem().
  template <class Types>
  void Given(const std::vector<typename Types::Event>& events) {
    if (!problem_.empty() || events.empty()) return;
    const int64_t before = version();
    auto appended = AppendEvents<Types>(events);
    if (!appended.ok()) {
      problem_ = "given: " + DescribeError(appended.error());
      return;
    }
    auto stored = ReadAfter(before);
    if (!stored.ok()) {
      problem_ = "given: the events cannot be read back: " + DescribeError(stored.error());
      return;
    }
    if (std::string p = ReadBack<Types>(*stored, nullptr); !p.empty()) problem_ = "given: " + p;
  }

  // Encodes `events` as the Repository does and appends them at the stream's version.
  template <class Types>
  Status AppendEvents(const std::vector<typename Types::Event>& events) {
    std::vector<EventData> encoded;
    for (const auto& event : events) {
      auto data = Types::Encode(event);
      if (!data.ok()) return data.error();
      encoded.push_back(std::move(data).value());
    }
    return Append(std::move(encoded));
  }

  // The stream's events after version `after`, as stored.
  Result<std::vector<RecordedEvent>> ReadAfter(int64_t after) {
    std::vector<RecordedEvent> events;
    ReadStreamOptions read;
    read.from = after + 1;
    for (;;) {
      auto page = store_->ReadStream(stream_id_, read);
      if (!page.ok()) {
        if (page.error().code == ErrorCode::kNotFound) return events;  // nothing stored yet
        return page.error();
      }
      for (RecordedEvent& event : page->events) events.push_back(std::move(event));
      if (page->end_of_stream || page->events.empty()) return events;
      read.from = events.back().version + 1;
    }
  }

  // Decodes stored events as a reader does (upcast, then decode), each of them checked to come
  // back the same from its JSON: decoded and encoded again, the same type and data. The events go
  // to `decoded` when it is not null. Returns a message naming the first event that does not
  // (empty when all do). Retired events (upcasting.h) are skipped.
  template <class Types>
  std::string ReadBack(const std::vector<RecordedEvent>& stored,
                       std::vector<typename Types::Event>* decoded) const {
    for (RecordedEvent event : stored) {
      const std::string as_stored = DescribeEvent(event.type, event.data);
      const std::string where =
          "the event at version " + std::to_string(event.version) + ", " + as_stored + ",";
      if (upcaster_) {
        auto outcome = upcaster_->Upcast(event);
        if (!outcome.ok()) return where + " cannot be upcast: " + DescribeError(outcome.error());
        if (*outcome == Upcaster::Outcome::kRetired) continue;
        if (*outcome == Upcaster::Outcome::kUpcast) {
          // An older shape: it comes back as its current one, not as stored.
          auto current = Types::Decode(event);
          if (!current.ok()) return where + " cannot be decoded: " + current.error().message;
          if (decoded) decoded->push_back(std::move(current).value());
          continue;
        }
      }
      auto event_value = Types::Decode(event);
      if (!event_value.ok()) return where + " cannot be decoded: " + event_value.error().message;
      auto again = Types::Encode(*event_value);
      if (!again.ok()) {
        return where + " cannot be encoded again once decoded: " + again.error().message;
      }
      if (again->type != event.type || nlohmann::json::parse(again->data, nullptr, false) !=
                                           nlohmann::json::parse(event.data, nullptr, false)) {
        return where + " does not come back the same from its JSON: decoded and encoded again, " +
               "it is " + DescribeEvent(again->type, again->data);
      }
      if (decoded) decoded->push_back(std::move(event_value).value());
    }
    return {};
  }

 private:
  Status Append(std::vector<EventData> events) {
    if (events.empty()) return OkStatus();  // as Repository::Store: nothing to write
    auto appended =
        store_->Append(stream_id_, ExpectedVersion::Exact(version()), std::move(events));
    if (!appended.ok()) return appended.error();
    return OkStatus();
  }

  std::unique_ptr<EventStore> store_;
  std::string stream_id_;
  std::shared_ptr<const Upcaster> upcaster_;
  std::string problem_;
};

}  // namespace internal

// The outcome of a When step, to be checked by one of its Then steps (any number of times).
// `Subject` is the aggregate type, or a decider's state.
template <class Types, class Subject>
class ThenStep {
 public:
  // One event of Types: a std::variant of its structs.
  using Event = typename Types::Event;

  // Passes when the command succeeded and stored exactly `expected`, in order.
  SpecResult Then(const std::vector<Event>& expected) const {
    if (!problem_.empty()) return SpecResult::Fail(problem_);
    std::vector<internal::ComparedEvent> wanted;
    for (const Event& event : expected) {
      auto encoded = Types::Encode(event);
      if (!encoded.ok()) {
        return SpecResult::Fail("an expected event cannot be encoded: " + encoded.error().message);
      }
      wanted.push_back(internal::ComparedEvent::Of(encoded->type, encoded->data));
    }
    if (!result_.ok()) {
      return SpecResult::Fail("expected " + List(wanted) + "\nactual: the command failed, " +
                              internal::DescribeError(result_.error()));
    }
    if (wanted == Stored()) return SpecResult::Pass();
    return SpecResult::Fail("expected " + List(wanted) + "\nactual:   " + List(Stored()));
  }

  // Passes when the command succeeded and stored nothing.
  SpecResult ThenNothing() const { return Then({}); }

  // Passes when the command failed with `code` and a message that contains `message_part`.
  SpecResult ThenError(ErrorCode code, std::string_view message_part = {}) const {
    if (!problem_.empty()) return SpecResult::Fail(problem_);
    std::string wanted = std::string("expected error ") + ErrorCodeName(code);
    if (!message_part.empty()) wanted += " with \"" + std::string(message_part) + "\"";
    if (result_.ok()) {
      return SpecResult::Fail(wanted + "\nactual: the command succeeded with " + List(Stored()));
    }
    const Error& error = result_.error();
    if (error.code == code && error.message.find(message_part) != std::string::npos) {
      return SpecResult::Pass();
    }
    return SpecResult::Fail(wanted + "\nactual error " + internal::DescribeError(error));
  }

  // What the When step ended with: the aggregate fetched again after its new events (or the
  // decider's state with them folded in), or the command's error (or the spec's problem).
  const Result<Subject>& result() const { return result_; }

 private:
  template <class T>
  friend class AggregateSpec;
  template <Decider D>
  friend class DeciderSpec;

  ThenStep(std::string problem, Result<Subject> result, std::vector<RecordedEvent> stored)
      : problem_(std::move(problem)), result_(std::move(result)), stored_(std::move(stored)) {}
  // A When step that could not run or check what it did: every Then step fails with `problem`.
  static ThenStep Failed(std::string problem) {
    Error error = Error::Make(ErrorCode::kInvalidArgument, problem);
    return ThenStep(std::move(problem), std::move(error), {});
  }

  std::vector<internal::ComparedEvent> Stored() const {
    std::vector<internal::ComparedEvent> events;
    for (const RecordedEvent& event : stored_) {
      events.push_back(internal::ComparedEvent::Of(event.type, event.data));
    }
    return events;
  }

  static std::string List(const std::vector<internal::ComparedEvent>& events) {
    if (events.empty()) return "no new events";
    std::string out = std::to_string(events.size()) + (events.size() == 1 ? " event:" : " events:");
    for (const internal::ComparedEvent& event : events) out += "\n  " + event.shown;
    return out;
  }

  std::string problem_;
  Result<Subject> result_;
  std::vector<RecordedEvent> stored_;  // the new events, as stored
};

// Given/when/then for an aggregate T (an AggregateRoot, aggregate.h).
template <class T>
class AggregateSpec {
 public:
  // One event of T.
  using Event = typename T::Event;
  // T's event types (T::EventTypes).
  using Types = typename T::EventTypes;

  // A spec with a new, empty memory store of its own.
  explicit AggregateSpec(SpecOptions options = {})
      : options_(std::move(options)), stream_(T::StreamIdFor(options_.id), options_.upcaster) {}

  // Appends these events to the aggregate's history.
  AggregateSpec& Given(const std::vector<Event>& events) {
    stream_.template Given<Types>(events);
    return *this;
  }
  // Appends events as stored, e.g. in an older schema version (see SpecOptions::upcaster).
  AggregateSpec& GivenStored(std::vector<EventData> events) {
    stream_.GivenStored(std::move(events));
    return *this;
  }

  // Runs `command(T&) -> Status` on the aggregate fetched from the history (a new T(id) when
  // there is none) and stores its new events, as Repository::Execute and Create do.
  template <class Command>
  ThenStep<Types, T> When(Command&& command) {
    static_assert(std::is_invocable_r_v<Status, Command&, T&>,
                  "AggregateSpec::When(command): command(T&) must return evs::Status, as for "
                  "Repository::Execute");
    using Step = ThenStep<Types, T>;
    if (!stream_.problem().empty()) return Step::Failed(stream_.problem());
    Repository<T> repository(stream_.store(), NoCacheNoRetries());
    const int64_t given = stream_.version();
    std::optional<T> aggregate;
    if (given > 0) {
      auto fetched = repository.Fetch(options_.id);
      if (!fetched.ok()) {
        return Step::Failed("given: the aggregate cannot be fetched from the given events: " +
                            internal::DescribeError(fetched.error()));
      }
      aggregate.emplace(std::move(fetched).value());
    } else {
      aggregate.emplace(options_.id);
    }
    if (Status decided = std::invoke(command, *aggregate); !decided.ok()) {
      return Step({}, decided.error(), {});
    }
    auto stored = repository.Store(std::move(*aggregate));
    if (!stored.ok()) return Step({}, stored.error(), {});
    auto fresh = stream_.ReadAfter(given);
    if (!fresh.ok()) {
      return Step::Failed("the new events cannot be read back: " +
                          internal::DescribeError(fresh.error()));
    }
    if (std::string p = stream_.template ReadBack<Types>(*fresh, nullptr); !p.empty()) {
      return Step::Failed(p);
    }
    if (fresh->empty()) return Step({}, std::move(stored), {});
    auto again = Repository<T>(stream_.store(), NoCacheNoRetries()).Fetch(options_.id);
    if (!again.ok()) {
      return Step::Failed(
          "the new events were stored, and the aggregate cannot be fetched again: " +
          internal::DescribeError(again.error()));
    }
    return Step({}, std::move(again), std::move(fresh).value());
  }

 private:
  // No cache (every fetch rebuilds from the events) and no retries (nothing else writes).
  RepositoryOptions NoCacheNoRetries() const {
    RepositoryOptions options;
    options.cache_capacity = 0;
    options.max_conflict_retries = 0;
    options.upcaster = options_.upcaster;
    return options;
  }

  SpecOptions options_;
  internal::SpecStream stream_;
};

// Given/when/then for a decider D (see above).
template <Decider D>
class DeciderSpec {
 public:
  // D's event types (D::EventTypes).
  using Types = typename D::EventTypes;
  // One event of D.
  using Event = typename Types::Event;
  // D's state, which result() holds after a When step.
  using State = typename D::State;

  // A spec with a new, empty memory store of its own.
  explicit DeciderSpec(SpecOptions options = {})
      : options_(std::move(options)), stream_(options_.id, options_.upcaster) {}

  // Appends these events to the decider's stream.
  DeciderSpec& Given(const std::vector<Event>& events) {
    stream_.template Given<Types>(events);
    return *this;
  }
  // Appends events as stored, e.g. in an older schema version (see SpecOptions::upcaster).
  DeciderSpec& GivenStored(std::vector<EventData> events) {
    stream_.GivenStored(std::move(events));
    return *this;
  }

  // Folds the history into D::Initial() with D::Evolve, runs D::Decide, and appends its events.
  ThenStep<Types, State> When(const typename D::Command& command) {
    using Step = ThenStep<Types, State>;
    if (!stream_.problem().empty()) return Step::Failed(stream_.problem());
    const int64_t given = stream_.version();
    State state = D::Initial();
    if (std::string p = Fold(0, state); !p.empty()) return Step::Failed("given: " + p);
    Result<std::vector<Event>> decided = D::Decide(command, state);
    if (!decided.ok()) return Step({}, decided.error(), {});
    if (Status appended = stream_.template AppendEvents<Types>(*decided); !appended.ok()) {
      return Step({}, appended.error(), {});
    }
    auto fresh = stream_.ReadAfter(given);
    if (!fresh.ok()) {
      return Step::Failed("the new events cannot be read back: " +
                          internal::DescribeError(fresh.error()));
    }
    if (std::string p = Fold(given, state); !p.empty()) return Step::Failed(p);
    return Step({}, std::move(state), std::move(fresh).value());
  }

 private:
  // Reads the events after version `after` back and folds them into `state`; a message naming
  // the event that cannot be read back, or empty.
  std::string Fold(int64_t after, State& state) {
    auto stored = stream_.ReadAfter(after);
    if (!stored.ok())
      return "the events cannot be read back: " + internal::DescribeError(stored.error());
    std::vector<Event> events;
    if (std::string p = stream_.template ReadBack<Types>(*stored, &events); !p.empty()) return p;
    for (const Event& event : events) state = D::Evolve(state, event);
    return {};
  }

  SpecOptions options_;
  internal::SpecStream stream_;
};

}  // namespace evs::testing
