#include "store/sqlite_schema.h"

#include <algorithm>

namespace evs::store {

Result<std::vector<RecordedEvent>> ReadEvents(Statement& stmt, std::string_view stream_id,
                                              size_t expected_rows) {
  std::vector<RecordedEvent> events;
  events.reserve(expected_rows);
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    RecordedEvent& e = events.emplace_back();
    e.position = stmt.Int(0);
    e.stream_id = stream_id.empty() ? std::string(stmt.Text(1)) : std::string(stream_id);
    e.version = stmt.Int(2);
    auto id = Uuid::Parse(stmt.Text(3));
    if (!id) {
      Error error = Error::Make(ErrorCode::kCorruption,
                                "event at position " + std::to_string(e.position) +
                                    " has a malformed id '" + std::string(stmt.Text(3)) + "'");
      stmt.Reset();
      return error;
    }
    e.id = *id;
    e.type = std::string(stmt.Text(4));
    e.data = std::string(stmt.Text(5));
    e.metadata = std::string(stmt.Text(6));
    e.recorded_at_us = stmt.Int(7);
  }
  if (rc != SQLITE_DONE) {
    Error error = stmt.LastError("reading events");
    stmt.Reset();
    return error;
  }
  stmt.Reset();
  return events;
}

Result<StreamPage> ReadStreamPage(Statement& forward_stmt, Statement& backward_stmt,
                                  std::string_view stream_id, int64_t stream_number,
                                  int64_t stream_version, const ReadStreamOptions& options,
                                  int64_t first_visible, int64_t age_cutoff_us) {
  StreamPage page;
  page.stream_version = stream_version;
  const bool forward = options.direction == Direction::kForward;
  int64_t low = first_visible, high = stream_version;
  if (forward) low = std::max(low, options.from);
  if (!forward && options.from > 0) high = std::min(high, options.from);
  Statement& stmt = forward ? forward_stmt : backward_stmt;
  stmt.Bind(1, stream_number);
  stmt.Bind(2, low);
  stmt.Bind(3, high);  // nothing past the version the caller knows to be durable
  stmt.Bind(4, age_cutoff_us);
  stmt.Bind(5, static_cast<int64_t>(options.limit));
  const int64_t available = high - low + 1;
  auto events =
      ReadEvents(stmt, stream_id,
                 std::min(options.limit, static_cast<size_t>(std::max<int64_t>(available, 0))));
  if (!events) return events.error();
  page.events = std::move(events).value();
  page.end_of_stream =
      page.events.empty() || page.events.size() < options.limit ||
      (forward ? page.events.back().version >= high : page.events.back().version <= low);
  return page;
}

void LoadLifecycle(Statement& stmt, int first_column, StreamHead& head) {
  auto bound = [&](int column) -> std::optional<int64_t> {
    if (stmt.IsNull(first_column + column)) return std::nullopt;
    return stmt.Int(first_column + column);
  };
  StreamMetadata metadata;
  metadata.max_count = bound(0);
  metadata.max_age_seconds = bound(1);
  metadata.truncate_before = bound(2);
  if (!stmt.IsNull(first_column + 3)) metadata.custom = std::string(stmt.Text(first_column + 3));
  head.deleted_through = stmt.IsNull(first_column + 4) ? 0 : stmt.Int(first_column + 4);
  head.hard_deleted = !stmt.IsNull(first_column + 5) && stmt.Int(first_column + 5) != 0;
  if (metadata.max_count || metadata.max_age_seconds || metadata.truncate_before ||
      !metadata.custom.empty()) {
    head.metadata = std::make_shared<const StreamMetadata>(std::move(metadata));
  }
}

}  // namespace evs::store
