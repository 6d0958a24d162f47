// The event store endpoints: list streams, read a stream or the log, append.
#include <optional>

#include "common/event_json.h"
#include "evs/http/command_context.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "evs/upcasting.h"
#include "http/event_store_routes.h"
#include "http/log_filter_params.h"
#include "http/request_parsing.h"

namespace evs::http {

namespace {

nlohmann::json EventsJson(const std::vector<RecordedEvent>& events) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events) out.push_back(EventToJson(e));
  return out;
}

// `?upcast=true`: events in the application's current shapes, retired types left out (paging
// still follows the stored events); absent or false: the stored bytes.
Parsed<bool> UpcastParam(const Params& params) {
  auto upcast = params.query.find("upcast");
  if (upcast == params.query.end() || upcast->second == "false") return false;
  if (upcast->second == "true") return true;
  return Problem(400, "invalid_parameter",
                 "upcast must be true or false, got '" + upcast->second + "'");
}

}  // namespace

Status EventStoreRoutes::UpcastIfAsked(bool asked, std::vector<RecordedEvent>& events) const {
  if (!asked || !options_.upcaster) return OkStatus();
  return options_.upcaster->UpcastAll(events);
}

Response EventStoreRoutes::ListStreams(const Request&, const Params& params) {
  auto limit = QueryLimit(params);
  if (!limit) return limit.problem();
  auto after_param = params.query.find("after");
  std::string after = after_param == params.query.end() ? "" : after_param->second;
  auto prefix_param = params.query.find("prefix");
  const std::string prefix = prefix_param == params.query.end() ? "" : prefix_param->second;
  const auto has_prefix = [&prefix](const std::string& id) { return id.starts_with(prefix); };
  size_t want = static_cast<size_t>(*limit);
  nlohmann::json streams = nlohmann::json::array();
  std::string next_after;
  // With a prefix, the listing starts at the first id that has it: the stream named the prefix
  // itself when there is one (ListStreams lists ids after `after`), then those after it. An id
  // the store refuses to look up (not a valid stream id) is no stream.
  if (!prefix.empty() && after < prefix) {
    auto version = store_.StreamVersion(prefix);
    if (version.ok() && *version > 0) {
      streams.push_back({{"stream_id", prefix}, {"version", *version}});
      next_after = prefix;  // when the page is full with it
      --want;
    }
    after = prefix;
  }
  if (want > 0) {
    auto page = store_.ListStreams(after, want);
    if (!page.ok()) return ProblemFor(page.error());
    next_after = page->next_after;
    for (const auto& s : page->streams) {
      if (!has_prefix(s.stream_id)) {
        next_after.clear();  // ids are sorted: none after this one has the prefix
        break;
      }
      streams.push_back({{"stream_id", s.stream_id}, {"version", s.version}});
    }
  }
  nlohmann::ordered_json body = {{"streams", std::move(streams)}};
  body["next_after"] = next_after.empty() ? nlohmann::json(nullptr) : nlohmann::json(next_after);
  return JsonResponse(body);
}

Response EventStoreRoutes::ReadStream(const Request&, const Params& params) {
  const std::string& stream = params.path.at("id");
  if (auto invalid = CheckPathStreamId(stream)) return std::move(*invalid);
  if (IsVirtualStream(stream)) return ReadVirtualStream(stream, params);
  auto limit = QueryLimit(params);
  if (!limit) return limit.problem();
  auto from = QueryInt(params, "from", 0, 0, INT64_MAX);
  if (!from) return from.problem();
  ReadStreamOptions read;
  read.limit = static_cast<size_t>(*limit);
  read.from = *from;
  auto direction = params.query.find("direction");
  if (direction != params.query.end()) {
    if (direction->second == "backward") {
      read.direction = Direction::kBackward;
    } else if (direction->second != "forward") {
      return Problem(400, "invalid_parameter",
                     "direction must be forward or backward, got '" + direction->second + "'");
    }
  }
  auto upcast = UpcastParam(params);
  if (!upcast) return upcast.problem();
  auto page = store_.ReadStream(stream, read);
  if (!page.ok()) return ProblemFor(page.error());
  std::optional<int64_t> last_read;
  if (!page->events.empty()) last_read = page->events.back().version;
  if (Status s = UpcastIfAsked(*upcast, page->events); !s.ok()) {
    return ProblemFor(s.error());
  }
  nlohmann::ordered_json body = {{"stream_id", stream},
                                 {"version", page->stream_version},
                                 {"events", EventsJson(page->events)},
                                 {"end_of_stream", page->end_of_stream}};
  if (!page->end_of_stream && last_read) {
    const int64_t last = *last_read;
    body["next_from"] = read.direction == Direction::kForward ? last + 1 : last - 1;
  } else {
    body["next_from"] = nullptr;
  }
  return JsonResponse(body);
}

Response EventStoreRoutes::ReadVirtualStream(const std::string& stream, const Params& params) {
  auto filter = VirtualStreamFilter(stream);
  if (!filter) return filter.problem();
  // Read in log order only: a virtual stream has no versions to go back from.
  if (auto direction = params.query.find("direction");
      direction != params.query.end() && direction->second != "forward") {
    return Problem(400, "invalid_parameter",
                   "a virtual stream is read forward in log order, so direction must be forward, "
                   "got '" +
                       direction->second + "'");
  }
  return ReadLogPage(params, *filter, stream);
}

Response EventStoreRoutes::ReadLog(const Request&, const Params& params) {
  auto filter = LogFilterParams(params);
  if (!filter) return filter.problem();
  return ReadLogPage(params, *filter, "");
}

Response EventStoreRoutes::ReadLogPage(const Params& params, const feed::LogFilter& filter,
                                       const std::string& stream) {
  auto limit = QueryLimit(params);
  if (!limit) return limit.problem();
  auto from = QueryInt(params, "from", 0, 0, INT64_MAX);
  if (!from) return from.problem();
  auto upcast = UpcastParam(params);
  if (!upcast) return upcast.problem();
  auto page = feed::ReadFilteredLog(store_, *from, static_cast<size_t>(*limit), filter,
                                    kFilteredReadBudget);
  if (!page.ok()) return ProblemFor(page.error());
  if (Status s = UpcastIfAsked(*upcast, page->events); !s.ok()) {
    return ProblemFor(s.error());
  }
  nlohmann::ordered_json body;
  if (!stream.empty()) body["stream_id"] = stream;
  body["events"] = EventsJson(page->events);
  body["next_from"] = page->next_position;
  body["head_position"] = page->head_position;
  return JsonResponse(body);
}

namespace {

// What POST /streams/{id} appends.
struct AppendRequest {
  std::string stream;
  ExpectedVersion expected;
  std::vector<EventData> events;
};

Parsed<AppendRequest> ReadAppendRequest(const Request& request, const Params& params) {
  const std::string& stream = params.path.at("id");
  if (auto invalid = CheckPathStreamId(stream)) return std::move(*invalid);
  if (IsVirtualStream(stream)) return ReadOnlyStream(stream);
  auto header = ExpectedVersionHeader(request);
  if (!header) return header.problem();
  auto parsed = JsonBody(request);
  if (!parsed) return parsed.problem();
  const nlohmann::json& body = *parsed;
  if (!body.is_array()) {
    return Problem(400, "invalid_body",
                   R"(the body must be an array of events like [{"type": "T", "data": {}}])");
  }
  AppendRequest append{stream, *header, {}};
  std::vector<EventData>& events = append.events;
  events.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    const nlohmann::json& e = body[i];
    const std::string where = "event " + std::to_string(i) + ": ";
    if (!e.is_object()) return Problem(400, "invalid_body", where + "must be an object");
    EventData data;
    for (const auto& [key, value] : e.items()) {
      if (key == "id") {
        auto id = value.is_string() ? Uuid::Parse(value.get<std::string>()) : std::nullopt;
        if (!id) return Problem(400, "invalid_body", where + "'id' must be a UUID string");
        data.id = *id;
      } else if (key == "type") {
        if (!value.is_string())
          return Problem(400, "invalid_body", where + "'type' must be a string");
        data.type = value.get<std::string>();
      } else if (key == "data") {
        data.data = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      } else if (key == "metadata") {
        data.metadata = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      } else {
        return Problem(400, "invalid_body",
                       where + "unknown field '" + key + "'; expected id, type, data, metadata");
      }
    }
    if (!e.contains("type")) return Problem(400, "invalid_body", where + "'type' is required");
    if (!e.contains("data")) return Problem(400, "invalid_body", where + "'data' is required");
    events.push_back(std::move(data));
  }
  return append;
}

}  // namespace

void EventStoreRoutes::AppendToStream(const Request& request, const Params& params,
                                      Respond respond) {
  auto context = BeginCommand(request, respond);
  if (!context) return;
  auto append = ReadAppendRequest(request, params);
  if (!append) return respond(append.problem());
  context->Stamp(append->events);
  // Responds from the append's completion: no thread waits for the fsync.
  store_.AppendAsync(append->stream, append->expected, std::move(append->events),
                     [respond = std::move(respond)](Result<AppendResult> result) {
                       if (!result.ok()) return respond(ProblemFor(result.error()));
                       respond(JsonResponse({{"first_version", result->first_version},
                                             {"last_version", result->last_version},
                                             {"first_position", result->first_position},
                                             {"position", result->last_position}},
                                            201));
                     });
}

}  // namespace evs::http
