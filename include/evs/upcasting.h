// Schema evolution: stored events keep the bytes they were written with, forever; readers bring
// them to the shape the code knows ("upcasting") as they read them.
//
// Each event type has a current schema version (1 unless it says otherwise). An event records the
// version it was written at in its metadata, under kSchemaVersionKey; an event without it is at
// version 1, so events written before schema versions existed read as version 1. EventTypes::Encode
// records the version of types above 1 (event_types.h).
//
// An Upcaster, built once at start-up, knows the current version of each declared type and:
//   - steps: functions that turn the data of version n into version n+1, run in order;
//   - renames: events stored under an old type name are read under a declared type's name, at the
//     version they were stored at (the declared type's steps then apply);
//   - retirements: events of a retired type are not delivered to readers that use this upcaster
//     (their versions and positions still count: checkpoints and aggregate versions advance).
// Events of types it was not told about pass through as stored.
//
//   evs::UpcasterBuilder schemas;
//   schemas.Declare<CartEvents>()                       // ItemAdded::kSchemaVersion == 2
//       .Step("ItemAdded", 1, [](nlohmann::json& data) {
//         data["unit_price"] = {{"cents", data.value("unit_price_cents", 0)}, {"currency", "USD"}};
//         data.erase("unit_price_cents");
//         return evs::OkStatus();
//       })
//       .Rename("ItemPut", "ItemAdded")
//       .Retire("CartViewed");
//   auto upcaster = schemas.Build();  // a gap, a duplicate or a contradiction fails here
//
// Where events are read, an upcaster goes in the options: RepositoryOptions, SubscriptionOptions,
// ProjectionOptions, ReplayOptions, the Kinesis consumer and the Lambda consume function; or wrap
// any handler with NewUpcastingHandler(). An event stored at a newer version than the upcaster
// knows is kUnknownEventType naming the stream, version and type (an older binary reading a newer
// store), never a silent misread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "evs/event.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

// The metadata key that holds an event's schema version (a positive integer; absent means 1).
// Reserved: applications must not use it for anything else.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";

// The schema version an event was written at: its metadata's kSchemaVersionKey, 1 when absent.
// kCorruption (naming the stream and version) when the metadata is not JSON or the value is not an
// integer in [1, 2^31).
Result<int> StoredSchemaVersion(const RecordedEvent& event);

// Returns `metadata` (JSON text of an object) with kSchemaVersionKey set to `version`.
// kInvalidArgument when `metadata` is not a JSON object.
Result<std::string> WithSchemaVersion(const std::string& metadata, int version);

// The current schema version of an event struct: its `static constexpr int kSchemaVersion`, or 1
// when it declares none.
template <class T>
constexpr int SchemaVersionOf() {
  if constexpr (requires { T::kSchemaVersion; }) {
    return T::kSchemaVersion;
  } else {
    return 1;
  }
}

// Turns an event's data from one schema version to the next, in place. An error stops the read
// with the error (the event is not delivered); the stored event stays as it is.
using UpcastStep = std::function<Status(nlohmann::json& data)>;

// Brings stored events to their types' current shapes (see above). Made by
// UpcasterBuilder::Build() and immutable from then on, so one can be shared by every reader and
// thread.
class Upcaster {
 public:
  // What Upcast() did to an event.
  enum class Outcome {
    kAsStored,  // delivered as stored: already current, or a type the upcaster does not know
    kUpcast,    // renamed and/or stepped; metadata now records the current version
    kRetired,   // a retired type: not to be delivered
  };

  // Brings `event` to its type's current shape in place: renames its type, runs the steps from
  // its stored version (its data is rewritten as JSON text, its metadata records the current
  // version), or says it is retired. Errors: kUnknownEventType for a version newer than the
  // current one; kCorruption for data that is not JSON or a bad recorded version; a step's error,
  // with the stream, version and step named. Safe to call from any number of threads.
  Result<Outcome> Upcast(RecordedEvent& event) const;

  // Like Upcast(), without copying an event that needs nothing: `stored` itself, or `scratch`
  // holding the upcast copy, or null for a retired event.
  Result<const RecordedEvent*> UpcastOrKeep(const RecordedEvent& stored,
                                            RecordedEvent& scratch) const;

  // Upcasts every event of `events` in place and removes the retired ones. Stops at the first
  // error.
  Status UpcastAll(std::vector<RecordedEvent>& events) const;

  // The current version of a declared type; 0 for a type the upcaster does not declare.
  int CurrentVersion(std::string_view type) const;

 private:
  friend class UpcasterBuilder;
  struct TypeSchema {
    int current = 1;
    std::vector<UpcastStep> steps;  // steps[n - 1] turns version n into n + 1
  };
  struct Plan {
    Outcome outcome = Outcome::kAsStored;
    const std::string* rename_to = nullptr;
    const TypeSchema* schema = nullptr;  // set when steps are to run, from `from_version`
    int from_version = 0;
  };
  Result<Plan> PlanFor(const RecordedEvent& event) const;
  Status Carry(const Plan& plan, RecordedEvent& event) const;

  std::map<std::string, TypeSchema, std::less<>> types_;
  std::map<std::string, std::string, std::less<>> renames_;  // old name -> declared name
  std::set<std::string, std::less<>> retired_;
};

// Collects the registration; Build() checks it as a whole.
class UpcasterBuilder {
 public:
  // Declares `type` at schema version `current_version` (>= 1).
  UpcasterBuilder& Declare(std::string type, int current_version);
  // Declares every type of an evs::EventTypes<...> at SchemaVersionOf<T>().
  template <class Types>
  UpcasterBuilder& Declare() {
    Types::ForEachType(
        [this](std::string_view type, int version) { Declare(std::string(type), version); });
    return *this;
  }
  // Registers the step that turns `type`'s data of version `from_version` into from_version + 1.
  UpcasterBuilder& Step(std::string type, int from_version, UpcastStep step);
  // Events stored as `old_type` are read as `new_type`, which must be declared.
  UpcasterBuilder& Rename(std::string old_type, std::string new_type);
  // Events of `type` are not delivered (see above).
  UpcasterBuilder& Retire(std::string type);

  // The checked upcaster, or kInvalidArgument listing every problem: a type declared twice or at
  // a version below 1; a declared version above 1 with a step missing (a gap in the chain); two
  // steps for one version; a step for an undeclared type or at or past its current version; a
  // rename from a declared or retired type, to an undeclared one, or of one name twice; a
  // retired type that is declared.
  Result<std::shared_ptr<const Upcaster>> Build() const;

 private:
  struct StepEntry {
    std::string type;
    int from_version;
    UpcastStep step;
  };
  std::vector<std::pair<std::string, int>> declared_;
  std::vector<StepEntry> steps_;
  std::vector<std::pair<std::string, std::string>> renames_;
  std::vector<std::string> retired_;
};

// A handler that upcasts each batch (a copy) with `upcaster` and hands the result, without the
// retired events, to `next` (not called for a batch left empty). An upcast error is returned as
// the handler's error, so the feed retries or parks as for any failing event. `next` must outlive
// it; a null upcaster hands batches on unchanged.
std::unique_ptr<EventHandler> NewUpcastingHandler(std::shared_ptr<const Upcaster> upcaster,
                                                  EventHandler& next);

}  // namespace evs
