// PNG output and the colour map (rz/reporting/image.hpp).
#include "rz/reporting/image.hpp"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "rz/error.hpp"

namespace rz::reporting {

Image::Image(int w, int h, std::array<uint8_t, 3> fill) : width(w), height(h) {
  rgb.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = fill[0];
    rgb[i + 1] = fill[1];
    rgb[i + 2] = fill[2];
  }
}

void Image::set(int x, int y, std::array<uint8_t, 3> c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const size_t i =
      (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 3;
  rgb[i] = c[0];
  rgb[i + 1] = c[1];
  rgb[i + 2] = c[2];
}

std::array<uint8_t, 3> Image::at(int x, int y) const {
  const size_t i =
      (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 3;
  return {rgb[i], rgb[i + 1], rgb[i + 2]};
}

std::array<uint8_t, 3> heat_colour(double t) {
  // Anchors of a magma-like map (sampled from matplotlib's "magma" at 0, 0.25, 0.5, 0.75, 1).
  static constexpr double kAnchors[5][3] = {
      {0, 0, 4}, {81, 18, 124}, {183, 55, 121}, {252, 137, 97}, {252, 253, 191}};
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  const double pos = t * 4;
  const int i = std::min(3, static_cast<int>(pos));
  const double f = pos - i;
  std::array<uint8_t, 3> c{};
  for (int k = 0; k < 3; ++k) {
    const double v = kAnchors[i][k] + f * (kAnchors[i + 1][k] - kAnchors[i][k]);
    c[static_cast<size_t>(k)] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
  }
  return c;
}

void write_png(const std::filesystem::path& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0) throw Error("write_png: empty image");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw IoError("cannot write", path.string(), std::strerror(errno));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, nullptr);
    std::fclose(f);
    throw IoError("cannot write", path.string(), "libpng could not start");
  }
  // libpng reports errors by longjmp; nothing with a destructor lives in this frame past here.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    throw IoError("cannot write", path.string(), "libpng failed");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y) {
    png_write_row(png,
                  const_cast<png_bytep>(
                      &image.rgb[static_cast<size_t>(y) * static_cast<size_t>(image.width) * 3]));
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  const bool ok = std::fflush(f) == 0;
  if (std::fclose(f) != 0 || !ok)
    throw IoError("cannot write", path.string(), std::strerror(errno));
}

}  // namespace rz::reporting
