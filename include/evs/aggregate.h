// Aggregates: state rebuilt from events, with the changes not yet stored.
//
// A domain aggregate derives from Aggregate<Derived, Types> (Types is an evs::EventTypes<...>),
// is constructible from its id, names its stream category, and applies events:
//
//   class Cart : public evs::Aggregate<Cart, CartEvents> {
//    public:
//     static constexpr std::string_view kCategory = "cart";  // streams are "cart-<id>"
//     explicit Cart(std::string id) : Aggregate(std::move(id)) {}
//     evs::Status AddItem(...) { /* check rules */ Raise(ItemAdded{...}); return evs::OkStatus(); }
//     void Apply(const Event& e);  // changes state only; never fails, never checks rules
//   };
//
// Commands check the rules, then Raise() events; Apply() is the only place state changes, so
// state rebuilt from the store equals state after the commands that made it.
//
// What Repository<T> needs of T, and why (the AggregateRoot concept below checks each; the
// repository static_asserts them one by one, so a missing one is named):
// * T derives from Aggregate<T, Types>: the base keeps the id, the version the aggregate was
//   loaded at and the pending events, which Store() appends at that version.
// * `static constexpr std::string_view kCategory` (anything convertible to std::string_view):
//   the aggregate's streams are "<kCategory>-<id>".
// * T is constructible from its id, a std::string (public): Fetch() starts from T(id) and
//   applies the stored events, Create() runs its command on a new T(id).
// * `Apply(const Event&)`, callable by the base: Raise() and Fetch() call it. It may be public,
//   or private with `friend Aggregate;` in T, so that only events change state.
// * Every event struct in Types has a kType and converts with nlohmann::json both ways (see
//   event_types.h and its StorableEvent concept): Store() encodes, Fetch() decodes.
// * T is move-constructible (results are returned by value). Being copyable is optional: a
//   copyable aggregate is kept in the repository's cache (which hands out copies); a move-only
//   one is never cached, and every Fetch() reads its stream (or snapshot).
//
// An aggregate that can be snapshotted (snapshot.h) also says how its state is serialised, and
// the version of that shape (change it whenever the shape changes: older snapshots are then
// ignored and replaced, never misread):
//
//     static constexpr int kSnapshotVersion = 1;
//     nlohmann::json SnapshotState() const;
//     evs::Status LoadSnapshotState(const nlohmann::json& state);  // on a new aggregate
#pragma once

#include <concepts>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "evs/event_types.h"
#include "evs/status.h"
#include "evs/uuid.h"

namespace evs {

template <class T>
class Repository;
namespace internal {
struct AggregateChecks;
}

// An aggregate whose state can be kept in snapshots (see above).
template <class T>
concept Snapshottable = requires(const T& aggregate, T& fresh, const nlohmann::json& state) {
  { T::kSnapshotVersion } -> std::convertible_to<int>;
  { aggregate.SnapshotState() } -> std::convertible_to<nlohmann::json>;
  { fresh.LoadSnapshotState(state) } -> std::same_as<Status>;
};

// The base of a domain aggregate Derived (see above): its id, the version it was loaded at and
// the events raised since. Not thread-safe: an aggregate is a value owned by one caller.
template <class Derived, class Types>
class Aggregate {
 public:
  // The registry of the aggregate's event structs (an evs::EventTypes<...>).
  using EventTypes = Types;
  // One event of the aggregate: a std::variant of Types' structs.
  using Event = typename Types::Event;

  // The id the aggregate was made with.
  const std::string& id() const { return id_; }
  // The version of the last stored event applied (0 for a new aggregate). Store() expects the
  // stream to still be at this version.
  int64_t version() const { return version_; }
  // Events raised since the aggregate was loaded or last stored, oldest first.
  const std::vector<Event>& pending() const { return pending_; }
  // The stream that holds this aggregate's events.
  std::string stream_id() const { return StreamIdFor(id_); }
  // The stream of the aggregate with this id: "<kCategory>-<id>".
  static std::string StreamIdFor(const std::string& id) {
    return std::string(Derived::kCategory) + "-" + id;
  }

 protected:
  // A new aggregate with this id: version 0, nothing pending.
  explicit Aggregate(std::string id) : id_(std::move(id)) {}

  // Keeps a new event (one of Types' structs, or an Event) as a pending change and applies it to
  // the state. Built in place: GCC 12 reports a false "maybe uninitialized" for a moved variant.
  template <class E>
  void Raise(E&& event) {
    static_cast<Derived*>(this)->Apply(pending_.emplace_back(std::forward<E>(event)));
  }

 private:
  friend class Repository<Derived>;
  friend struct internal::AggregateChecks;

  // Asked here, in the base, so that a private Apply befriending the base counts.
  static consteval bool AppliesEvents() {
    return requires(Derived * aggregate, const Event& event) { aggregate->Apply(event); };
  }

  void ApplyStored(const Event& event, int64_t version, const Uuid& event_id) {
    static_cast<Derived*>(this)->Apply(event);
    SkipStored(version, event_id);
  }
  // A stored event this reader does not apply (a retired type) still counts.
  void SkipStored(int64_t version, const Uuid& event_id) {
    version_ = version;
    last_event_id_ = event_id;
  }
  void MarkStored(int64_t version, const Uuid& event_id) {
    SkipStored(version, event_id);
    pending_.clear();
  }

  std::string id_;
  int64_t version_ = 0;
  Uuid last_event_id_;  // the id of the event at version_, kept in snapshots
  // The version of the snapshot this state was loaded from or last saved as (0: none), and
  // whether a snapshot was found that could not be used (replaced on the next Store).
  int64_t snapshot_version_ = 0;
  bool snapshot_unusable_ = false;
  std::vector<Event> pending_;
};

// The requirements listed at the top of this file, one by one.
namespace internal {
struct AggregateChecks {
  template <class T>
  static consteval bool AppliesEvents() {
    return T::AppliesEvents();
  }
};
template <class T>
concept HasEventTypes = requires {
  typename T::EventTypes;
};
template <class T>
concept DerivesFromAggregate =
    HasEventTypes<T> && std::derived_from<T, Aggregate<T, typename T::EventTypes>>;
template <class T>
concept HasCategory = requires {
  { T::kCategory } -> std::convertible_to<std::string_view>;
};
template <class T>
concept ConstructibleFromId = std::constructible_from<T, const std::string&>;
template <class T>
concept HasApply = DerivesFromAggregate<T> && AggregateChecks::AppliesEvents<T>();
template <class T>
concept HasStorableEvents = DerivesFromAggregate<T> && StorableEvents<typename T::EventTypes>;
}  // namespace internal

// A type that Repository<T> can fetch and store (the requirements at the top of this file).
template <class T>
concept AggregateRoot = internal::DerivesFromAggregate<T> && internal::HasCategory<T> &&
    internal::ConstructibleFromId<T> && internal::HasApply<T> && internal::HasStorableEvents<T> &&
    std::move_constructible<T>;

}  // namespace evs
