// The archive's table of contents: its segment objects, ordered by position, and whether they
// form one run from position 1.
#pragma once

#include <string>
#include <vector>

#include "evs/archive.h"
#include "evs/object_store.h"
#include "evs/status.h"

namespace evs::archive {

struct SegmentListing {
  std::vector<SegmentInfo> segments;  // every segment key, ordered by first position
  // Gaps, overlaps, a first segment after position 1, objects under segments/ that are not
  // segments: each named. Empty when the segments form one run.
  std::vector<std::string> problems;
};

// Lists the segments (every page). An error only when the listing itself fails.
Result<SegmentListing> ListSegments(ObjectStore& objects);

// The listing's first problem as a kCorruption error, or OK.
Status RequireContinuous(const ObjectStore& objects, const SegmentListing& listing);

}  // namespace evs::archive
