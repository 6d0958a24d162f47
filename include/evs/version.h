// The version of evs. This header is the one place it is set: CMake reads it into the project
// version, the package files (evsConfigVersion.cmake, evs.pc, the Debian package) and
// `evs --version`.
//
// Compatibility (README, "Versions and compatibility"): files written by any earlier release
// (stores, archives, checkpoints, read models, key stores) open and read the same in a later
// one; a format change comes with its upgrade on open. The C++ API follows semantic versioning
// from 1.0; before it, a minor release may change the API, and the README says how.
#pragma once

#define EVS_VERSION_MAJOR 0
#define EVS_VERSION_MINOR 9
#define EVS_VERSION_PATCH 0
#define EVS_VERSION_STRING "0.9.0"

namespace evs {

// The version of the evs library linked into the program ("0.9.0"); compare it with
// EVS_VERSION_STRING to detect headers and a library of different releases.
const char* Version();

}  // namespace evs
