// Unit tests of rz::dsp::fft_convolve and find_delay against direct sums on small signals.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rz/dsp/convolve.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::fft_convolve;
using rz::dsp::find_delay;

// float32 FFTs of up to 2^15 points: each output of the overlap-add carries a rounding error of a
// few ulp times log2(n) of the block's energy scale, sqrt(sum x^2 * sum h^2) (Cauchy-Schwarz bound
// of one output); 1e-5 of that scale is ~10x the largest error seen and far below any indexing
// mistake (which errs by a whole term, ~1/sqrt(h) of that scale).
constexpr double kConvolveRelTol = 1e-5;

// y[n] = sum_k h[k] x[n - k] by the definition, in double.
std::vector<double> direct_convolve(const std::vector<float>& x, const std::vector<float>& h) {
  std::vector<double> y(x.size() + h.size() - 1, 0.0);
  for (size_t i = 0; i < x.size(); ++i)
    for (size_t k = 0; k < h.size(); ++k) y[i + k] += double(x[i]) * h[k];
  return y;
}

double energy(const std::vector<float>& x) {
  double e = 0;
  for (float v : x) e += double(v) * v;
  return e;
}

// x delayed by `d` frames (d may be negative), zero-filled, same length.
std::vector<float> delayed(const std::vector<float>& x, int64_t d) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(x.size(), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    if (i - d >= 0 && i - d < n) y[static_cast<size_t>(i)] = x[static_cast<size_t>(i - d)];
  return y;
}

}  // namespace

TEST_CASE("convolve: fft_convolve equals the direct sum for short and long filters",
          "[unit][dsp][convolve]") {
  // Filter lengths below, at and above the smallest FFT block, and inputs shorter than one block
  // and spanning several.
  for (size_t m : {1u, 7u, 4097u, 9000u}) {
    for (size_t nx : {5u, 3000u, 40000u}) {
      const auto x = rz::test::white_noise(0.3, static_cast<int64_t>(nx), 1, 11 + nx);
      const auto h = rz::test::white_noise(0.1, static_cast<int64_t>(m), 1, 7 + m);
      const auto y = fft_convolve(x, h);
      const auto ref = direct_convolve(x, h);
      REQUIRE(y.size() == nx + m - 1);
      const double scale = std::sqrt(energy(x) * energy(h));
      double worst = 0;
      for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(y[i] - ref[i]));
      INFO("m " << m << ", x " << nx << ", worst error " << worst << ", scale " << scale);
      CHECK(worst <= kConvolveRelTol * scale);
    }
  }
}

TEST_CASE("convolve: an impulse filter delays, empty inputs give nothing",
          "[unit][dsp][convolve]") {
  const auto x = rz::test::white_noise(0.5, 20000, 1, 3);
  std::vector<float> h(301, 0.0f);
  h[300] = 1.0f;
  const auto y = fft_convolve(x, h);
  REQUIRE(y.size() == x.size() + 300);
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double want = i >= 300 ? x[i - 300] : 0.0;
    worst = std::max(worst, std::fabs(y[i] - want));
  }
  CHECK(worst <= kConvolveRelTol * std::sqrt(energy(x)));
  CHECK(fft_convolve({}, h).empty());
  CHECK(fft_convolve(x, {}).empty());
}

TEST_CASE("convolve: find_delay recovers positive and negative lags through noise",
          "[unit][dsp][convolve]") {
  const auto x = rz::test::white_noise(0.3, 30000, 1, 5);
  const auto noise = rz::test::white_noise(0.3, 30000, 1, 6);  // 0 dB SNR on top
  for (int64_t d : {0, 1, 123, -45, 1105, -2000}) {
    auto y = delayed(x, d);
    for (size_t i = 0; i < y.size(); ++i) y[i] += noise[i];
    CHECK(find_delay(x, y, 4096) == d);
  }
  // A lag beyond max_lag is not found; silence and empty signals give 0.
  CHECK(std::llabs(find_delay(x, delayed(x, 3000), 1000)) <= 1000);
  CHECK(find_delay(x, std::vector<float>(30000, 0.0f), 100) == 0);
  CHECK(find_delay({}, x, 100) == 0);
}
