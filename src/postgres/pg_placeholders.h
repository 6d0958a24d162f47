// Portable SQL's parameters (SQLite's ? and ?N) as PostgreSQL's ($N), so that a projection's
// statements run on either database (evs/read_model.h).
#pragma once

#include <string>
#include <string_view>

namespace evs::pg {

struct Translated {
  std::string sql;     // with $N for every ? and ?N
  int parameters = 0;  // the largest N: how many values the statement takes
};

// Numbers as SQLite does: ?N is $N, and a bare ? is one more than the largest number before it
// (so "?, ?" is $1, $2 and "?2, ?" is $2, $3). Question marks inside string literals ('...',
// E'...' and $tag$...$tag$), quoted identifiers ("...") and comments (-- and /* */) are left
// as they are.
Translated TranslatePlaceholders(std::string_view sql);

}  // namespace evs::pg
