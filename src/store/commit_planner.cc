#include "store/commit_planner.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

namespace evs::store {

StreamHeads::Shard& StreamHeads::ShardFor(std::string_view stream) const {
  return shards_[StringHash{}(stream) % shards_.size()];
}

StreamHead StreamHeads::Find(std::string_view stream) const {
  Shard& shard = ShardFor(stream);
  std::shared_lock lock(shard.mu);
  auto it = shard.heads.find(stream);
  return it == shard.heads.end() ? StreamHead{} : it->second;
}

void StreamHeads::Set(std::string_view stream, StreamHead head) {
  Shard& shard = ShardFor(stream);
  std::unique_lock lock(shard.mu);
  auto it = shard.heads.find(stream);
  if (it == shard.heads.end()) {
    shard.heads.emplace(std::string(stream), head);
  } else {
    it->second = head;
  }
}

void CommitPlanner::LoadHead(std::string_view stream, StreamHead head) {
  heads_.Set(stream, head);
  next_stream_number_ = std::max(next_stream_number_, head.number + 1);
}

void CommitPlanner::LoadRecentId(const Uuid& id, std::string_view stream, int64_t version,
                                 int64_t position) {
  Remember(id, heads_.Find(stream).number, version, position);
  ForgetOldestIds();
}

void CommitPlanner::Remember(const Uuid& id, int64_t stream_number, int64_t version,
                             int64_t position) {
  if (recent_capacity_ == 0) return;
  recent_[id] = Location{stream_number, version, position};
  recent_order_.push_back(id);
}

// Only once a batch is sealed: a discarded batch must not have pushed older ids out.
void CommitPlanner::ForgetOldestIds() {
  while (recent_order_.size() > recent_capacity_) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

Error HardDeletedError(std::string_view stream) {
  return Error::Make(ErrorCode::kStreamDeleted,
                     "stream '" + std::string(stream) +
                         "' was deleted for good (a hard delete): it takes no more appends, "
                         "metadata or deletes");
}

// A soft-deleted stream reads as not found, so it matches what a missing stream matches
// (no-stream, any) and its actual version; not "exists".
bool MatchesLifecycle(const ExpectedVersion& expected, const StreamHead& head) {
  if (!head.SoftDeleted()) return expected.Matches(head.version);
  switch (expected.kind()) {
    case ExpectedVersion::Kind::kNoStream:
    case ExpectedVersion::Kind::kAny:
      return true;
    case ExpectedVersion::Kind::kExact:
      return expected.version() == head.version;
    default:
      return false;
  }
}

StreamHead CommitPlanner::Current(std::string_view stream) const {
  auto it = unsettled_heads_.find(stream);
  return it != unsettled_heads_.end() ? it->second : heads_.Find(stream);
}

namespace {

Error DuplicateIdError(const Uuid& id, int64_t position) {
  return Error::Make(ErrorCode::kDuplicateEventId,
                     "event id " + id.ToString() + " is already committed at log position " +
                         std::to_string(position) +
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

AppendDecision Fail(Error error) {
  return AppendDecision{AppendDecision::Kind::kFail, {}, std::move(error)};
}

Error ConflictError(std::string_view stream, const ExpectedVersion& expected, int64_t current,
                    std::string_view what) {
  Error conflict =
      Error::Make(ErrorCode::kWrongExpectedVersion,
                  "stream '" + std::string(stream) + "' is at version " + std::to_string(current) +
                      ", but the " + std::string(what) + " expected " + expected.ToString() +
                      "; reload it and decide again");
  conflict.conflict = VersionConflict{expected.ToString(), current};
  return conflict;
}

}  // namespace

// A retry whose ids are still remembered: the original result, or an error when the ids stand
// somewhere else. nullopt when none of the ids is known.
std::optional<AppendDecision> CommitPlanner::CheckKnownIds(
    int64_t stream_number, const ExpectedVersion& expected,
    const std::vector<EventData>& events) const {
  if (recent_.empty()) return std::nullopt;
  auto first = recent_.find(events[0].id);
  if (first == recent_.end()) {
    for (size_t i = 1; i < events.size(); ++i) {
      auto it = recent_.find(events[i].id);
      if (it != recent_.end()) return Fail(DuplicateIdError(events[i].id, it->second.position));
    }
    return std::nullopt;
  }
  const Location& start = first->second;
  auto target = TargetVersion(expected);
  bool same_place = stream_number != 0 && start.stream_number == stream_number &&
                    (!target || *target == start.version);
  const Location* last = &start;
  for (size_t i = 1; same_place && i < events.size(); ++i) {
    auto it = recent_.find(events[i].id);
    same_place = it != recent_.end() && it->second.stream_number == stream_number &&
                 it->second.version == start.version + static_cast<int64_t>(i);
    if (same_place) last = &it->second;
  }
  if (!same_place) return Fail(DuplicateIdError(events[0].id, start.position));
  AppendResult original{start.version, last->version, start.position, last->position};
  return AppendDecision{AppendDecision::Kind::kDuplicate, original, std::nullopt};
}

AppendDecision CommitPlanner::Plan(std::string_view stream, const ExpectedVersion& expected,
                                   const std::vector<EventData>& events, int64_t next_position,
                                   const IdsAtVersions& ids_at) {
  if (batch_undo_.empty()) batch_first_stream_number_ = next_stream_number_;
  const StreamHead head = Current(stream);
  if (auto known = CheckKnownIds(head.number, expected, events)) return *known;

  const int64_t current = head.version;
  const auto count = static_cast<int64_t>(events.size());
  if (head.hard_deleted) return Fail(HardDeletedError(stream));
  if (MatchesLifecycle(expected, head)) {
    AppendResult r{current + 1, current + count, next_position, next_position + count - 1};
    const bool new_stream = head.number == 0;
    StreamHead next = head;
    next.number = new_stream ? next_stream_number_++ : head.number;
    next.version = r.last_version;
    SetUnsettled(stream, next);
    for (int64_t i = 0; i < count; ++i) {
      Remember(events[i].id, next.number, r.first_version + i, r.first_position + i);
    }
    batch_ids_ += events.size();
    return AppendDecision{AppendDecision::Kind::kWrite, r, std::nullopt, next.number, new_stream};
  }

  // A retry whose ids have left the recent window: look at the versions it targets.
  if (auto target = TargetVersion(expected); target && current >= *target + count - 1) {
    auto committed = ids_at(stream, head.number, *target, events.size());
    if (!committed.ok()) return Fail(committed.error());
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
      return Fail(Error::Make(ErrorCode::kDuplicateEventId,
                              "some of the event ids are already committed in stream '" +
                                  std::string(stream) + "' from version " +
                                  std::to_string(*target) +
                                  ", but not all of them: this is not a retry of that append"));
    }
  }
  return Fail(ConflictError(stream, expected, current, "append"));
}

AppendDecision CommitPlanner::PlanChange(std::string_view stream, const ExpectedVersion& expected,
                                         const LifecycleChange& change) {
  if (batch_undo_.empty()) batch_first_stream_number_ = next_stream_number_;
  const StreamHead head = Current(stream);
  if (head.hard_deleted) return Fail(HardDeletedError(stream));
  StreamHead next = head;
  switch (change.kind) {
    case LifecycleChange::Kind::kSetMetadata:
      next.metadata = change.metadata;
      break;
    case LifecycleChange::Kind::kSoftDelete:
    case LifecycleChange::Kind::kHardDelete:
      if (change.kind == LifecycleChange::Kind::kSoftDelete &&
          (head.version == 0 || head.SoftDeleted())) {
        return Fail(Error::Make(ErrorCode::kNotFound,
                                "stream '" + std::string(stream) + "' not found" +
                                    (head.SoftDeleted() ? " (it is deleted already)" : "")));
      }
      if (!MatchesLifecycle(expected, head)) {
        return Fail(ConflictError(stream, expected, head.version, "delete"));
      }
      if (change.kind == LifecycleChange::Kind::kSoftDelete) {
        next.deleted_through = head.version;
      } else {
        next.hard_deleted = true;
      }
      break;
  }
  const bool new_stream = head.number == 0;
  if (new_stream) next.number = next_stream_number_++;
  SetUnsettled(stream, next);
  AppendDecision decision{AppendDecision::Kind::kWrite, {}, std::nullopt, next.number, new_stream};
  return decision;
}

void CommitPlanner::SetUnsettled(std::string_view stream, StreamHead next) {
  auto [it, inserted] = unsettled_heads_.try_emplace(std::string(stream), next);
  batch_undo_.emplace_back(it->first,
                           inserted ? std::nullopt : std::optional<StreamHead>(it->second));
  it->second = std::move(next);
}

BatchHeads CommitPlanner::Seal() {
  BatchHeads heads;
  heads.reserve(batch_undo_.size());
  std::unordered_set<std::string_view> seen;  // a stream changed twice is published once
  for (const auto& change : batch_undo_) {
    if (seen.insert(change.first).second) {
      heads.emplace_back(change.first, unsettled_heads_.find(change.first)->second);
    }
  }
  batch_undo_.clear();
  batch_ids_ = 0;
  ForgetOldestIds();
  return heads;
}

void CommitPlanner::Discard() {
  for (auto it = batch_undo_.rbegin(); it != batch_undo_.rend(); ++it) {
    if (it->second) {
      unsettled_heads_[it->first] = *it->second;
    } else {
      unsettled_heads_.erase(it->first);
    }
  }
  batch_undo_.clear();
  next_stream_number_ = batch_first_stream_number_;
  for (; batch_ids_ > 0 && !recent_order_.empty(); --batch_ids_) {  // the batch's own, newest
    recent_.erase(recent_order_.back());
    recent_order_.pop_back();
  }
  batch_ids_ = 0;
}

void CommitPlanner::Publish(const BatchHeads& heads) {
  for (const auto& [stream, head] : heads) heads_.Set(stream, head);
}

void CommitPlanner::Settled(const BatchHeads& heads) {
  for (const auto& [stream, head] : heads) {
    auto it = unsettled_heads_.find(stream);
    if (it != unsettled_heads_.end() && it->second == head) {
      unsettled_heads_.erase(it);
    }
  }
}

}  // namespace evs::store
