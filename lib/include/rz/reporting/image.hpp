// Images for rz-report: an RGB raster, a perceptual colour map, and PNG output through libpng.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace rz::reporting {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, top row first, 3 bytes per pixel

  Image() = default;
  Image(int w, int h, std::array<uint8_t, 3> fill);
  void set(int x, int y, std::array<uint8_t, 3> c);
  std::array<uint8_t, 3> at(int x, int y) const;
};

// Colour of t in 0..1 on a dark-to-bright map (black, deep blue, magenta, orange, pale yellow:
// lightness rises monotonically, so the map reads in grey too). t outside 0..1 is clamped.
std::array<uint8_t, 3> heat_colour(double t);

// Writes `image` as an 8-bit RGB PNG (libpng, default compression). Throws IoError.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace rz::reporting
