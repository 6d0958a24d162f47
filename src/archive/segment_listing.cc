#include "archive/segment_listing.h"

#include <algorithm>

#include "archive/segment_format.h"

namespace evs::archive {

Result<SegmentListing> ListSegments(ObjectStore& objects) {
  SegmentListing listing;
  std::string token;
  do {
    ListOptions list;
    list.prefix = kSegmentKeyPrefix;
    list.continuation = token;
    auto page = objects.List(list);
    if (!page.ok()) return page.error();
    for (const ObjectInfo& object : page->objects) {
      std::optional<SegmentInfo> segment = ParseSegmentKey(object.key);
      if (!segment) {
        listing.problems.push_back("object '" + object.key +
                                   "' is under segments/ but is not named like a segment");
        continue;
      }
      segment->size = object.size;
      listing.segments.push_back(std::move(*segment));
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  // Keys sort by first position already (fixed-width digits); equal firsts sort by last.
  std::sort(listing.segments.begin(), listing.segments.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) {
              return a.first_position != b.first_position ? a.first_position < b.first_position
                                                          : a.last_position < b.last_position;
            });
  int64_t expected = 1;
  const SegmentInfo* previous = nullptr;
  for (const SegmentInfo& segment : listing.segments) {
    if (segment.first_position > expected) {
      listing.problems.push_back("gap: positions " + std::to_string(expected) + ".." +
                                 std::to_string(segment.first_position - 1) +
                                 " are in no segment (missing before '" + segment.key + "')");
    } else if (segment.first_position < expected) {
      listing.problems.push_back("overlap: '" + segment.key + "' starts at position " +
                                 std::to_string(segment.first_position) + ", inside '" +
                                 (previous ? previous->key : std::string("?")) + "'");
    }
    expected = std::max(expected, segment.last_position + 1);
    previous = &segment;
  }
  return listing;
}

Status RequireContinuous(const ObjectStore& objects, const SegmentListing& listing) {
  if (listing.problems.empty()) return OkStatus();
  std::string message = "archive " + objects.Location() + ": " + listing.problems.front();
  if (listing.problems.size() > 1) {
    message +=
        " (and " + std::to_string(listing.problems.size() - 1) + " more problems; run evs verify)";
  }
  return Error::Make(ErrorCode::kCorruption, message);
}

}  // namespace evs::archive
