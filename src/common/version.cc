#include "evs/version.h"

namespace evs {

const char* Version() { return EVS_VERSION_STRING; }

}  // namespace evs
