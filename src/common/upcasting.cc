#include "evs/upcasting.h"

#include <charconv>
#include <climits>
#include <optional>
#include <string_view>
#include <utility>

#include "evs/event_store.h"

namespace evs {
namespace {

std::string Where(const RecordedEvent& event) {
  return "stream '" + event.stream_id + "' version " + std::to_string(event.version) + " (" +
         event.type + ")";
}

// The key as it appears in JSON text; metadata without it is at version 1 and is not parsed.
const std::string& QuotedKey() {
  static const std::string key = "\"" + std::string(kSchemaVersionKey) + "\"";
  return key;
}

// The version from metadata that holds nothing else, as Encode writes it on "{}": read without
// a JSON parse, as every event of a current type carries it.
std::optional<int> OnlyTheVersion(std::string_view metadata) {
  static const std::string prefix = "{" + QuotedKey() + ":";
  if (metadata.size() <= prefix.size() + 1 || !metadata.starts_with(prefix) ||
      metadata.back() != '}') {
    return std::nullopt;
  }
  const char* first = metadata.data() + prefix.size();
  const char* last = metadata.data() + metadata.size() - 1;
  int version = 0;
  auto [end, error] = std::from_chars(first, last, version);
  if (error != std::errc() || end != last || version < 1 || *first == '0') return std::nullopt;
  return version;
}

}  // namespace

Result<int> StoredSchemaVersion(const RecordedEvent& event) {
  if (event.metadata.find(QuotedKey()) == std::string::npos) return 1;
  if (auto version = OnlyTheVersion(event.metadata)) return *version;
  nlohmann::json metadata = nlohmann::json::parse(event.metadata, nullptr, false);
  if (metadata.is_discarded() || !metadata.is_object()) {
    return Error::Make(ErrorCode::kCorruption, Where(event) + ": metadata is not a JSON object");
  }
  auto it = metadata.find(kSchemaVersionKey);
  if (it == metadata.end()) return 1;  // the key was nested deeper, not the top-level one
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > INT_MAX) {
    return Error::Make(ErrorCode::kCorruption, Where(event) + ": metadata's " +
                                                   std::string(kSchemaVersionKey) + " is " +
                                                   it->dump() + ", not a version from 1");
  }
  return static_cast<int>(it->get<int64_t>());
}

Result<std::string> WithSchemaVersion(const std::string& metadata, int version) {
  if (metadata.empty() || metadata == "{}") {
    return "{\"" + std::string(kSchemaVersionKey) + "\":" + std::to_string(version) + "}";
  }
  nlohmann::json json = nlohmann::json::parse(metadata, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Error::Make(ErrorCode::kInvalidArgument, "metadata is not a JSON object: " + metadata);
  }
  json[std::string(kSchemaVersionKey)] = version;
  return json.dump();
}

// What reading `event` takes: nothing, a retirement, or a rename and/or steps. Looks only.
Result<Upcaster::Plan> Upcaster::PlanFor(const RecordedEvent& event) const {
  Plan plan;
  // A scavenged event's marker is no event of the application's: never delivered upcast.
  if (event.type == kScavengedEventType || retired_.find(event.type) != retired_.end()) {
    plan.outcome = Outcome::kRetired;
    return plan;
  }
  auto rename = renames_.find(event.type);
  if (rename != renames_.end()) plan.rename_to = &rename->second;
  auto schema = types_.find(plan.rename_to ? *plan.rename_to : event.type);
  if (schema == types_.end()) return plan;  // not declared: nothing to check
  auto stored = StoredSchemaVersion(event);
  if (!stored.ok()) return stored.error();
  const int current = schema->second.current;
  if (*stored > current) {
    return Error::Make(ErrorCode::kUnknownEventType,
                       Where(event) + " is at schema version " + std::to_string(*stored) +
                           ", newer than this application knows (" + std::to_string(current) +
                           "): it was written by a newer release");
  }
  if (*stored < current) {
    plan.schema = &schema->second;
    plan.from_version = *stored;
  }
  if (plan.rename_to || plan.schema) plan.outcome = Outcome::kUpcast;
  return plan;
}

Status Upcaster::Carry(const Plan& plan, RecordedEvent& event) const {
  if (plan.schema) {
    nlohmann::json data = nlohmann::json::parse(event.data, nullptr, false);
    if (data.is_discarded()) {
      return Error::Make(ErrorCode::kCorruption, Where(event) + ": data is not valid JSON");
    }
    const int current = plan.schema->current;
    for (int version = plan.from_version; version < current; ++version) {
      Status step = OkStatus();
      try {
        step = plan.schema->steps[version - 1](data);
      } catch (const std::exception& e) {
        step = Error::Make(ErrorCode::kCorruption, e.what());
      }
      if (!step.ok()) {
        Error error = step.error();
        error.message = Where(event) + ": the upcast from schema version " +
                        std::to_string(version) + " to " + std::to_string(version + 1) +
                        " failed: " + error.message;
        return error;
      }
    }
    auto metadata = WithSchemaVersion(event.metadata, current);
    if (!metadata.ok()) {
      return Error::Make(ErrorCode::kCorruption, Where(event) + ": " + metadata.error().message);
    }
    event.data = data.dump();
    event.metadata = std::move(metadata).value();
  }
  if (plan.rename_to) event.type = *plan.rename_to;
  return OkStatus();
}

Result<Upcaster::Outcome> Upcaster::Upcast(RecordedEvent& event) const {
  auto plan = PlanFor(event);
  if (!plan.ok()) return plan.error();
  if (plan->outcome == Outcome::kUpcast) {
    if (Status s = Carry(*plan, event); !s.ok()) return s.error();
  }
  return plan->outcome;
}

Result<const RecordedEvent*> Upcaster::UpcastOrKeep(const RecordedEvent& stored,
                                                    RecordedEvent& scratch) const {
  auto plan = PlanFor(stored);
  if (!plan.ok()) return plan.error();
  switch (plan->outcome) {
    case Outcome::kAsStored:
      return &stored;
    case Outcome::kRetired:
      return static_cast<const RecordedEvent*>(nullptr);
    case Outcome::kUpcast:
      break;
  }
  scratch = stored;
  if (Status s = Carry(*plan, scratch); !s.ok()) return s.error();
  return &scratch;
}

Status Upcaster::UpcastAll(std::vector<RecordedEvent>& events) const {
  size_t kept = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    auto outcome = Upcast(events[i]);
    if (!outcome.ok()) return outcome.error();
    if (*outcome == Outcome::kRetired) continue;
    if (kept != i) events[kept] = std::move(events[i]);
    ++kept;
  }
  events.resize(kept);
  return OkStatus();
}

int Upcaster::CurrentVersion(std::string_view type) const {
  auto it = types_.find(type);
  return it == types_.end() ? 0 : it->second.current;
}

UpcasterBuilder& UpcasterBuilder::Declare(std::string type, int current_version) {
  declared_.emplace_back(std::move(type), current_version);
  return *this;
}

UpcasterBuilder& UpcasterBuilder::Step(std::string type, int from_version, UpcastStep step) {
  steps_.push_back({std::move(type), from_version, std::move(step)});
  return *this;
}

UpcasterBuilder& UpcasterBuilder::Rename(std::string old_type, std::string new_type) {
  renames_.emplace_back(std::move(old_type), std::move(new_type));
  return *this;
}

UpcasterBuilder& UpcasterBuilder::Retire(std::string type) {
  retired_.push_back(std::move(type));
  return *this;
}

Result<std::shared_ptr<const Upcaster>> UpcasterBuilder::Build() const {
  auto upcaster = std::make_shared<Upcaster>();
  std::vector<std::string> problems;
  for (const auto& [type, version] : declared_) {
    if (type.empty()) {
      problems.push_back("an event type with an empty name is declared");
    } else if (version < 1) {
      problems.push_back("'" + type + "' is declared at schema version " + std::to_string(version) +
                         "; versions start at 1");
    } else if (!upcaster->types_.emplace(type, Upcaster::TypeSchema{version, {}}).second) {
      problems.push_back("'" + type + "' is declared twice");
    } else {
      upcaster->types_[type].steps.resize(static_cast<size_t>(version - 1));
    }
  }
  for (const StepEntry& entry : steps_) {
    auto schema = upcaster->types_.find(entry.type);
    if (schema == upcaster->types_.end()) {
      problems.push_back("a step from version " + std::to_string(entry.from_version) + " of '" +
                         entry.type + "', which is not declared");
    } else if (entry.from_version < 1 || entry.from_version >= schema->second.current) {
      problems.push_back("a step from version " + std::to_string(entry.from_version) + " of '" +
                         entry.type + "', whose versions run from 1 to " +
                         std::to_string(schema->second.current));
    } else if (!entry.step) {
      problems.push_back("the step from version " + std::to_string(entry.from_version) + " of '" +
                         entry.type + "' is empty");
    } else if (schema->second.steps[entry.from_version - 1]) {
      problems.push_back("two steps from version " + std::to_string(entry.from_version) + " of '" +
                         entry.type + "'");
    } else {
      schema->second.steps[entry.from_version - 1] = entry.step;
    }
  }
  for (const auto& [type, schema] : upcaster->types_) {
    for (size_t i = 0; i < schema.steps.size(); ++i) {
      if (!schema.steps[i]) {
        problems.push_back("'" + type + "' is at schema version " + std::to_string(schema.current) +
                           " but has no step from version " + std::to_string(i + 1) + " to " +
                           std::to_string(i + 2));
      }
    }
  }
  for (const std::string& type : retired_) {
    if (upcaster->types_.count(type) > 0) {
      problems.push_back("'" + type + "' is both retired and declared");
    } else if (!upcaster->retired_.insert(type).second) {
      problems.push_back("'" + type + "' is retired twice");
    }
  }
  for (const auto& [old_type, new_type] : renames_) {
    if (upcaster->types_.count(old_type) > 0) {
      problems.push_back("'" + old_type + "' is both renamed (to '" + new_type + "') and declared");
    } else if (upcaster->retired_.count(old_type) > 0) {
      problems.push_back("'" + old_type + "' is both renamed (to '" + new_type + "') and retired");
    } else if (upcaster->types_.count(new_type) == 0) {
      problems.push_back("'" + old_type + "' is renamed to '" + new_type +
                         "', which is not declared");
    } else if (!upcaster->renames_.emplace(old_type, new_type).second) {
      problems.push_back("'" + old_type + "' is renamed twice");
    }
  }
  if (!problems.empty()) {
    std::string message = "the event schemas do not check out: ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    return Error::Make(ErrorCode::kInvalidArgument, message);
  }
  return std::shared_ptr<const Upcaster>(std::move(upcaster));
}

namespace {

class UpcastingHandler : public EventHandler {
 public:
  UpcastingHandler(std::shared_ptr<const Upcaster> upcaster, EventHandler& next)
      : upcaster_(std::move(upcaster)), next_(next) {}

  // Batches that need nothing are handed on as they are; the first event that needs work
  // starts a copy.
  Status Handle(std::span<const RecordedEvent> batch) override {
    if (!upcaster_) return next_.Handle(batch);
    bool copying = false;
    RecordedEvent scratch;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto event = upcaster_->UpcastOrKeep(batch[i], scratch);
      if (!event.ok()) return event.error();
      if (!copying && *event == &batch[i]) continue;
      if (!copying) {
        copying = true;
        copy_.assign(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i));
      }
      if (*event == &batch[i]) {
        copy_.push_back(batch[i]);
      } else if (*event != nullptr) {
        copy_.push_back(std::move(scratch));
      }
    }
    if (!copying) return next_.Handle(batch);
    if (copy_.empty()) return OkStatus();
    return next_.Handle(copy_);
  }

 private:
  std::shared_ptr<const Upcaster> upcaster_;
  EventHandler& next_;
  std::vector<RecordedEvent> copy_;
};

}  // namespace

std::unique_ptr<EventHandler> NewUpcastingHandler(std::shared_ptr<const Upcaster> upcaster,
                                                  EventHandler& next) {
  return std::make_unique<UpcastingHandler>(std::move(upcaster), next);
}

}  // namespace evs
