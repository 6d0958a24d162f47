// Answers: JSON documents, and errors as RFC 9457 problem documents
// (application/problem+json):
//   {"type": "https://evs.dev/problems/<code>", "title": ..., "status": 409, "code": "conflict",
//    "detail": "what was wrong", ...extra members}
// `code` is stable; clients branch on it, people read `detail`. Every error of the Api and of its
// routes is one of these, so a handler of a domain answers the way the built-in routes do.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "evs/http/message.h"
#include "evs/status.h"

namespace evs::http {

// A JSON response (application/json); invalid UTF-8 in strings is replaced, never thrown on.
Response JsonResponse(const nlohmann::ordered_json& body, int status = 200);

// A problem response with a status, a stable code and a detail message; `extra` members are
// added to the document.
Response Problem(int status, const std::string& code, const std::string& detail,
                 nlohmann::json extra = nlohmann::json::object());

// The HTTP status for an evs error: 404 not found, 409 conflict (a wrong expected version, a
// duplicate event id), 410 a hard-deleted stream, 422 a domain rule, 400 invalid input, 413
// limits, 501 unsupported, 503 unavailable, 500 otherwise.
int StatusFor(ErrorCode code);

// The problem response for an evs error: its StatusFor status, ErrorCodeName as the code, its
// message as the detail; conflicts carry "expected" and "actual".
Response ProblemFor(const Error& error);

}  // namespace evs::http
