// Little-endian integer reads, and the error every reader in rz::formats throws.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "rz/error.hpp"

namespace rz::formats {

inline uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t le64(const uint8_t* p) {
  return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

// The readers here read model checkpoints (torch.save archives and what they hold): a file they
// refuse throws rz::InputError ("bad checkpoint '<path>': <reason>").
[[noreturn]] inline void bad_checkpoint(const std::filesystem::path& path,
                                        const std::string& reason) {
  throw InputError("bad checkpoint", path.string(), reason);
}

}  // namespace rz::formats
