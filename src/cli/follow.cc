#include "cli/follow.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/output.h"
#include "common/event_json.h"
#include "store/sqlite.h"
#include "store/sqlite_schema.h"

namespace evs::cli {

int FollowLog(const GlobalOptions& global, int64_t after) {
  const std::string path = global.data_dir + "/events.sqlite";
  if (!std::filesystem::exists(path)) {
    return ReportError(global, Error::Make(ErrorCode::kNotFound, "no store at " + path));
  }
  auto db = store::Database::Open(path, /*read_only=*/true);
  if (!db) return ReportError(global, db.error());
  auto read = db->Prepare(std::string(store::kSelectEvents) +
                          "WHERE e.position > ? ORDER BY e.position LIMIT 1000");
  if (!read) return ReportError(global, read.error());

  // Each commit writes the WAL in the data folder: that wakes us, not a timer.
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch < 0 || inotify_add_watch(watch, global.data_dir.c_str(), IN_MODIFY | IN_CREATE) < 0) {
    return ReportError(global, Error::Make(ErrorCode::kIOError,
                                           "cannot watch " + global.data_dir + " for commits"));
  }
  for (;;) {
    read->Bind(1, after);
    auto events = store::ReadEvents(*read);
    if (!events.ok()) {
      close(watch);
      return ReportError(global, events.error());
    }
    for (const RecordedEvent& e : *events) {
      if (global.json) {
        std::cout << DumpJson(EventToJson(e)) << '\n';  // JSON Lines: the stream has no end
      } else {
        std::cout << EventLine(e, /*with_stream=*/true) << '\n';
      }
      after = e.position;
    }
    if (!std::cout.flush()) break;  // the reader went away
    if (events->size() == 1000) continue;
    pollfd p{watch, POLLIN, 0};
    poll(&p, 1, 1000);  // a commit, or a second to notice a closed stdout
    char buffer[4096];
    while (::read(watch, buffer, sizeof buffer) > 0) {
    }
  }
  close(watch);
  return kExitOk;
}

}  // namespace evs::cli
