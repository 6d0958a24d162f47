// Correlation and causation ids: reading, stamping, echoing (evs/http/command_context.h).
#include "evs/http/command_context.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "evs/http/responses.h"
#include "evs/uuid.h"

namespace evs::http {

namespace {

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZeros(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

// The trace-id and parent-id of a valid traceparent header; nullopt for a malformed one. Version
// 00 is exactly 55 characters; a later version may add fields after them ("-..."); ff is invalid.
std::optional<CommandContext> ParseTraceparent(std::string_view text) {
  constexpr size_t kLength = 55;
  if (text.size() < kLength || text[2] != '-' || text[35] != '-' || text[52] != '-') {
    return std::nullopt;
  }
  const std::string_view version = text.substr(0, 2), trace = text.substr(3, 32),
                         parent = text.substr(36, 16), flags = text.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(parent) ||
      !IsLowerHex(flags) || AllZeros(trace) || AllZeros(parent)) {
    return std::nullopt;
  }
  if (text.size() > kLength && (version == "00" || text[kLength] != '-')) return std::nullopt;
  return CommandContext{std::string(trace), std::string(parent)};
}

bool ValidId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxContextIdBytes &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

Parsed<CommandContext> ReadCommandContext(const Request& request) {
  std::optional<CommandContext> trace;
  if (auto header = request.Header("traceparent")) trace = ParseTraceparent(*header);
  CommandContext context;
  struct Field {
    const char* header;
    const char* code;
    std::string CommandContext::*id;
  };
  for (const Field& f :
       {Field{"X-Correlation-Id", "invalid_correlation_id", &CommandContext::correlation_id},
        Field{"X-Causation-Id", "invalid_causation_id", &CommandContext::causation_id}}) {
    if (auto header = request.Header(f.header)) {
      if (!ValidId(*header)) {
        return Problem(400, f.code,
                       std::string(f.header) + " must be 1 to " +
                           std::to_string(kMaxContextIdBytes) +
                           " visible ASCII characters (no spaces or control characters)");
      }
      context.*f.id = std::string(*header);
    } else if (trace) {
      context.*f.id = (*trace).*f.id;
    } else {
      context.*f.id = Uuid::Random().ToString();
    }
  }
  return context;
}

std::optional<CommandContext> BeginCommand(const Request& request, Respond& respond) {
  auto context = ReadCommandContext(request);
  if (!context) {
    respond(context.problem());
    return std::nullopt;
  }
  respond = [context = *context, inner = std::move(respond)](Response response) {
    inner(context.Echo(std::move(response)));
  };
  return std::move(*context);
}

std::string CommandContext::Stamp(std::string_view metadata) const {
  // Ordered: the client's fields keep their order, the ids come after them.
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(
      metadata.empty() ? std::string_view("{}") : metadata, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::string(metadata);
  for (const auto& [key, id] : {std::pair{std::string(kCorrelationIdKey), &correlation_id},
                                std::pair{std::string(kCausationIdKey), &causation_id}}) {
    if (!json.contains(key)) json[key] = *id;
  }
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void CommandContext::Stamp(std::vector<EventData>& events) const {
  for (EventData& e : events) e.metadata = Stamp(e.metadata);
}

Response CommandContext::Echo(Response response) const {
  response.headers.emplace_back("X-Correlation-Id", correlation_id);
  response.headers.emplace_back("X-Causation-Id", causation_id);
  return response;
}

}  // namespace evs::http
