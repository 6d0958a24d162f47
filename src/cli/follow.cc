#include "cli/follow.h"

#include <iostream>

#include "cli/output.h"
#include "common/event_json.h"
#include "evs/event_store.h"

namespace evs::cli {

int FollowLog(const GlobalOptions& global, int64_t after) {
  auto store = OpenStoreForReading(global);
  if (!store.ok()) return ReportError(global, store.error());
  if (!*store) {
    return ReportError(global, Error::Make(ErrorCode::kNotFound, "no store in " + global.data_dir));
  }
  for (;;) {
    auto page = (*store)->ReadLog(after, 1000);
    if (!page.ok()) return ReportError(global, page.error());
    for (const RecordedEvent& e : page->events) {
      if (global.json) {
        std::cout << DumpJson(EventToJson(e)) << '\n';  // JSON Lines: the stream has no end
      } else {
        std::cout << EventLine(e, /*with_stream=*/true) << '\n';
      }
    }
    if (!std::cout.flush()) return kExitOk;  // the reader went away
    after = page->next_position;
    // Woken by a commit; the timeout only bounds how long a closed stdout goes unnoticed.
    if (page->events.empty()) (void)(*store)->WaitForHead(after, std::chrono::seconds(1));
  }
}

}  // namespace evs::cli
