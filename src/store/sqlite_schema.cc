#include "store/sqlite_schema.h"

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

}  // namespace evs::store
