#include "postgres/pg_stream_head.h"

#include <optional>

#include "postgres/pg_connection.h"

namespace evs::pg {

store::StreamHead HeadAt(const PGresult* result, int row, int first_column) {
  store::StreamHead head;
  head.version = GetInt8(result, row, first_column);
  head.deleted_through = GetInt8(result, row, first_column + 1);
  head.hard_deleted = GetInt8(result, row, first_column + 2) != 0;
  auto bound = [&](int column) -> std::optional<int64_t> {
    if (IsNull(result, row, first_column + column)) return std::nullopt;
    return GetInt8(result, row, first_column + column);
  };
  StreamMetadata metadata;
  metadata.max_count = bound(3);
  metadata.max_age_seconds = bound(4);
  metadata.truncate_before = bound(5);
  if (!IsNull(result, row, first_column + 6)) {
    metadata.custom = GetText(result, row, first_column + 6);
  }
  // As the embedded store loads it: metadata with nothing set is no metadata.
  if (metadata.max_count || metadata.max_age_seconds || metadata.truncate_before ||
      !metadata.custom.empty()) {
    head.metadata = std::make_shared<const StreamMetadata>(std::move(metadata));
  }
  return head;
}

}  // namespace evs::pg
