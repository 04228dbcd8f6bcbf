// Unit tests of rz::dsp's linear-phase high-pass design and the overlap-save FIR filter.
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <vector>

#include "rz/dsp/fir.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

constexpr int kRate = 44100;
// The Blackman window smooths the sampled Butterworth magnitude over about 3 grid bins (a sixth of
// the corner frequency): near the corner the response stays within 0.15 dB of the formula.
constexpr double kCornerTolDb = 0.15;
// Far in the pass band the windowed design is flat to the window's ripple: below 0.01 dB.
constexpr double kPassbandTolDb = 0.01;
// One octave under the corner the skirt (-24 dB for order 4) is matched within 1 dB.
constexpr double kSkirtTolDb = 1.0;
// A 1 kHz tone through the FFT convolution: float32 FFTs of 65536 points keep the error ~1e-6
// relative; -90 dB leaves margin.
constexpr double kToneErrorDb = -90.0;

double butterworth_db(double f, double fc, int order) {
  return -10.0 * std::log10(1.0 + std::pow(fc / f, 2.0 * order));
}

double response_db(const std::vector<float>& h, double f) {
  std::complex<double> s = 0;
  for (size_t i = 0; i < h.size(); ++i)
    s += static_cast<double>(h[i]) * std::polar(1.0, -2.0 * M_PI * f * static_cast<double>(i) / kRate);
  return 20.0 * std::log10(std::abs(s));
}

}  // namespace

TEST_CASE("fir: linear-phase high-pass follows the Butterworth magnitude", "[unit][fir]") {
  for (int order : {2, 4}) {
    for (double fc : {25.0, 90.0}) {
      INFO("order " << order << ", corner " << fc << " Hz");
      const auto h = rz::dsp::linear_phase_highpass(kRate, fc, order);
      REQUIRE(h.size() % 2 == 1);
      bool symmetric = true;  // exactly: the phase is then exactly linear
      for (size_t i = 0; i < h.size() / 2; ++i) symmetric = symmetric && h[i] == h[h.size() - 1 - i];
      CHECK(symmetric);
      CHECK(response_db(h, fc) == Approx(butterworth_db(fc, fc, order)).margin(kCornerTolDb));
      CHECK(response_db(h, 2 * fc) == Approx(butterworth_db(2 * fc, fc, order)).margin(kCornerTolDb));
      CHECK(response_db(h, fc / 2) == Approx(butterworth_db(fc / 2, fc, order)).margin(kSkirtTolDb));
      CHECK(std::abs(response_db(h, 1000.0)) < kPassbandTolDb);
      CHECK(std::abs(response_db(h, 10000.0)) < kPassbandTolDb);
    }
  }
  CHECK_THROWS_AS(rz::dsp::linear_phase_highpass(kRate, 0.0, 4), rz::UsageError);
  CHECK_THROWS_AS(rz::dsp::linear_phase_highpass(kRate, 25.0, 0), rz::UsageError);
}

TEST_CASE("fir: the filter is a pure delay in the pass band and streams exactly", "[unit][fir]") {
  const auto h = rz::dsp::linear_phase_highpass(kRate, 25.0, 4);
  rz::dsp::FirFilter f(2, h);
  const size_t lat = f.latency_frames();
  const int64_t frames = static_cast<int64_t>(lat) + 3 * kRate;
  const auto x = rz::test::sine(1000.0, 0.5, kRate, frames, 2);
  std::vector<float> y(x.size());
  f.process(x.data(), y.data(), static_cast<size_t>(frames));
  double err = 0, sig = 0;
  for (size_t i = lat * 2 + static_cast<size_t>(kRate) * 2; i < y.size(); ++i) {  // after 1 s
    const double d = y[i] - x[i - lat * 2];
    err += d * d;
    sig += static_cast<double>(x[i]) * x[i];
  }
  CHECK(10.0 * std::log10(err / sig) < kToneErrorDb);
  // Impulse: the taps come out after one block of buffering.
  rz::dsp::FirFilter g(1, h);
  std::vector<float> imp(lat + h.size(), 0.0f), out(imp.size());
  imp[0] = 1.0f;
  g.process(imp.data(), out.data(), imp.size());
  const size_t block = lat - (h.size() - 1) / 2;
  for (size_t i = 0; i < h.size(); i += 97) CHECK(out[block + i] == Approx(h[i]).margin(1e-6));
  // Odd block sizes give the same output bit for bit.
  rz::dsp::FirFilter a(2, h), b(2, h);
  std::vector<float> ya(x.size()), yb(x.size());
  a.process(x.data(), ya.data(), static_cast<size_t>(frames));
  size_t pos = 0;
  for (size_t n : {1, 7, 4097, 65537, 100000}) {
    n = std::min(n, static_cast<size_t>(frames) - pos);
    b.process(x.data() + pos * 2, yb.data() + pos * 2, n);
    pos += n;
  }
  b.process(x.data() + pos * 2, yb.data() + pos * 2, static_cast<size_t>(frames) - pos);
  CHECK(ya == yb);
}
