// rz-report's pictures: the colour map, PNG output, the spectrogram's frequency axis and levels,
// the waveform, and the choice of the loudest excerpt.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <vector>

#include "rz/reporting/image.hpp"
#include "rz/reporting/render.hpp"
#include "test_support.hpp"

using namespace rz::reporting;

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr int kRate = 44100;
// A full-scale sine reads 0 dB; the Hann window's spread and the row's averaging over a few bins
// may lower the row holding it by a few dB.
constexpr double kToneLevelTolDb = 6;

double lightness(std::array<uint8_t, 3> c) { return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; }
}  // namespace

TEST_CASE("the colour map gets lighter from floor to top", "[report]") {
  double last = -1;
  for (int i = 0; i <= 100; ++i) {
    const double l = lightness(heat_colour(i / 100.0));
    CHECK(l >= last);
    last = l;
  }
  CHECK(heat_colour(-1) == heat_colour(0));
  CHECK(heat_colour(2) == heat_colour(1));
}

TEST_CASE("write_png writes a PNG of the image's size", "[report]") {
  rz::test::TempDir dir;
  Image img(17, 5, {10, 20, 30});
  img.set(3, 2, {255, 0, 0});
  const auto path = dir.path() / "x.png";
  write_png(path, img);
  std::ifstream f(path, std::ios::binary);
  std::vector<unsigned char> b((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
  REQUIRE(b.size() > 33);
  CHECK(std::vector<unsigned char>(b.begin(), b.begin() + 8) ==
        std::vector<unsigned char>{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a});
  auto be32 = [&](size_t at) {
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  };
  CHECK(be32(16) == 17);  // IHDR width
  CHECK(be32(20) == 5);   // IHDR height
  CHECK_THROWS(write_png(dir.path() / "no" / "such" / "dir.png", img));
}

TEST_CASE("spectrogram: a tone lands on its row at its level, silence is black", "[report]") {
  const int64_t n = 4 * kRate;
  std::vector<float> x(static_cast<size_t>(n) * 2, 0.f);
  for (int64_t i = 0; i < n / 2; ++i) {  // 1 kHz, full scale, first half only; both channels
    const auto v = static_cast<float>(std::sin(2 * kPi * 1000 * static_cast<double>(i) / kRate));
    x[static_cast<size_t>(i) * 2] = x[static_cast<size_t>(i) * 2 + 1] = v;
  }
  const int width = 200, height = 120;
  Overview ov(2, kRate, n, width);
  ov.push(x.data(), static_cast<size_t>(n));
  ov.finish();
  const auto img = ov.spectrogram(height);
  REQUIRE(img.width == width);
  REQUIRE(img.height == height);
  // The row of 1 kHz on the log axis.
  const double lo = std::log(kLowHz), hi = std::log(ov.top_hz());
  const int row = static_cast<int>((hi - std::log(1000.0)) / (hi - lo) * height);
  int brightest = 0;
  double best = -1;
  for (int y = 0; y < height; ++y) {
    const double l = lightness(img.at(50, y));
    if (l > best) {
      best = l;
      brightest = y;
    }
  }
  CHECK(std::abs(brightest - row) <= 1);
  // Its colour matches 0 dB within the tolerance.
  const double t_min = (-kToneLevelTolDb - kFloorDb) / -kFloorDb;
  CHECK(best >= lightness(heat_colour(t_min)));
  // Second half: digital silence, the floor's colour.
  CHECK(img.at(180, brightest) == heat_colour(0));
  // Waveform: the tone fills the first half top to bottom; silence only the centre line.
  const auto w = ov.waveform(41);
  CHECK(w.at(50, 1) != w.at(180, 1));
  CHECK(w.at(180, 1) == w.at(180, 39));
}

TEST_CASE("short recordings fill every column", "[report]") {
  const int64_t n = kRate / 2;  // 0.5 s over 400 columns: narrower than any hop
  std::vector<float> x(static_cast<size_t>(n), 0.f);
  for (int64_t i = 0; i < n; ++i)
    x[static_cast<size_t>(i)] = 0.5f * static_cast<float>(std::sin(0.05 * static_cast<double>(i)));
  Overview ov(1, kRate, n, 400);
  ov.push(x.data(), static_cast<size_t>(n));
  ov.finish();
  const auto img = ov.spectrogram(50);
  for (int xcol = 0; xcol < 400; ++xcol) {
    bool lit = false;
    for (int y = 0; y < 50 && !lit; ++y) lit = img.at(xcol, y) != heat_colour(0);
    INFO("column " << xcol);
    CHECK(lit);
  }
}

TEST_CASE("the excerpt is the loudest stretch", "[report]") {
  std::vector<float> m(1200, -40.f);                // 120 s of momentary loudness, 100 ms steps
  for (size_t i = 450; i < 750; ++i) m[i] = -10.f;  // loud from 45 s to 75 s
  const double s = loudest_start_s(m, 30);
  CHECK(std::fabs(s - 44.7) <= 0.2);    // the 400 ms blocks reach back 0.3 s before a step's start
  CHECK(loudest_start_s(m, 200) == 0);  // shorter than the excerpt: from the start
  CHECK(loudest_start_s({}, 30) == 0);
}
