// `evs log --follow`: a live tail of the log in the terminal.
#pragma once

#include <cstdint>

#include "cli/context.h"

namespace evs::cli {

// Prints the events after `after`, then each new one as it is committed, until interrupted or
// stdout closes. Works beside a running `evs serve`: it reads the store's file without taking
// its lock (OpenSqliteEventStoreReader), woken when a commit writes the data folder.
int FollowLog(const GlobalOptions& global, int64_t after);

}  // namespace evs::cli
