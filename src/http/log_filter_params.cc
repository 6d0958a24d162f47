#include "http/log_filter_params.h"

#include <optional>
#include <string>
#include <vector>

#include "evs/http/responses.h"

namespace evs::http {

namespace {

// A name as a problem's detail shows it: JSON-quoted, cut at 200 bytes.
std::string Shown(std::string_view name) {
  return nlohmann::json(std::string(name.substr(0, 200)))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What is wrong with a category or type name; nullopt when it is fine.
std::optional<std::string> NameProblem(std::string_view name, bool category) {
  const char* what = category ? "category" : "type";
  if (name.empty()) return std::string("an empty ") + what;
  if (name.size() > kMaxFilterNameBytes) {
    return std::string("a ") + what + " over " + std::to_string(kMaxFilterNameBytes) + " bytes";
  }
  if (category && name.find('-') != std::string_view::npos) {
    return "the category " + Shown(name) +
           ", which holds a '-' (a category is the part of a stream id before its first '-')";
  }
  return std::nullopt;
}

// The comma list of query parameter `name` into `names`; a problem when it is malformed.
std::optional<Response> ReadNames(const Params& params, const std::string& name, bool category,
                                  std::vector<std::string>& names) {
  auto it = params.query.find(name);
  if (it == params.query.end()) return std::nullopt;
  std::string_view list = it->second;
  for (size_t start = 0; start <= list.size();) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view item = list.substr(start, comma - start);
    if (auto problem = NameProblem(item, category)) {
      return Problem(400, "invalid_filter",
                     "query parameter '" + name + "' has " + *problem + "; it takes a comma list " +
                         "of names, like " + name + (category ? "=cart,order" : "=A,B"));
    }
    names.emplace_back(item);
    if (names.size() > kMaxFilterNames) {
      return Problem(400, "invalid_filter",
                     "query parameter '" + name + "' lists more than " +
                         std::to_string(kMaxFilterNames) + " names");
    }
    start = comma + 1;
  }
  return std::nullopt;
}

}  // namespace

Parsed<feed::LogFilter> LogFilterParams(const Params& params) {
  feed::LogFilter filter;
  if (auto problem = ReadNames(params, "category", true, filter.categories)) {
    return std::move(*problem);
  }
  if (auto problem = ReadNames(params, "type", false, filter.types)) return std::move(*problem);
  return filter;
}

bool IsVirtualStream(std::string_view stream_id) {
  return stream_id.starts_with(kCategoryStreamPrefix) || stream_id.starts_with(kTypeStreamPrefix);
}

Parsed<feed::LogFilter> VirtualStreamFilter(std::string_view stream_id) {
  const bool category = stream_id.starts_with(kCategoryStreamPrefix);
  const std::string_view name =
      stream_id.substr(category ? kCategoryStreamPrefix.size() : kTypeStreamPrefix.size());
  if (auto problem = NameProblem(name, category)) {
    return Problem(400, "invalid_stream_id",
                   "the virtual stream " + Shown(stream_id) + " names " + *problem +
                       "; read $ce-{category} (the streams {category}-...) or $et-{type}");
  }
  feed::LogFilter filter;
  (category ? filter.categories : filter.types).emplace_back(name);
  return filter;
}

Response ReadOnlyStream(std::string_view stream_id) {
  Response r = Problem(405, "read_only_stream",
                       "the stream " + Shown(stream_id) +
                           " is a virtual stream ($ce-{category} or $et-{type}) made of other " +
                           "streams' events; it can only be read (GET)");
  r.headers.emplace_back("Allow", "GET");
  return r;
}

}  // namespace evs::http
