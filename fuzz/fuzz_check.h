// Shared by the libFuzzer targets in this folder: a check that aborts with a message, so that
// a broken property is reported by libFuzzer as a crash, with the input that broke it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace evs::fuzz {

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace evs::fuzz

// Aborts with `what` (a std::string expression, built only on failure) unless `condition`.
#define EVS_FUZZ_CHECK(condition, what)                                                    \
  do {                                                                                     \
    if (!(condition)) ::evs::fuzz::Fail(std::string(#condition ": ") + std::string(what)); \
  } while (0)
