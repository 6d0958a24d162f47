// The Api's routes (evs/http/routes.h): patterns, their methods and handlers, and the match of a
// request's path segments against them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evs/http/routes.h"

namespace evs::http {

class RouteTable final : public Routes {
 public:
  // One pattern and the handlers of its methods, in the order added.
  struct Entry {
    std::string pattern;                // as first added, e.g. "/tickets/{id}"; the metrics label
    std::vector<std::string> segments;  // literals; "" where a parameter is
    std::vector<std::string> names;     // each segment's parameter name; "" for a literal
    // Each method with its handler: exactly one of the two is set.
    struct Method {
      std::string method;
      Handler handler;
      AsyncHandler async_handler;
    };
    std::vector<Method> methods;
  };
  struct Match {
    const Entry* entry = nullptr;
    std::map<std::string, std::string> path;  // the parameters
  };

  // Called with each new pattern (the metrics label it needs).
  explicit RouteTable(std::function<void(const std::string& pattern)> on_new_pattern)
      : on_new_pattern_(std::move(on_new_pattern)) {}

  Status Add(const std::string& method, const std::string& pattern, Handler handler) override;
  Status AddAsync(const std::string& method, const std::string& pattern,
                  AsyncHandler handler) override;

  // Every pattern with its methods, in the order first added.
  const std::vector<Entry>& entries() const { return entries_; }

  // The most specific entry whose pattern matches `segments` (decoded); nullopt when none does.
  std::optional<Match> Find(const std::vector<std::string>& segments) const;

 private:
  Status AddMethod(const std::string& method, const std::string& pattern, Entry::Method served);

  std::function<void(const std::string&)> on_new_pattern_;
  std::vector<Entry> entries_;
};

}  // namespace evs::http
