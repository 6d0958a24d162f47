#include "http/route_table.h"

#include <algorithm>
#include <iterator>
#include <set>

namespace evs::http {

namespace {

Error Invalid(const std::string& method, const std::string& pattern, const std::string& why) {
  return Error::Make(ErrorCode::kInvalidArgument, "route " + method + " " + pattern + ": " + why);
}

}  // namespace

Status RouteTable::Add(const std::string& method, const std::string& pattern, Handler handler) {
  if (!handler) return Invalid(method, pattern, "no handler");
  return AddMethod(method, pattern, {method, std::move(handler), nullptr});
}

Status RouteTable::AddAsync(const std::string& method, const std::string& pattern,
                            AsyncHandler handler) {
  if (!handler) return Invalid(method, pattern, "no handler");
  return AddMethod(method, pattern, {method, nullptr, std::move(handler)});
}

Status RouteTable::AddMethod(const std::string& method, const std::string& pattern,
                             Entry::Method served) {
  if (method.empty() ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return Invalid(method, pattern, "the method must be upper-case letters, like POST");
  }
  if (pattern.empty() || pattern[0] != '/') {
    return Invalid(method, pattern, "the pattern must start with '/'");
  }
  Entry parsed;
  std::set<std::string> seen;
  // "/" alone is the root: a pattern of no segments, matched by the target "/".
  for (size_t start = 1; pattern != "/" && start <= pattern.size();) {
    size_t end = pattern.find('/', start);
    if (end == std::string::npos) end = pattern.size();
    const std::string segment = pattern.substr(start, end - start);
    start = end + 1;
    if (segment.empty()) return Invalid(method, pattern, "a segment is empty");
    const bool braces = segment.find_first_of("{}") != std::string::npos;
    if (!braces) {
      parsed.segments.push_back(segment);
      parsed.names.emplace_back();
      continue;
    }
    const std::string name = segment.substr(1, segment.size() - 2);
    if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}' ||
        name.find_first_of("{}") != std::string::npos) {
      return Invalid(method, pattern,
                     "'" + segment + "': a parameter is a whole segment, like {id}");
    }
    if (!seen.insert(name).second) {
      return Invalid(method, pattern, "the parameter {" + name + "} is there twice");
    }
    parsed.segments.emplace_back();
    parsed.names.push_back(name);
  }
  // The same shape (literals in the same places, parameters named alike or not) is one entry.
  auto same_shape = [&](const Entry& e) {
    if (e.segments != parsed.segments) return false;
    for (size_t i = 0; i < e.names.size(); ++i) {
      if (e.names[i].empty() != parsed.names[i].empty()) return false;
    }
    return true;
  };
  auto it = std::find_if(entries_.begin(), entries_.end(), same_shape);
  if (it == entries_.end()) {
    parsed.pattern = pattern;
    entries_.push_back(std::move(parsed));
    it = std::prev(entries_.end());
    if (on_new_pattern_) on_new_pattern_(pattern);
  } else if (it->names != parsed.names) {
    return Invalid(method, pattern, "its parameters are named otherwise in " + it->pattern);
  }
  for (const auto& m : it->methods) {
    if (m.method == method) return Invalid(method, pattern, "it is served already");
  }
  it->methods.push_back(std::move(served));
  return OkStatus();
}

std::optional<RouteTable::Match> RouteTable::Find(const std::vector<std::string>& segments) const {
  const Entry* best = nullptr;
  for (const Entry& e : entries_) {
    if (e.segments.size() != segments.size()) continue;
    bool matches = true;
    for (size_t i = 0; matches && i < segments.size(); ++i) {
      matches = !e.names[i].empty() || e.segments[i] == segments[i];
    }
    if (!matches) continue;
    // Of two matching patterns, the one with a literal where they first differ wins.
    if (best != nullptr) {
      size_t i = 0;
      while (i < segments.size() && best->names[i].empty() == e.names[i].empty()) ++i;
      if (i == segments.size() || best->names[i].empty()) continue;
    }
    best = &e;
  }
  if (best == nullptr) return std::nullopt;
  Match match{best, {}};
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!best->names[i].empty()) match.path.emplace(best->names[i], segments[i]);
  }
  return match;
}

}  // namespace evs::http
