// The bytes of a response's status line and header fields, as the server sends them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "evs/http/message.h"

namespace evs::http {

// The head of `response`: its status line (with the standard reason phrase), its headers,
// Content-Type unless it has neither type nor body, Content-Length `content_length` (nullopt:
// "Transfer-Encoding: chunked" instead) and "Connection: close" unless `keep_alive`. A
// Connection or Content-Length header of the response itself is left out: the server decides.
std::string ResponseHead(const Response& response, std::optional<size_t> content_length,
                         bool keep_alive);

// One chunk of a chunked body ("0" and an empty `data`: the last); `data` must not be empty
// otherwise.
std::string Chunk(std::string_view data);

// Whether `response` asks for the connection to close ("Connection: close" among its headers).
bool AsksToClose(const Response& response);

}  // namespace evs::http
