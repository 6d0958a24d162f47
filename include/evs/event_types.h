// The event type registry: maps type names to C++ structs with JSON encode and decode.
//
// Each event struct T declares its stored name and converts with nlohmann::json:
//
//   struct ItemAdded {
//     static constexpr std::string_view kType = "ItemAdded";
//     std::string name;
//     int64_t quantity;
//   };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ItemAdded, name, quantity)
//
//   using CartEvents = evs::EventTypes<CartOpened, ItemAdded>;
//   CartEvents::Event e = ItemAdded{"apple", 2};
//
// An event struct may declare `static constexpr int kSchemaVersion = n;` (1 when absent): Encode
// records a version above 1 in the metadata, and Decode reads only events at the struct's version.
// Older events reach it through an upcaster (upcasting.h), which RepositoryOptions and the feeds
// run before decoding.
//
// What an event struct needs is the StorableEvent concept below; EventTypes checks it for each
// struct it decodes, naming the struct when one falls short.
//
// Decoding never throws: an unknown type, or a schema version newer than the struct's, is
// kUnknownEventType; an older version (no upcaster ran) is kUnsupported; data that does not fit
// the struct is kCorruption; each names the stream and version.
#pragma once

#include <concepts>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "evs/event.h"
#include "evs/status.h"
#include "evs/upcasting.h"

namespace evs {

// An event struct: its stored type name, and conversions to and from nlohmann::json (to_json and
// from_json found by ADL, or an nlohmann::adl_serializer; from_json needs it default
// constructible).
template <class E>
concept StorableEvent = std::is_constructible_v<nlohmann::json, const E&> &&
    requires(const nlohmann::json& json) {
  { E::kType } -> std::convertible_to<std::string_view>;
  json.get<E>();
};

template <class... Ts>
class EventTypes;

// True for an EventTypes<Ts...> whose every Ts is a StorableEvent.
template <class Types>
inline constexpr bool kStorableEvents = false;
// An EventTypes<Ts...>: true when each Ts is a StorableEvent.
template <class... Ts>
inline constexpr bool kStorableEvents<EventTypes<Ts...>> = (StorableEvent<Ts> && ...);
// Event types a Repository or a DeciderSpec can store: an EventTypes of StorableEvent structs.
template <class Types>
concept StorableEvents = kStorableEvents<Types>;

// The registry of a set of event structs Ts..., each with its `kType` and JSON conversions (see
// above). Only static members: it serves as a type (e.g. an aggregate's), not as an object.
template <class... Ts>
class EventTypes {
 public:
  // One event of any of the types.
  using Event = std::variant<Ts...>;

  // The stored type name of `event`: its struct's kType.
  static std::string_view TypeName(const Event& event) {
    return std::visit([](const auto& e) { return std::decay_t<decltype(e)>::kType; }, event);
  }

  // The event ready to append: a fresh id, its type name and its data as JSON text. Fails with
  // kInvalidArgument when a string in the event is not valid UTF-8.
  static Result<EventData> Encode(const Event& event, std::string metadata = "{}") {
    EventData out;
    out.id = Uuid::Random();
    out.type = std::string(TypeName(event));
    try {
      out.data = std::visit([](const auto& e) { return nlohmann::json(e).dump(); }, event);
    } catch (const nlohmann::json::exception& e) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         out.type + " cannot be encoded as JSON: " + e.what());
    }
    const int schema_version = std::visit(
        [](const auto& e) { return SchemaVersionOf<std::decay_t<decltype(e)>>(); }, event);
    if (schema_version > 1) {
      auto with_version = WithSchemaVersion(metadata, schema_version);
      if (!with_version.ok()) return with_version.error();
      out.metadata = std::move(with_version).value();
    } else {
      out.metadata = std::move(metadata);
    }
    return out;
  }

  // The event `recorded` holds, as its struct. Never throws: kUnknownEventType, kUnsupported or
  // kCorruption as above, naming the stream and version.
  static Result<Event> Decode(const RecordedEvent& recorded) {
    Result<Event> (*decode)(const RecordedEvent&) = nullptr;
    (void)((Ts::kType == recorded.type ? (decode = &DecodeAs<Ts>, true) : false) || ...);
    if (decode != nullptr) return decode(recorded);
    return Error::Make(ErrorCode::kUnknownEventType,
                       "stream '" + recorded.stream_id + "' version " +
                           std::to_string(recorded.version) + " has event type '" + recorded.type +
                           "', which this application does not know");
  }

  // True when `type` is the kType of one of the structs.
  static bool Knows(std::string_view type) { return ((Ts::kType == type) || ...); }

  // Calls fn(type name, current schema version) for each type.
  template <class Fn>
  static void ForEachType(Fn&& fn) {
    (fn(Ts::kType, SchemaVersionOf<Ts>()), ...);
  }

 private:
  template <class T>
  static Result<Event> DecodeAs(const RecordedEvent& recorded) {
    static_assert(StorableEvent<T>,
                  "an event struct needs `static constexpr std::string_view kType` and to_json and "
                  "from_json for nlohmann::json (evs/event_types.h)");
    auto where = [&] {
      return "stream '" + recorded.stream_id + "' version " + std::to_string(recorded.version) +
             " (" + recorded.type + ")";
    };
    auto stored_version = StoredSchemaVersion(recorded);
    if (!stored_version.ok()) return stored_version.error();
    if (*stored_version != SchemaVersionOf<T>()) {
      const bool newer = *stored_version > SchemaVersionOf<T>();
      return Error::Make(newer ? ErrorCode::kUnknownEventType : ErrorCode::kUnsupported,
                         where() + " is at schema version " + std::to_string(*stored_version) +
                             ", and this application reads version " +
                             std::to_string(SchemaVersionOf<T>()) +
                             (newer ? ": it was written by a newer release"
                                    : ": register an upcaster for it (evs/upcasting.h)"));
    }
    nlohmann::json json = nlohmann::json::parse(recorded.data, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      return Error::Make(ErrorCode::kCorruption, where() + ": data is not valid JSON");
    }
    try {
      return Event(std::in_place_type<T>, json.get<T>());
    } catch (const nlohmann::json::exception& e) {
      return Error::Make(ErrorCode::kCorruption,
                         where() + ": data does not fit the event: " + e.what());
    }
  }
};

}  // namespace evs
