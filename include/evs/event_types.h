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
// Decoding never throws: an unknown type is kUnknownEventType, data that does not fit the
// struct is kCorruption, each naming the stream and version.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "evs/event.h"
#include "evs/status.h"

namespace evs {

template <class... Ts>
class EventTypes {
 public:
  using Event = std::variant<Ts...>;

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
    out.metadata = std::move(metadata);
    return out;
  }

  static Result<Event> Decode(const RecordedEvent& recorded) {
    std::optional<Result<Event>> decoded;
    (TryDecode<Ts>(recorded, decoded) || ...);
    if (decoded) return std::move(*decoded);
    return Error::Make(ErrorCode::kUnknownEventType,
                       "stream '" + recorded.stream_id + "' version " +
                           std::to_string(recorded.version) + " has event type '" + recorded.type +
                           "', which this application does not know");
  }

  static bool Knows(std::string_view type) { return ((Ts::kType == type) || ...); }

 private:
  template <class T>
  static bool TryDecode(const RecordedEvent& recorded, std::optional<Result<Event>>& out) {
    if (T::kType != recorded.type) return false;
    auto where = [&] {
      return "stream '" + recorded.stream_id + "' version " + std::to_string(recorded.version) +
             " (" + recorded.type + ")";
    };
    nlohmann::json json = nlohmann::json::parse(recorded.data, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      out.emplace(Error::Make(ErrorCode::kCorruption, where() + ": data is not valid JSON"));
      return true;
    }
    try {
      out.emplace(Event(json.get<T>()));
    } catch (const nlohmann::json::exception& e) {
      out.emplace(Error::Make(ErrorCode::kCorruption,
                              where() + ": data does not fit the event: " + e.what()));
    }
    return true;
  }
};

}  // namespace evs
