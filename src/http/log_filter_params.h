// Filtered reads of the log over HTTP: the ?category= and ?type= filters of GET /log and
// GET /log/live, and the read-only virtual streams $ce-{category} and $et-{type} of
// GET /streams/{id} (evs/http/api.h).
#pragma once

#include <string_view>

#include "evs/http/message.h"
#include "evs/http/request_reading.h"
#include "evs/http/routes.h"
#include "feed/log_filter.h"

namespace evs::http {

// The id prefix of a category stream: "$ce-cart" holds the events of every "cart-..." stream.
inline constexpr std::string_view kCategoryStreamPrefix = "$ce-";
// The id prefix of an event-type stream: "$et-ItemAdded" holds every ItemAdded event.
inline constexpr std::string_view kTypeStreamPrefix = "$et-";

// The most names one filter parameter lists, and the longest name, in bytes.
inline constexpr size_t kMaxFilterNames = 32;
inline constexpr size_t kMaxFilterNameBytes = 256;

// ?category=a,b and ?type=T,U (each a comma list; either, both or neither): the filter, or a 400
// ("invalid_filter") for an empty name, a category with a '-' (a category is the part of a stream
// id before its first '-'), a name over kMaxFilterNameBytes or more than kMaxFilterNames names.
Parsed<feed::LogFilter> LogFilterParams(const Params& params);

// Whether `stream_id` names a virtual stream ($ce-... or $et-...), which only GET reads.
bool IsVirtualStream(std::string_view stream_id);

// The filter a virtual stream stands for; a 400 ("invalid_stream_id") for "$ce-" or "$et-" with
// no name, or a category holding a '-'. Only for ids IsVirtualStream accepts.
Parsed<feed::LogFilter> VirtualStreamFilter(std::string_view stream_id);

// The 405 ("read_only_stream", Allow: GET) that answers a write to a virtual stream.
Response ReadOnlyStream(std::string_view stream_id);

}  // namespace evs::http
