// Stream lifecycle endpoints: metadata, deletes, and scavenging in the background.
#include <thread>
#include <variant>

#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "http/event_store_routes.h"
#include "http/log_filter_params.h"
#include "http/request_parsing.h"
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

Response EventStoreRoutes::GetStreamMetadata(const Request&, const Params& params) {
  const std::string& stream = params.path.at("id");
  if (auto invalid = CheckPathStreamId(stream)) return std::move(*invalid);
  return StreamMetadata(stream);
}

Response EventStoreRoutes::StreamMetadata(const std::string& stream) {
  auto lifecycle = store_.GetStreamLifecycle(stream);
  if (!lifecycle.ok()) return ProblemFor(lifecycle.error());
  return JsonResponse(store::LifecycleToJson(stream, *lifecycle));
}

Response EventStoreRoutes::PutStreamMetadata(const Request& request, const Params& params) {
  const std::string& stream = params.path.at("id");
  if (auto invalid = CheckPathStreamId(stream)) return std::move(*invalid);
  if (IsVirtualStream(stream)) return ReadOnlyStream(stream);
  auto parsed = JsonBody(request);
  if (!parsed) return parsed.problem();
  auto metadata = store::MetadataFromJson(*parsed);
  if (!metadata.ok()) return ProblemFor(metadata.error());
  if (auto s = store_.SetStreamMetadata(stream, *metadata); !s) return ProblemFor(s.error());
  return StreamMetadata(stream);
}

Response EventStoreRoutes::DeleteStream(const Request& request, const Params& params) {
  const std::string& stream = params.path.at("id");
  if (auto invalid = CheckPathStreamId(stream)) return std::move(*invalid);
  if (IsVirtualStream(stream)) return ReadOnlyStream(stream);
  DeleteMode mode = DeleteMode::kSoft;
  if (auto hard = params.query.find("hard"); hard != params.query.end()) {
    if (hard->second == "true") {
      mode = DeleteMode::kHard;
    } else if (hard->second != "false") {
      return Problem(400, "invalid_parameter",
                     "hard must be true or false, got '" + hard->second + "'");
    }
  }
  auto header = ExpectedVersionHeader(request);
  if (!header) return header.problem();
  const ExpectedVersion expected = *header;
  // Aggregate caches (repository.h) check the stream's version, which is 0 once deleted.
  if (auto s = store_.DeleteStream(stream, mode, expected); !s) return ProblemFor(s.error());
  Response r;
  r.status = 204;
  r.content_type.clear();  // no content
  return r;
}

ScavengeState EventStoreRoutes::ScavengeStatus() {
  std::lock_guard guard(scavenge_mu_);
  return scavenge_;
}

Response EventStoreRoutes::GetScavenge(const Request&, const Params&) {
  return JsonResponse(ScavengeJson(ScavengeStatus()));
}

Response EventStoreRoutes::StartScavenge(const Request&, const Params& params) {
  auto step = QueryInt(params, "step", 100, 1, 100000);
  if (!step) return step.problem();
  std::lock_guard guard(scavenge_mu_);
  if (scavenge_.state == "running") {
    return Problem(409, "scavenge_running",
                   "a scavenge is already running; GET /admin/scavenge shows its progress");
  }
  if (scavenge_thread_.joinable()) scavenge_thread_.join();  // the last one, finished
  scavenge_ = ScavengeState{};
  scavenge_.state = "running";
  scavenge_thread_ = std::thread([this, step = *step] {
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

void EventStoreRoutes::JoinScavenge() {
  std::thread finishing;
  {
    std::lock_guard guard(scavenge_mu_);
    finishing = std::move(scavenge_thread_);
  }
  if (finishing.joinable()) finishing.join();
}

}  // namespace evs::http
