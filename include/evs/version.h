// The version of evs. This header is the one place it is set: CMake reads it into the project
// version, the package files (evsConfigVersion.cmake, evs.pc, the Debian package) and
// `evs --version`.
//
// Compatibility (README, "Versions and compatibility"): files written by any earlier release
// (stores, archives, checkpoints, read models, key stores) open and read the same in a later
// one; a format change comes with its upgrade on open. The C++ API follows semantic versioning
// from 1.0; before it, a minor release may change the API, and the README says how.
#pragma once

// The major number of this release of the headers (0 until the API is stable: see above).
#define EVS_VERSION_MAJOR 0
// The minor number of this release of the headers.
#define EVS_VERSION_MINOR 13
// The patch number of this release of the headers.
#define EVS_VERSION_PATCH 0
// "<major>.<minor>.<patch>", the three numbers above. CMake and the package test read the
// version from this line, so it must stay one `#define` with a string literal.
#define EVS_VERSION_STRING "0.13.0"

namespace evs {

// The version of the evs library linked into the program ("0.13.0"); compare it with
// EVS_VERSION_STRING to detect headers and a library of different releases.
const char* Version();

}  // namespace evs
