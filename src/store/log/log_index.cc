#include "store/log/log_index.h"

#include <algorithm>
#include <mutex>

namespace evs::store::log {

void LogIndex::MaybeMark(int64_t first_position, RecordLocation where) {
  if (marks_.empty() || where.segment != last_mark_.segment ||
      where.offset >= last_mark_.offset + kMarkBytes) {
    // Positions never go back, but a lifecycle record shares its position with the next commit:
    // only the first record of a position is marked.
    if (!marks_.empty() && marks_.back().first_position == first_position) return;
    marks_.push_back(Mark{first_position, PackLocation(where)});
    last_mark_ = where;
  }
}

std::vector<StreamCommit>* LogIndex::Slot(std::string_view stream) {
  if (auto it = by_id_.find(stream); it != by_id_.end()) return it->second;
  auto made = streams_.emplace(std::string(stream), 0).first;
  by_id_.emplace(std::string_view(made->first), &made->second);
  return &made->second;
}

const std::vector<StreamCommit>* LogIndex::Find(std::string_view stream) const {
  auto it = by_id_.find(stream);
  return it == by_id_.end() ? nullptr : it->second;
}

void LogIndex::Relocate(uint32_t segment, const std::vector<std::pair<uint64_t, uint64_t>>& moved,
                        const std::vector<std::string>& streams) {
  auto relocated = [&](uint64_t& packed) {
    const RecordLocation where = UnpackLocation(packed);
    if (where.segment != segment) return;
    auto it =
        std::lower_bound(moved.begin(), moved.end(), std::make_pair(where.offset, uint64_t{0}));
    if (it != moved.end() && it->first == where.offset) {
      packed = PackLocation(RecordLocation{segment, it->second});
    }
  };
  std::unique_lock lock(mu_);
  for (const std::string& stream : streams) {
    auto it = by_id_.find(stream);
    if (it == by_id_.end()) continue;
    for (StreamCommit& c : *it->second) relocated(c.packed);
  }
  // Marks are in log order: those of the segment are one run.
  const uint64_t from = PackLocation(RecordLocation{segment, 0});
  const uint64_t to = PackLocation(RecordLocation{segment + 1, 0});
  auto first = std::lower_bound(marks_.begin(), marks_.end(), from,
                                [](const Mark& m, uint64_t p) { return m.packed < p; });
  for (auto m = first; m != marks_.end() && m->packed < to; ++m) relocated(m->packed);
  if (last_mark_.segment == segment) {
    uint64_t packed = PackLocation(last_mark_);
    relocated(packed);
    last_mark_ = UnpackLocation(packed);
  }
  relocations_.fetch_add(1, std::memory_order_acq_rel);
}

void LogIndex::AddCommit(std::string_view stream, int64_t first_version, int64_t first_position,
                         RecordLocation where) {
  std::unique_lock lock(mu_);
  Slot(stream)->push_back(StreamCommit{first_version, PackLocation(where)});
  MaybeMark(first_position, where);
}

std::vector<StreamCommit>* LogIndex::StreamSlot(std::string_view stream) {
  std::unique_lock lock(mu_);
  return Slot(stream);
}

void LogIndex::AddCommitTo(std::vector<StreamCommit>* slot, int64_t first_version,
                           int64_t first_position, RecordLocation where) {
  std::unique_lock lock(mu_);
  slot->push_back(StreamCommit{first_version, PackLocation(where)});
  MaybeMark(first_position, where);
}

void LogIndex::AddRecord(std::string_view stream, int64_t first_position, RecordLocation where) {
  std::unique_lock lock(mu_);
  // A stream with metadata and no events yet is a stream of the index all the same.
  (void)Slot(stream);
  MaybeMark(first_position, where);
}

void LogIndex::Visit(
    const std::function<void(const std::string&, const std::vector<StreamCommit>&)>& stream,
    const std::function<void(const Mark&)>& mark) const {
  std::shared_lock lock(mu_);
  for (const auto& [id, commits] : streams_) stream(id, commits);
  for (const Mark& m : marks_) mark(m);
}

void LogIndex::Load(StreamMap streams, std::vector<Mark> marks) {
  std::unique_lock lock(mu_);
  streams_ = std::move(streams);
  by_id_.clear();
  by_id_.reserve(streams_.size());
  for (auto& [id, commits] : streams_) by_id_.emplace(std::string_view(id), &commits);
  marks_ = std::move(marks);
  last_mark_ = marks_.empty() ? RecordLocation{} : UnpackLocation(marks_.back().packed);
}

std::vector<StreamCommit> LogIndex::CommitsOf(std::string_view stream, int64_t from,
                                              int64_t to) const {
  std::vector<StreamCommit> out;
  std::shared_lock lock(mu_);
  const std::vector<StreamCommit>* found = Find(stream);
  if (!found || from > to) return out;
  const auto& commits = *found;
  auto first =
      std::upper_bound(commits.begin(), commits.end(), from,
                       [](int64_t v, const StreamCommit& c) { return v < c.first_version; });
  if (first != commits.begin()) --first;
  for (auto c = first; c != commits.end() && c->first_version <= to; ++c) out.push_back(*c);
  return out;
}

std::optional<std::pair<int64_t, RecordLocation>> LogIndex::MarkBefore(int64_t position) const {
  std::shared_lock lock(mu_);
  if (marks_.empty()) return std::nullopt;
  auto it = std::upper_bound(marks_.begin(), marks_.end(), position,
                             [](int64_t p, const Mark& m) { return p < m.first_position; });
  if (it != marks_.begin()) --it;
  return std::make_pair(it->first_position, UnpackLocation(it->packed));
}

std::vector<std::string> LogIndex::StreamsAfter(std::string_view after, size_t limit) const {
  std::vector<std::string> out;
  std::shared_lock lock(mu_);
  for (auto it = streams_.upper_bound(after); it != streams_.end() && out.size() < limit; ++it) {
    out.push_back(it->first);
  }
  return out;
}

size_t LogIndex::StreamCount() const {
  std::shared_lock lock(mu_);
  return streams_.size();
}

}  // namespace evs::store::log
