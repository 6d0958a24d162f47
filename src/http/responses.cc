#include "evs/http/responses.h"

namespace evs::http {

namespace {

const char* TitleFor(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

}  // namespace

Response Problem(int status, const std::string& code, const std::string& detail,
                 nlohmann::json extra) {
  nlohmann::ordered_json body = {{"type", "https://evs.dev/problems/" + code},
                                 {"title", TitleFor(status)},
                                 {"status", status},
                                 {"code", code},
                                 {"detail", detail}};
  for (auto& [key, value] : extra.items()) body[key] = value;
  Response response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response JsonResponse(const nlohmann::ordered_json& body, int status) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

int StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kWrongExpectedVersion:
    case ErrorCode::kDuplicateEventId:
      return 409;
    case ErrorCode::kDomainRule:
      return 422;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kLimitExceeded:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kUnsupported:
      return 501;
    case ErrorCode::kStreamDeleted:
      return 410;
    default:
      return 500;
  }
}

Response ProblemFor(const Error& error) {
  nlohmann::json extra = nlohmann::json::object();
  if (error.conflict) {
    extra["expected"] = error.conflict->expected;
    extra["actual"] = error.conflict->actual;
  }
  return Problem(StatusFor(error.code), ErrorCodeName(error.code), error.message, extra);
}

}  // namespace evs::http
