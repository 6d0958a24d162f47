#include "store/commit_planner.h"

#include <mutex>

namespace evs::store {

StreamHeads::Shard& StreamHeads::ShardFor(std::string_view stream) const {
  return shards_[StringHash{}(stream) % shards_.size()];
}

int64_t StreamHeads::Get(std::string_view stream) const {
  Shard& shard = ShardFor(stream);
  std::shared_lock lock(shard.mu);
  auto it = shard.versions.find(stream);
  return it == shard.versions.end() ? 0 : it->second;
}

void StreamHeads::Set(std::string_view stream, int64_t version) {
  Shard& shard = ShardFor(stream);
  std::unique_lock lock(shard.mu);
  auto it = shard.versions.find(stream);
  if (it == shard.versions.end()) {
    shard.versions.emplace(std::string(stream), version);
  } else {
    it->second = version;
  }
}

void CommitPlanner::LoadRecentId(const Uuid& id, std::string_view stream, int64_t version,
                                 int64_t position) {
  Remember(id, stream, version, position);
}

void CommitPlanner::Remember(const Uuid& id, std::string_view stream, int64_t version,
                             int64_t position) {
  if (recent_capacity_ == 0) return;
  recent_[id] = Location{std::string(stream), version, position};
  recent_order_.push_back(id);
  while (recent_order_.size() > recent_capacity_) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

int64_t CommitPlanner::Current(std::string_view stream) const {
  auto it = tentative_heads_.find(stream);
  return it != tentative_heads_.end() ? it->second : heads_.Get(stream);
}

namespace {

Error DuplicateIdError(const Uuid& id, const std::string& stream, int64_t version) {
  return Error::Make(ErrorCode::kDuplicateEventId,
                     "event id " + id.ToString() + " is already committed in stream '" + stream +
                         "' at version " + std::to_string(version) +
                         "; a retry must resend the same events with the same expected version");
}

// The first version an expectation targets, when it names one.
std::optional<int64_t> TargetVersion(const ExpectedVersion& expected) {
  switch (expected.kind()) {
    case ExpectedVersion::Kind::kNoStream:
      return 1;
    case ExpectedVersion::Kind::kExact:
      return expected.version() + 1;
    default:
      return std::nullopt;
  }
}

}  // namespace

// A retry whose ids are still remembered: the original result, or an error when the ids stand
// somewhere else. nullopt when none of the ids is known.
std::optional<AppendDecision> CommitPlanner::CheckKnownIds(
    std::string_view stream, const ExpectedVersion& expected,
    const std::vector<EventData>& events) const {
  auto first = recent_.find(events[0].id);
  if (first == recent_.end()) {
    for (size_t i = 1; i < events.size(); ++i) {
      auto it = recent_.find(events[i].id);
      if (it != recent_.end()) {
        return AppendDecision{
            AppendDecision::Kind::kFail,
            {},
            DuplicateIdError(events[i].id, it->second.stream, it->second.version)};
      }
    }
    return std::nullopt;
  }
  const Location& start = first->second;
  auto target = TargetVersion(expected);
  bool same_place = start.stream == stream && (!target || *target == start.version);
  const Location* last = &start;
  for (size_t i = 1; same_place && i < events.size(); ++i) {
    auto it = recent_.find(events[i].id);
    same_place = it != recent_.end() && it->second.stream == stream &&
                 it->second.version == start.version + static_cast<int64_t>(i);
    if (same_place) last = &it->second;
  }
  if (!same_place) {
    return AppendDecision{AppendDecision::Kind::kFail,
                          {},
                          DuplicateIdError(events[0].id, start.stream, start.version)};
  }
  AppendResult original{start.version, last->version, start.position, last->position};
  return AppendDecision{AppendDecision::Kind::kDuplicate, original, std::nullopt};
}

AppendDecision CommitPlanner::Plan(std::string_view stream, const ExpectedVersion& expected,
                                   const std::vector<EventData>& events, int64_t next_position,
                                   const IdsAtVersions& ids_at) {
  if (auto known = CheckKnownIds(stream, expected, events)) return *known;

  const int64_t current = Current(stream);
  const auto count = static_cast<int64_t>(events.size());
  if (expected.Matches(current)) {
    AppendResult r{current + 1, current + count, next_position, next_position + count - 1};
    tentative_heads_[std::string(stream)] = r.last_version;
    for (int64_t i = 0; i < count; ++i) {
      Remember(events[i].id, stream, r.first_version + i, r.first_position + i);
    }
    tentative_ids_ += events.size();
    return AppendDecision{AppendDecision::Kind::kWrite, r, std::nullopt};
  }

  // A retry whose ids have left the recent window: look at the versions it targets.
  if (auto target = TargetVersion(expected); target && current >= *target + count - 1) {
    auto committed = ids_at(stream, *target, events.size());
    if (!committed.ok()) return AppendDecision{AppendDecision::Kind::kFail, {}, committed.error()};
    size_t matching = 0;
    for (size_t i = 0; i < committed->size() && i < events.size(); ++i) {
      if ((*committed)[i].id == events[i].id) ++matching;
    }
    if (matching == events.size()) {
      AppendResult original{*target, *target + count - 1, committed->front().position,
                            committed->back().position};
      return AppendDecision{AppendDecision::Kind::kDuplicate, original, std::nullopt};
    }
    if (matching > 0) {
      return AppendDecision{
          AppendDecision::Kind::kFail,
          {},
          Error::Make(ErrorCode::kDuplicateEventId,
                      "some of the event ids are already committed in stream '" +
                          std::string(stream) + "' from version " + std::to_string(*target) +
                          ", but not all of them: this is not a retry of that append")};
    }
  }
  Error conflict = Error::Make(ErrorCode::kWrongExpectedVersion,
                               "stream '" + std::string(stream) + "' is at version " +
                                   std::to_string(current) + ", but the append expected " +
                                   expected.ToString() + "; reload it and decide again");
  conflict.conflict = VersionConflict{expected.ToString(), current};
  return AppendDecision{AppendDecision::Kind::kFail, {}, std::move(conflict)};
}

void CommitPlanner::Publish() {
  for (auto& [stream, version] : tentative_heads_) heads_.Set(stream, version);
  tentative_heads_.clear();
  tentative_ids_ = 0;
}

void CommitPlanner::Discard() {
  tentative_heads_.clear();
  for (; tentative_ids_ > 0 && !recent_order_.empty(); --tentative_ids_) {
    recent_.erase(recent_order_.back());
    recent_order_.pop_back();
  }
  tentative_ids_ = 0;
}

}  // namespace evs::store
