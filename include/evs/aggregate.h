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
#include <utility>
#include <vector>

#include "evs/status.h"
#include "evs/uuid.h"

namespace evs {

template <class T>
class Repository;

// An aggregate whose state can be kept in snapshots (see above).
template <class T>
concept Snapshottable = requires(const T& aggregate, T& fresh, const nlohmann::json& state) {
  { T::kSnapshotVersion } -> std::convertible_to<int>;
  { aggregate.SnapshotState() } -> std::convertible_to<nlohmann::json>;
  { fresh.LoadSnapshotState(state) } -> std::same_as<Status>;
};

template <class Derived, class Types>
class Aggregate {
 public:
  using EventTypes = Types;
  using Event = typename Types::Event;

  const std::string& id() const { return id_; }
  // The version of the last stored event applied (0 for a new aggregate). Store() expects the
  // stream to still be at this version.
  int64_t version() const { return version_; }
  // Events raised since the aggregate was loaded or last stored, oldest first.
  const std::vector<Event>& pending() const { return pending_; }
  // The stream that holds this aggregate's events.
  std::string stream_id() const { return StreamIdFor(id_); }
  static std::string StreamIdFor(const std::string& id) {
    return std::string(Derived::kCategory) + "-" + id;
  }

 protected:
  explicit Aggregate(std::string id) : id_(std::move(id)) {}

  // Applies a new event to the state and keeps it as a pending change.
  void Raise(Event event) {
    static_cast<Derived*>(this)->Apply(event);
    pending_.push_back(std::move(event));
  }

 private:
  friend class Repository<Derived>;

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

}  // namespace evs
