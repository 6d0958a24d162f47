#include "http/metrics.h"

#include <cstdio>

namespace evs::http {

namespace {

std::string Number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

// One histogram's _bucket, _sum and _count lines; `labels` is empty or `key="value",`.
void RenderHistogram(std::string& out, const std::string& name, const std::string& labels,
                     const HistogramSnapshot& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    std::string le = i < h.upper_bounds.size() ? Number(h.upper_bounds[i]) : "+Inf";
    out += name + "_bucket{" + labels + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  out += name + "_sum" + plain + " " + Number(h.sum) + "\n";
  out += name + "_count" + plain + " " + std::to_string(h.count) + "\n";
}

void Header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Metrics::Metrics() { AddRoute("other"); }

void Metrics::AddRoute(const std::string& route) {
  latency_.emplace(route, std::make_unique<Histogram>(Histogram::LatencyBounds()));
}

Histogram& Metrics::LatencyFor(const std::string& route) {
  auto it = latency_.find(route);
  return it != latency_.end() ? *it->second : *latency_.at("other");
}

void Metrics::Record(const std::string& route, const std::string& method, int status,
                     double seconds) {
  LatencyFor(route).Observe(seconds);
  const std::string& label = latency_.count(route) ? route : std::string("other");
  std::lock_guard guard(mu_);
  ++requests_[{label, method, status}];
}

std::string Metrics::Render(const StoreStats& store, int64_t head_position) const {
  std::string out;
  Header(out, "evs_http_requests_total", "counter", "HTTP requests by route, method and status.");
  {
    std::lock_guard guard(mu_);
    for (const auto& [key, count] : requests_) {
      const auto& [route, method, status] = key;
      out += "evs_http_requests_total{route=\"" + route + "\",method=\"" + method + "\",status=\"" +
             std::to_string(status) + "\"} " + std::to_string(count) + "\n";
    }
  }
  Header(out, "evs_http_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response, by route.");
  for (const auto& [route, histogram] : latency_) {
    RenderHistogram(out, "evs_http_request_duration_seconds", "route=\"" + route + "\",",
                    histogram->Snapshot());
  }
  struct {
    const char* name;
    const char* help;
    uint64_t value;
  } counters[] = {
      {"evs_appends_total", "Appends written.", store.appends},
      {"evs_events_total", "Events written.", store.events},
      {"evs_conflicts_total", "Appends refused for a wrong expected version.", store.conflicts},
      {"evs_idempotent_retries_total", "Retries answered with the original result.",
       store.duplicates},
      {"evs_commits_total", "Group commits written.", store.commits},
  };
  for (const auto& c : counters) {
    Header(out, c.name, "counter", c.help);
    out += std::string(c.name) + " " + std::to_string(c.value) + "\n";
  }
  Header(out, "evs_group_commit_appends", "histogram", "Appends per group commit.");
  RenderHistogram(out, "evs_group_commit_appends", "", store.batch_appends);
  Header(out, "evs_fsync_seconds", "histogram", "Time of each fsync of the store.");
  RenderHistogram(out, "evs_fsync_seconds", "", store.fsync_seconds);
  Header(out, "evs_store_bytes", "gauge", "On-disk size of the store's files.");
  out += "evs_store_bytes " + std::to_string(store.file_bytes) + "\n";
  Header(out, "evs_head_position", "gauge", "The last durable position of the log.");
  out += "evs_head_position " + std::to_string(head_position) + "\n";
  return out;
}

}  // namespace evs::http
