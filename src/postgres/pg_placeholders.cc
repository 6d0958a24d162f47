#include "postgres/pg_placeholders.h"

#include <algorithm>
#include <cctype>

namespace evs::pg {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The end of the quoted text that starts at `at` with `quote`: past the closing quote (a
// doubled quote stays inside; with `backslashes`, so does an escaped one).
size_t QuotedEnd(std::string_view sql, size_t at, char quote, bool backslashes) {
  for (size_t i = at + 1; i < sql.size(); ++i) {
    if (backslashes && sql[i] == '\\') {
      ++i;
    } else if (sql[i] == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        ++i;
      } else {
        return i + 1;
      }
    }
  }
  return sql.size();
}

// The end of a $tag$...$tag$ string starting at `at`, or `at` when no such string starts there.
size_t DollarQuotedEnd(std::string_view sql, size_t at) {
  size_t tag_end = at + 1;
  while (tag_end < sql.size() && IsWordChar(sql[tag_end]) && !IsDigit(sql[at + 1])) ++tag_end;
  if (tag_end >= sql.size() || sql[tag_end] != '$') return at;
  const std::string_view tag = sql.substr(at, tag_end - at + 1);
  const size_t close = sql.find(tag, tag_end + 1);
  return close == std::string_view::npos ? sql.size() : close + tag.size();
}

}  // namespace

Translated TranslatePlaceholders(std::string_view sql) {
  Translated out;
  out.sql.reserve(sql.size() + 8);
  for (size_t i = 0; i < sql.size();) {
    const char c = sql[i];
    size_t end = i;
    if (c == '\'') {
      // E'...' takes backslash escapes; the E was copied as part of a word just before.
      const bool escapes =
          i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !IsWordChar(sql[i - 2]));
      end = QuotedEnd(sql, i, '\'', escapes);
    } else if (c == '"') {
      end = QuotedEnd(sql, i, '"', false);
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      end = std::min(sql.find('\n', i), sql.size());
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t close = sql.find("*/", i + 2);
      end = close == std::string_view::npos ? sql.size() : close + 2;
    } else if (c == '$' && (i == 0 || !IsWordChar(sql[i - 1]))) {
      end = DollarQuotedEnd(sql, i);
    } else if (c == '?') {
      size_t digits = i + 1;
      while (digits < sql.size() && IsDigit(sql[digits])) ++digits;
      int number = out.parameters + 1;
      // More digits than any statement has parameters are left to PostgreSQL to refuse.
      if (digits > i + 1) {
        number = 0;
        for (size_t d = i + 1; d < digits && number < 1'000'000; ++d)
          number = number * 10 + (sql[d] - '0');
      }
      out.parameters = std::max(out.parameters, number);
      out.sql += '$';
      out.sql += std::to_string(number);
      i = digits;
      continue;
    }
    if (end > i) {
      out.sql.append(sql.substr(i, end - i));
      i = end;
    } else {
      out.sql += c;
      ++i;
    }
  }
  return out;
}

}  // namespace evs::pg
