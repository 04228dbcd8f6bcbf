// The decoy runtime library of tests/unit/runtime_binding (decoy.cpp).
#pragma once

#include <cstdint>

namespace rz_decoy {
// What the decoy's std::filesystem::remove_all returns: no real removal counts this many files.
inline constexpr std::uintmax_t kDecoyResult = 0x5eedfa11;
// A symbol of the decoy's own, so that the probe needs the library whatever the linker's
// --as-needed setting.
int marker();
}  // namespace rz_decoy
