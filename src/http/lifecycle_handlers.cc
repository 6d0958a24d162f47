// Stream lifecycle endpoints: metadata, deletes, and scavenging in the background.
#include <thread>
#include <variant>

#include "http/api.h"
#include "http/problem.h"
#include "store/stream_lifecycle.h"

namespace evs::http {

namespace {

nlohmann::json ScavengeJson(const ScavengeState& state) {
  nlohmann::json json = {{"state", state.state},
                         {"streams_done", state.progress.streams_done},
                         {"streams_total", state.progress.streams_total},
                         {"events_scavenged", state.progress.events_scavenged}};
  if (state.report) {
    json["file_bytes_before"] = state.report->file_bytes_before;
    json["file_bytes_after"] = state.report->file_bytes_after;
    json["file_shrinks"] = state.report->file_shrinks;
    json["longest_step_ms"] = state.report->longest_step_ms;
    json["seconds"] = state.report->seconds;
  }
  if (!state.error.empty()) json["error"] = state.error;
  return json;
}

}  // namespace

Response Api::GetStreamMetadata(const std::string& stream) {
  auto lifecycle = store_.GetStreamLifecycle(stream);
  if (!lifecycle.ok()) return ProblemFor(lifecycle.error());
  return JsonResponse(store::LifecycleToJson(stream, *lifecycle));
}

Response Api::PutStreamMetadata(const Request& request, const std::string& stream) {
  auto parsed = JsonBody(request);
  if (auto* problem = std::get_if<Response>(&parsed)) return std::move(*problem);
  auto metadata = store::MetadataFromJson(std::get<nlohmann::json>(parsed));
  if (!metadata.ok()) return ProblemFor(metadata.error());
  if (auto s = store_.SetStreamMetadata(stream, *metadata); !s) return ProblemFor(s.error());
  return GetStreamMetadata(stream);
}

Response Api::DeleteStream(const Request& request, const Target& target,
                           const std::string& stream) {
  DeleteMode mode = DeleteMode::kSoft;
  if (auto hard = target.query.find("hard"); hard != target.query.end()) {
    if (hard->second == "true") {
      mode = DeleteMode::kHard;
    } else if (hard->second != "false") {
      return Problem(400, "invalid_parameter",
                     "hard must be true or false, got '" + hard->second + "'");
    }
  }
  auto header = ExpectedVersionHeader(request);
  if (auto* problem = std::get_if<Response>(&header)) return std::move(*problem);
  const ExpectedVersion expected = std::get<ExpectedVersion>(header);
  // Caches (of carts, of their bodies) check the stream's version, which is 0 once deleted.
  if (auto s = store_.DeleteStream(stream, mode, expected); !s) return ProblemFor(s.error());
  Response r;
  r.status = 204;
  r.content_type.clear();  // no content
  return r;
}

ScavengeState Api::ScavengeStatus() {
  std::lock_guard guard(scavenge_mu_);
  return scavenge_;
}

Response Api::GetScavenge() { return JsonResponse(ScavengeJson(ScavengeStatus())); }

Response Api::StartScavenge(const Target& target) {
  auto step = IntParam(target, "step", 100, 1, 100000);
  if (auto* problem = std::get_if<Response>(&step)) return std::move(*problem);
  std::lock_guard guard(scavenge_mu_);
  if (scavenge_.state == "running") {
    return Problem(409, "scavenge_running",
                   "a scavenge is already running; GET /admin/scavenge shows its progress");
  }
  if (scavenge_thread_.joinable()) scavenge_thread_.join();  // the last one, finished
  scavenge_ = ScavengeState{};
  scavenge_.state = "running";
  scavenge_thread_ = std::thread([this, step = std::get<int64_t>(step)] {
    ScavengeOptions options;
    options.events_per_step = static_cast<size_t>(step);
    options.progress = [this](const ScavengeProgress& progress) {
      std::lock_guard guard(scavenge_mu_);
      scavenge_.progress = progress;
    };
    auto report = store_.Scavenge(options);
    std::lock_guard guard(scavenge_mu_);
    if (report.ok()) {
      scavenge_.state = "done";
      scavenge_.report = *report;
    } else {
      scavenge_.state = "failed";
      scavenge_.error = report.error().message;
    }
  });
  return JsonResponse(ScavengeJson(scavenge_), 202);
}

void Api::JoinScavenge() {
  std::thread finishing;
  {
    std::lock_guard guard(scavenge_mu_);
    finishing = std::move(scavenge_thread_);
  }
  if (finishing.joinable()) finishing.join();
}

}  // namespace evs::http
