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
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace evs {

template <class T>
class Repository;

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

  void ApplyStored(const Event& event, int64_t version) {
    static_cast<Derived*>(this)->Apply(event);
    version_ = version;
  }
  void MarkStored(int64_t version) {
    version_ = version;
    pending_.clear();
  }

  std::string id_;
  int64_t version_ = 0;
  std::vector<Event> pending_;
};

}  // namespace evs
