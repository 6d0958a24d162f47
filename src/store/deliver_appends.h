// Delivering a synced batch's outcomes: the one step both embedded writers (group_commit.h,
// log/log_writer.h) end every batch with, so that their acknowledgement rules cannot drift.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "evs/status.h"
#include "store/commit_planner.h"

namespace evs::store {

// Gives each append of a batch its outcome, in order: `failure` when the batch failed as a
// whole, else its decision. An asynchronous append (`async` set) is called back on this thread
// and deleted; a blocking one is signalled, and belongs to its caller from then on.
template <class Pending>
void DeliverAppends(const std::vector<Pending*>& appends, std::vector<AppendDecision>& decisions,
                    const std::optional<Error>& failure) {
  for (size_t i = 0; i < appends.size(); ++i) {
    Pending* p = appends[i];
    AppendDecision& d = decisions[i];
    if (failure) {
      p->result.emplace(*failure);
    } else if (d.kind == AppendDecision::Kind::kFail) {
      p->result.emplace(std::move(*d.error));
    } else {
      p->result.emplace(d.result);
    }
    if (p->async) {
      std::unique_ptr<std::remove_pointer_t<decltype(p->async)>> owned(p->async);
      try {
        owned->callback(std::move(*p->result));
      } catch (...) {
        // The contract forbids it; the store and the other appends of the batch go on.
      }
    } else {
      p->done.Signal();  // `p` belongs to its caller from here on
    }
  }
}

}  // namespace evs::store
