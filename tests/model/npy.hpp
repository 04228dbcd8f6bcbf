// Minimal reader for the float32 .npy files of ../shared/demucs/activations (C order, little-endian).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rz::test {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Throws std::runtime_error for anything but a '<f4' C-ordered array.
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace rz::test
