// Unit tests of rz::dsp: real FFT, Hann window, streaming power spectra (Parseval), RBJ biquads,
// the blocks' statistics() for the manifest.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <initializer_list>
#include <string>
#include <vector>

#include "rz/dsp/bandwidth.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/declip.hpp"
#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/fir.hpp"
#include "rz/dsp/stft.hpp"
#include "rz/dsp/subbass.hpp"
#include "rz/dsp/wpe.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::BiquadChain;
using rz::dsp::BiquadCoeffs;
using rz::dsp::PowerSpectrumStream;
using rz::dsp::RealFft;

// float32 FFT round trip: each of log2(n) butterfly stages adds ~1 ulp (6e-8) relative error; for
// n = 1024 the worst sample error stays below 1e-5 of the signal's peak.
constexpr double kFftRoundTripTol = 1e-5;
// Relative float32 accuracy of one FFT bin of a bin-centred sine (same argument as above).
constexpr double kFftBinRelTol = 1e-4;
// Leakage of a bin-centred sine into other bins is rounding noise only: -80 dB re the peak bin is
// ~30 dB above float32 noise and ~80 dB below any real leakage of a Hann-less off-bin sine.
constexpr double kFftLeakageRel = 1e-4;
// The window is computed in double and rounded to float: 1 ulp at 1.0 is 6e-8.
constexpr double kWindowTol = 1e-6;
// Parseval identity in float32 FFTs of 2048 points, summed over 1025 bins in double: ~1e-5
// relative.
constexpr double kParsevalRelTol = 1e-4;
// Window-weighted mean square of a sine with ~43 cycles per frame differs from A^2/2 by the
// cos(2wt) term weighted by the (smooth) squared window: far below 1e-3 relative.
constexpr double kSineMeanSquareRelTol = 1e-3;
// 100 non-overlapping 2048-frames of Gaussian noise: the window-weighted mean square has a relative
// standard deviation of about sqrt(2 / (0.5 * 204800)) = 0.45 %; 2 % is more than 4 sigma.
constexpr double kNoiseMeanSquareRelTol = 0.02;
// Biquad responses evaluated in double precision: agreement with closed forms to 1e-9 dB.
constexpr double kResponseTolDb = 1e-9;
// Butterworth Qs quoted to 4 significant digits (0.5098, 0.6013, 0.9000, 2.5629): the product of
// the four section gains at fc is 1/sqrt(2) to about 1e-4 relative, i.e. within 0.001 dB.
constexpr double kButterworthQRoundingDb = 0.001;
// A double zero of the transfer function: |H| is 0 up to double rounding.
constexpr double kZeroDb = -200.0;
// Analog 8th-order Butterworth at fc/2: -10 log10(1 + 2^-16) = -7e-5 dB; the digital one is
// flatter.
constexpr double kPassbandFlatDb = 0.001;
// The power_scale() closed form n * sum w^2, recomputed here in double from the same float window.
constexpr double kScaleRelTol = 1e-12;
// A chain run in float32 I/O on a steady sine: amplitude measured by projection over whole cycles
// after the transient has decayed agrees with the analytic response to float32 precision; 0.001 dB
// (1e-4 relative) leaves room for the residual decay of the slowest pole.
constexpr double kChainSineTolDb = 0.001;

double db(double linear) { return 20.0 * std::log10(linear); }

}  // namespace

TEST_CASE("dsp: RealFft inverse(forward(x)) reproduces x", "[unit][dsp]") {
  for (int n : {2, 16, 1000, 1024}) {
    INFO("n = " << n);
    RealFft fft(n);
    CHECK(fft.size() == n);
    auto x = rz::test::white_noise(0.3, n, 1, 42);
    std::vector<std::complex<float>> spectrum(n / 2 + 1);
    std::vector<float> y(n);
    fft.forward(x.data(), spectrum.data());
    fft.inverse(spectrum.data(), y.data());
    double peak = 0, worst = 0;
    for (int i = 0; i < n; ++i) {
      peak = std::max(peak, std::fabs(double(x[i])));
      worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
    }
    CHECK(worst <= kFftRoundTripTol * peak);
  }
}

TEST_CASE("dsp: RealFft rejects odd and tiny sizes", "[unit][dsp]") {
  CHECK_THROWS_AS(RealFft(7), rz::Error);
  CHECK_THROWS_AS(RealFft(0), rz::Error);
  CHECK_THROWS_AS(RealFft(1), rz::Error);
}

TEST_CASE("dsp: RealFft puts a bin-centred sine into its bin", "[unit][dsp]") {
  constexpr int kN = 1024;
  constexpr int kBin = 37;
  constexpr double kAmplitude = 0.8;
  RealFft fft(kN);
  // A sine of exactly kBin cycles per frame: X[kBin] = -i A n / 2, every other bin 0.
  auto x = rz::test::sine(kBin, kAmplitude, kN, kN);
  std::vector<std::complex<float>> X(kN / 2 + 1);
  fft.forward(x.data(), X.data());
  const double expected = kAmplitude * kN / 2;
  CHECK(std::abs(X[kBin]) == Approx(expected).epsilon(kFftBinRelTol));
  CHECK(X[kBin].imag() == Approx(-expected).epsilon(kFftBinRelTol));  // sine: -i
  CHECK(std::fabs(X[kBin].real()) <= kFftLeakageRel * expected);
  double leak = 0;
  for (int k = 0; k <= kN / 2; ++k) {
    if (k != kBin) leak = std::max(leak, double(std::abs(X[k])));
  }
  CHECK(leak <= kFftLeakageRel * expected);

  // A constant lands in bin 0 as n * value.
  std::vector<float> dc(kN, 0.25f);
  fft.forward(dc.data(), X.data());
  CHECK(X[0].real() == Approx(0.25 * kN).epsilon(kFftBinRelTol));
  CHECK(std::abs(X[1]) <= kFftLeakageRel * 0.25 * kN);
}

TEST_CASE("dsp: hann_window is the periodic Hann window", "[unit][dsp]") {
  constexpr int kN = 2048;
  const auto w = rz::dsp::hann_window(kN);
  REQUIRE(w.size() == static_cast<size_t>(kN));
  CHECK(w[0] == 0.0f);
  CHECK(w[kN / 2] == Approx(1.0).margin(kWindowTol));
  CHECK(w[kN / 4] == Approx(0.5).margin(kWindowTol));
  double sum = 0, sum_sq = 0, worst_symmetry = 0, worst_cola = 0;
  for (int i = 0; i < kN; ++i) {
    sum += w[i];
    sum_sq += double(w[i]) * w[i];
    if (i > 0) worst_symmetry = std::max(worst_symmetry, std::fabs(double(w[i]) - w[kN - i]));
    // Periodic Hann at 50 % overlap sums to exactly 1 (constant overlap-add).
    if (i < kN / 2)
      worst_cola = std::max(worst_cola, std::fabs(double(w[i]) + w[i + kN / 2] - 1.0));
  }
  CHECK(worst_symmetry <= kWindowTol);
  CHECK(worst_cola <= kWindowTol);
  CHECK(sum == Approx(kN / 2.0).margin(kN * kWindowTol));           // mean 1/2
  CHECK(sum_sq == Approx(3.0 * kN / 8.0).margin(kN * kWindowTol));  // mean square 3/8
}

TEST_CASE("dsp: PowerSpectrumStream frames every hop from sample 0, any block sizes",
          "[unit][dsp]") {
  constexpr int kN = 256;
  constexpr int kHop = 128;
  constexpr int kFrames = 1000;
  auto x = rz::test::white_noise(0.2, kFrames, 1, 9);

  // Reference: the windowed FFT of x[j*hop, j*hop + n), zero padded past the end.
  RealFft fft(kN);
  const auto w = rz::dsp::hann_window(kN);
  auto reference = [&](int start) {
    std::vector<float> frame(kN, 0.0f);
    for (int i = 0; i < kN && start + i < kFrames; ++i) frame[i] = x[start + i] * w[i];
    std::vector<std::complex<float>> X(kN / 2 + 1);
    fft.forward(frame.data(), X.data());
    std::vector<double> p(kN / 2 + 1);
    for (int k = 0; k <= kN / 2; ++k) p[k] = std::norm(X[k]);
    return p;
  };

  for (int block : {1, 7, 128, 333, kFrames}) {
    INFO("block " << block);
    PowerSpectrumStream stream(kN, kHop);
    REQUIRE(stream.bins() == kN / 2 + 1);
    std::vector<std::vector<double>> got;
    auto collect = [&](const float* p) { got.emplace_back(p, p + kN / 2 + 1); };
    for (int pos = 0; pos < kFrames; pos += block) {
      stream.push(x.data() + pos, std::min(block, kFrames - pos), 1, collect);
    }
    // Complete frames start at 0, 128, ..., 640 (the last one ending at 896 <= 1000).
    CHECK(got.size() == 6);
    stream.flush(collect);
    // flush() zero-pads the partial frame starting at 768.
    REQUIRE(got.size() == 7);
    for (size_t f = 0; f < got.size(); ++f) {
      const auto ref = reference(static_cast<int>(f) * kHop);
      double worst = 0, total = 0;
      for (int k = 0; k <= kN / 2; ++k) {
        worst = std::max(worst, std::fabs(got[f][k] - ref[k]));
        total += ref[k];
      }
      INFO("frame " << f);
      CHECK(worst <= kParsevalRelTol * total);
    }
    // A second flush emits nothing more.
    stream.flush(collect);
    CHECK(got.size() == 7);
  }
}

TEST_CASE("dsp: PowerSpectrumStream reads one channel of interleaved input", "[unit][dsp]") {
  constexpr int kN = 64;
  auto left = rz::test::white_noise(0.5, 640, 1, 3);
  auto right = rz::test::sine(1000, 0.5, 48000, 640);
  std::vector<float> stereo(2 * 640);
  for (int i = 0; i < 640; ++i) {
    stereo[2 * i] = left[i];
    stereo[2 * i + 1] = right[i];
  }
  PowerSpectrumStream mono_stream(kN, kN / 2), stereo_stream(kN, kN / 2);
  std::vector<float> a, b;
  mono_stream.push(right.data(), 640, 1,
                   [&](const float* p) { a.insert(a.end(), p, p + kN / 2 + 1); });
  stereo_stream.push(stereo.data() + 1, 640, 2,
                     [&](const float* p) { b.insert(b.end(), p, p + kN / 2 + 1); });
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  CHECK(a == b);  // the same samples through the same arithmetic: bit-identical
}

TEST_CASE("dsp: PowerSpectrumStream Parseval with power_scale()", "[unit][dsp]") {
  // fft.hpp: sum_k power[k] * weight(k) / power_scale() is the mean square of the windowed frame,
  // weight 1 at DC and Nyquist and 2 between (one-sided spectrum). As implemented (fft.cpp:
  // power_scale = n * sum w^2) that is the window-power-normalised mean square
  // sum (x w)^2 / sum w^2, which estimates the signal's mean square (what analysis.cpp and
  // compare.cpp rely on). Checked exactly per frame, and against the signal's known power.
  constexpr int kN = 2048;
  constexpr int kRate = 48000;
  constexpr int kFramesPerSignal = 100;
  const auto w = rz::dsp::hann_window(kN);
  double sum_w2 = 0;
  for (float v : w) sum_w2 += double(v) * v;

  struct Signal {
    const char* name;
    std::vector<float> x;
    double mean_square;
    double tol;  // relative, see kNoiseMeanSquareRelTol and kSineMeanSquareRelTol
  };
  constexpr double kSigma = 0.1;
  constexpr double kAmplitude = 0.7;
  const Signal signals[] = {
      {"white noise", rz::test::white_noise(kSigma, kN * kFramesPerSignal, 1, 77), kSigma * kSigma,
       kNoiseMeanSquareRelTol},
      {"1 kHz sine", rz::test::sine(1000.0, kAmplitude, kRate, kN * kFramesPerSignal),
       kAmplitude * kAmplitude / 2, kSineMeanSquareRelTol},
  };
  for (const Signal& s : signals) {
    INFO(s.name);
    PowerSpectrumStream stream(kN, kN);  // hop = n: frames tile the signal
    std::vector<double> estimates;
    const int bins = stream.bins();
    stream.push(s.x.data(), s.x.size(), 1, [&](const float* p) {
      double acc = 0;
      for (int k = 0; k < bins; ++k) acc += p[k] * ((k == 0 || k == bins - 1) ? 1.0 : 2.0);
      estimates.push_back(acc / stream.power_scale());
    });
    REQUIRE(estimates.size() == static_cast<size_t>(kFramesPerSignal));
    CHECK(stream.power_scale() == Approx(kN * sum_w2).epsilon(kScaleRelTol));
    double mean_estimate = 0;
    for (size_t f = 0; f < estimates.size(); ++f) {
      double windowed = 0;
      for (int i = 0; i < kN; ++i) {
        const double v = double(s.x[f * kN + i]) * w[i];
        windowed += v * v;
      }
      CHECK(estimates[f] == Approx(windowed / sum_w2).epsilon(kParsevalRelTol));
      mean_estimate += estimates[f] / estimates.size();
    }
    CHECK(mean_estimate == Approx(s.mean_square).epsilon(s.tol));
  }
}

TEST_CASE("dsp: lowpass and highpass responses at DC, corner and Nyquist", "[unit][dsp]") {
  constexpr double kRate = 48000;
  for (double fc : {100.0, 1000.0, 10000.0}) {
    INFO("fc " << fc);
    const auto lp = BiquadCoeffs::lowpass(kRate, fc);
    const auto hp = BiquadCoeffs::highpass(kRate, fc);
    // RBJ low/high-pass: |H(fc)| = Q exactly (bilinear transform prewarped at fc), so the
    // Butterworth Q 1/sqrt(2) is -3.0103 dB at the corner.
    CHECK(lp.magnitude_db(kRate, fc) == Approx(db(M_SQRT1_2)).margin(kResponseTolDb));
    CHECK(hp.magnitude_db(kRate, fc) == Approx(db(M_SQRT1_2)).margin(kResponseTolDb));
    CHECK(lp.magnitude_db(kRate, 0) == Approx(0.0).margin(kResponseTolDb));
    CHECK(hp.magnitude_db(kRate, kRate / 2) == Approx(0.0).margin(kResponseTolDb));
    // Double zeros at Nyquist (low-pass) and DC (high-pass).
    CHECK(lp.magnitude_db(kRate, kRate / 2) < kZeroDb);
    CHECK(hp.magnitude_db(kRate, 0) < kZeroDb);
    // Second order: from 4 fc to 8 fc the analog prototype falls 10 log10(4097 / 257) = 12.03 dB;
    // the bilinear transform only steepens it.
    if (8 * fc < 0.45 * kRate) {
      CHECK(lp.magnitude_db(kRate, 4 * fc) - lp.magnitude_db(kRate, 8 * fc) >= 12.0);
    }
    const auto resonant = BiquadCoeffs::lowpass(kRate, fc, 2.0);
    CHECK(resonant.magnitude_db(kRate, fc) == Approx(db(2.0)).margin(kResponseTolDb));
  }
}

TEST_CASE("dsp: 8th-order Butterworth from four sections is -3.01 dB at fc", "[unit][dsp]") {
  constexpr double kRate = 48000;
  const double qs[] = {0.5098, 0.6013, 0.9000, 2.5629};
  for (double fc : {4000.0, 11000.0}) {
    double at_fc = 0, at_double = 0, at_half = 0;
    for (double q : qs) {
      const auto c = BiquadCoeffs::lowpass(kRate, fc, q);
      at_fc += c.magnitude_db(kRate, fc);
      at_half += c.magnitude_db(kRate, fc / 2);
      at_double += c.magnitude_db(kRate, std::min(2 * fc, 0.49 * kRate));
    }
    CHECK(at_fc == Approx(db(M_SQRT1_2)).margin(kButterworthQRoundingDb));
    CHECK(at_half == Approx(0.0).margin(kPassbandFlatDb));  // maximally flat
    CHECK(at_double < -48.0);  // 8th order: 48 dB per octave (analog), more after the bilinear map
  }
}

TEST_CASE("dsp: butterworth_lowpass and _highpass: -3.01 dB at fc, flat, 6 dB/octave per order",
          "[unit][dsp]") {
  constexpr double kRate = 44100;
  for (int order : {2, 4, 8}) {
    for (double fc : {120.0, 3400.0, 16000.0}) {
      const auto lp = rz::dsp::butterworth_lowpass(kRate, fc, order);
      const auto hp = rz::dsp::butterworth_highpass(kRate, fc, order);
      REQUIRE(lp.size() == static_cast<size_t>(order / 2));
      REQUIRE(hp.size() == static_cast<size_t>(order / 2));
      auto response = [&](const std::vector<BiquadCoeffs>& sections, double f) {
        double sum = 0;
        for (const auto& c : sections) sum += c.magnitude_db(kRate, f);
        return sum;
      };
      INFO("order " << order << ", fc " << fc);
      // Exact Qs (no rounding): the cascade's corner is 1/sqrt(2) to double precision.
      CHECK(response(lp, fc) == Approx(db(M_SQRT1_2)).margin(1e-9));
      CHECK(response(hp, fc) == Approx(db(M_SQRT1_2)).margin(1e-9));
      // Maximally flat: 1.5 octaves inside the passband the analog loss is
      // 10 log10(1 + 2.83^(-2 order)) <= 0.07 dB; the bilinear map only flattens it further.
      CHECK(response(lp, fc / 2.83) > -0.07);
      if (fc * 2.83 < kRate / 2) CHECK(response(hp, fc * 2.83) > -0.07);
      // Stopband: one octave out the analog filter is down 10 log10(1 + 2^(2 order)), about
      // 6.02 dB per order. The bilinear map steepens both as the frequency nears Nyquist (it
      // compresses the analog axis there); at 120 Hz it is the analog filter to 0.05 dB.
      const double octave_down = -10 * std::log10(1 + std::pow(2.0, 2 * order));
      CHECK(response(hp, fc / 2) < octave_down + 0.05);
      if (fc < 1000) CHECK(response(hp, fc / 2) == Approx(octave_down).margin(0.05));
      if (2 * fc < kRate / 2) CHECK(response(lp, 2 * fc) < octave_down + 0.05);
    }
  }
  CHECK_THROWS_AS(rz::dsp::butterworth_lowpass(kRate, 1000, 3), rz::UsageError);
  CHECK_THROWS_AS(rz::dsp::butterworth_highpass(kRate, 1000, 18), rz::UsageError);
  CHECK_THROWS_AS(rz::dsp::butterworth_lowpass(kRate, 22050, 8), rz::UsageError);
  CHECK_THROWS_AS(rz::dsp::butterworth_highpass(kRate, 0, 4), rz::UsageError);
}

TEST_CASE("dsp: shelf and peaking gains", "[unit][dsp]") {
  constexpr double kRate = 44100;
  for (double gain : {-12.0, 6.0}) {
    INFO("gain " << gain);
    const auto low = BiquadCoeffs::low_shelf(kRate, 200, gain);
    const auto high = BiquadCoeffs::high_shelf(kRate, 5000, gain);
    const auto peak = BiquadCoeffs::peaking(kRate, 1000, 1.0, gain);
    CHECK(low.magnitude_db(kRate, 0) == Approx(gain).margin(kResponseTolDb));
    CHECK(low.magnitude_db(kRate, kRate / 2) == Approx(0.0).margin(kResponseTolDb));
    CHECK(low.magnitude_db(kRate, 200) == Approx(gain / 2).margin(kResponseTolDb));  // midpoint
    CHECK(high.magnitude_db(kRate, kRate / 2) == Approx(gain).margin(kResponseTolDb));
    CHECK(high.magnitude_db(kRate, 0) == Approx(0.0).margin(kResponseTolDb));
    CHECK(high.magnitude_db(kRate, 5000) == Approx(gain / 2).margin(kResponseTolDb));
    CHECK(peak.magnitude_db(kRate, 1000) == Approx(gain).margin(kResponseTolDb));
    CHECK(peak.magnitude_db(kRate, 0) == Approx(0.0).margin(kResponseTolDb));
    CHECK(peak.magnitude_db(kRate, kRate / 2) == Approx(0.0).margin(kResponseTolDb));
  }
  // 0 dB shelves and peaks are the identity.
  const auto flat = BiquadCoeffs::peaking(kRate, 1000, 0.7, 0.0);
  CHECK(flat.b0 == Approx(1.0).margin(kResponseTolDb));
  CHECK(flat.magnitude_db(kRate, 3000) == Approx(0.0).margin(kResponseTolDb));
}

TEST_CASE("dsp: BiquadChain on a sine matches magnitude_db", "[unit][dsp]") {
  constexpr int kRate = 48000;
  constexpr int kFrames = kRate;  // 1 s
  constexpr double kAmplitude = 0.25;
  const BiquadCoeffs stages[] = {BiquadCoeffs::peaking(kRate, 2000, 1.5, 6.0),
                                 BiquadCoeffs::lowpass(kRate, 5000),
                                 BiquadCoeffs::high_shelf(kRate, 8000, -4.0)};
  for (double f : {300.0, 2000.0, 6000.0, 12000.0}) {
    INFO("f " << f);
    BiquadChain chain(1);
    CHECK(chain.empty());
    double expected_db = 0;
    for (const auto& s : stages) {
      chain.add(s);
      expected_db += s.magnitude_db(kRate, f);
    }
    CHECK_FALSE(chain.empty());
    auto x = rz::test::sine(f, kAmplitude, kRate, kFrames);
    chain.process(x.data(), kFrames);
    // Skip 0.5 s of transient; f * 0.5 s is a whole number of cycles for these frequencies.
    const double a = rz::test::tone_amplitude(x, kFrames / 2, kFrames, f, kRate);
    CHECK(db(a / kAmplitude) == Approx(expected_db).margin(kChainSineTolDb));
  }
}

TEST_CASE("dsp: BiquadChain keeps state across blocks and channels apart", "[unit][dsp]") {
  constexpr int kRate = 44100;
  constexpr int kFrames = 5000;
  auto noise = rz::test::white_noise(0.3, kFrames, 1, 5);
  auto make = [&](int channels) {
    BiquadChain c(channels);
    c.add(BiquadCoeffs::highpass(kRate, 80));
    c.add(BiquadCoeffs::peaking(kRate, 3000, 2.0, -5.0));
    return c;
  };
  std::vector<float> whole = noise;
  make(1).process(whole.data(), kFrames);

  std::vector<float> blocks = noise;
  BiquadChain chain = make(1);
  for (int pos = 0, n = 1; pos < kFrames; pos += n, n = n * 3 % 997 + 1) {
    chain.process(blocks.data() + pos, std::min(n, kFrames - pos));
  }
  CHECK(blocks == whole);  // same arithmetic in the same order: bit-identical

  // Stereo: channel 0 carries the noise, channel 1 silence; they must not leak into each other.
  std::vector<float> stereo(2 * kFrames, 0.0f);
  for (int i = 0; i < kFrames; ++i) stereo[2 * i] = noise[i];
  make(2).process(stereo.data(), kFrames);
  bool left_same = true, right_silent = true;
  for (int i = 0; i < kFrames; ++i) {
    left_same = left_same && stereo[2 * i] == whole[i];
    right_silent = right_silent && stereo[2 * i + 1] == 0.0f;
  }
  CHECK(left_same);
  CHECK(right_silent);
}

namespace {

constexpr int kStatsRate = 44100;

// 3 s of a bass-rich stereo test signal: a 55 Hz sawtooth-like note (partials 2..8, as behind a
// phone's 100 Hz cut), a 5 kHz tone and white noise, peaking near -3 dBFS.
std::vector<float> statistics_signal() {
  const int64_t frames = 3 * kStatsRate;
  std::vector<float> x = rz::test::white_noise(0.02, frames, 2, 7);
  for (int h = 2; h <= 8; ++h) {
    const std::vector<float> p = rz::test::sine(55.0 * h, 0.25 / h, kStatsRate, frames, 2);
    for (size_t i = 0; i < x.size(); ++i) x[i] += p[i];
  }
  const std::vector<float> t = rz::test::sine(5000, 0.1, kStatsRate, frames, 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] += t[i];
  return x;
}

// Runs `p` over the signal (in uneven blocks) and checks statistics(): a JSON object with exactly
// `keys`, each a finite number (levels of silence are written as -200, never as infinity).
void check_statistics(rz::dsp::Processor& p, std::vector<float> x,
                      std::initializer_list<const char*> keys) {
  const size_t frames = x.size() / 2;
  for (size_t pos = 0, n = 1000; pos < frames; pos += n, n = n * 3 % 7919 + 1)
    p.process(x.data() + 2 * pos, x.data() + 2 * pos, std::min(n, frames - pos));
  const nlohmann::json j = p.statistics();
  REQUIRE(j.is_object());
  CHECK(j.size() == keys.size());
  for (const char* key : keys) {
    INFO(key);
    REQUIRE(j.contains(key));
    REQUIRE(j[key].is_number());
    CHECK(std::isfinite(j[key].get<double>()));
  }
}

}  // namespace

TEST_CASE("dsp: Denoiser::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::Denoiser d(2, kStatsRate, {}, rz::dsp::NoiseSource::kBlind);
  check_statistics(d, statistics_signal(),
                   {"energy_change_db", "mean_noise_dbfs", "gain_flux_db", "isolated_peak_ratio"});
}

TEST_CASE("dsp: Compressor::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::Compressor c(2, kStatsRate, {});
  check_statistics(c, statistics_signal(), {"max_reduction_db", "mean_reduction_db"});
  CHECK(c.statistics()["max_reduction_db"].get<double>() > 0);  // the signal crosses -18 dBFS
}

TEST_CASE("dsp: DynamicEq::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::DynamicEqSettings s;
  s.freq_hz = 5000;
  rz::dsp::DynamicEq e(2, kStatsRate, s);
  check_statistics(e, statistics_signal(), {"max_cut_db", "active_ratio"});
  CHECK(e.statistics()["max_cut_db"].get<double>() == e.max_cut_db_applied());
}

TEST_CASE("dsp: Exciter::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::Exciter x(2, kStatsRate, {});
  check_statistics(x, statistics_signal(), {"added_energy_db"});
  // Before any input the added energy is -inf: written as -200.
  CHECK(rz::dsp::Exciter(2, kStatsRate, {}).statistics()["added_energy_db"].get<double>() == -200);
}

TEST_CASE("dsp: Declipper::statistics() has the manifest's keys", "[unit][dsp]") {
  std::vector<float> x = statistics_signal();
  for (float& v : x) v = std::clamp(v, -0.3f, 0.3f);
  rz::dsp::ClipDetector detector(2, kStatsRate);
  detector.add(x.data(), x.size() / 2);
  const rz::dsp::ClipReport report = detector.finish();
  REQUIRE(report.found);
  rz::dsp::Declipper d(2, kStatsRate, report);
  check_statistics(d, x,
                   {"restored_samples", "restored_runs", "skipped_runs", "max_restored_peak_db"});
  CHECK(d.statistics()["restored_samples"].is_number_integer());
}

TEST_CASE("dsp: SubBassSynth::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::SubBassSettings s;
  s.low_cut_hz = 100;
  rz::dsp::SubBassSynth b(2, kStatsRate, s);
  check_statistics(
      b, statistics_signal(),
      {"added_energy_db", "active_ratio", "mean_f0_hz", "contradicted_ratio", "dyad_ratio"});
}

TEST_CASE("dsp: HfRegenerator::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::HfRegenSettings s;
  s.cutoff_hz = 8000;
  rz::dsp::HfRegenerator h(2, kStatsRate, s);
  check_statistics(h, statistics_signal(),
                   {"added_energy_db", "active_ratio", "tilt_db_per_octave", "flatness_db"});
}

TEST_CASE("dsp: Dereverberator::statistics() has the manifest's keys", "[unit][dsp]") {
  rz::dsp::WpeSettings s;
  s.block_s = 0.5;
  s.threads = 1;
  rz::dsp::Dereverberator w(2, kStatsRate, s);
  check_statistics(w, statistics_signal(), {"removed_energy_db", "tonal_limited_ratio"});
}

TEST_CASE("dsp: blocks without measurements report null statistics", "[unit][dsp]") {
  CHECK(rz::dsp::TransientShaper(2, kStatsRate, {}).statistics().is_null());
  CHECK(rz::dsp::FirFilter(2, std::vector<float>{0.5f, 0.5f}).statistics().is_null());
}

namespace {

// Analysis and synthesis in float32 with a 1024-point FFT: each sample goes through two FFTs and
// four overlapping frames; the worst reconstruction error stays below 1e-5 of the signal's peak
// (see kFftRoundTripTol), the same margin.
constexpr double kStftReconstructionTol = 1e-5;

// Runs x (interleaved, `channels`) through analysis and synthesis with unchanged spectra, pushed
// in blocks whose sizes cycle through `block_sizes`.
std::vector<float> stft_identity(const std::vector<float>& x, int channels, int n, int hop,
                                 const std::vector<size_t>& block_sizes) {
  rz::dsp::StftAnalysis analysis(channels, n, hop, rz::dsp::hann_window(n));
  rz::dsp::StftSynthesis synthesis(channels, n, hop, rz::dsp::hann_window(n),
                                   rz::dsp::StftSynthesis::ola_scale(rz::dsp::hann_window(n), hop));
  const size_t frames = x.size() / channels;
  std::vector<float> y;
  y.reserve(x.size());
  std::vector<float> hop_out(static_cast<size_t>(hop) * channels);
  size_t pos = 0;
  for (size_t b = 0; pos < frames; ++b) {
    const size_t m = std::min(block_sizes[b % block_sizes.size()], frames - pos);
    analysis.push(x.data() + pos * channels, m, [&] {
      for (int c = 0; c < channels; ++c)
        synthesis.add(c, analysis.spectrum(c), hop_out.data() + c, channels);
      y.insert(y.end(), hop_out.begin(), hop_out.end());
    });
    pos += m;
  }
  return y;
}

}  // namespace

TEST_CASE("dsp: STFT analysis and synthesis reproduce the input, fft_size - hop frames later",
          "[unit][dsp]") {
  const int n = 1024, channels = 2;
  for (int hop : {n / 4, n / 8}) {  // the squared Hann window overlap-adds to a constant
    INFO("hop " << hop);
    const std::vector<float> x = rz::test::white_noise(0.3, 20 * n, channels, 3);
    const std::vector<float> y = stft_identity(x, channels, n, hop, {4096});
    // Frame m finishes input frames [m hop + hop - n, m hop + 2 hop - n): y[i] = x[i - (n - hop)].
    const size_t lag = static_cast<size_t>(n - hop);
    REQUIRE(y.size() == x.size() / channels / hop * hop * channels);
    double err = 0;
    for (size_t i = lag * channels; i < y.size(); ++i)
      err = std::max(err, std::fabs(double(y[i]) - x[i - lag * channels]));
    CHECK(err < kStftReconstructionTol * 1.5);   // white noise peaks near 5 sigma = 1.5
    for (size_t i = 0; i < lag * channels; ++i)  // the silence before the start
      CHECK(std::fabs(y[i]) < kStftReconstructionTol);
  }
}

TEST_CASE("dsp: STFT frames do not depend on the input's block sizes", "[unit][dsp]") {
  const int n = 512, hop = 128, channels = 3;
  const std::vector<float> x = rz::test::white_noise(0.2, 40 * hop + 77, channels, 5);
  const std::vector<float> one = stft_identity(x, channels, n, hop, {1});
  for (const std::vector<size_t>& sizes :
       {std::vector<size_t>{x.size()}, {127, 3, 1000}, {128}, {129, 1}}) {
    CHECK(stft_identity(x, channels, n, hop, sizes) == one);
  }
}

TEST_CASE("dsp: StftAnalysis kAtZero frames start at sample 0 and flush pads the last one",
          "[unit][dsp]") {
  const int n = 64, hop = 16;
  std::vector<float> x(100);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1);
  rz::dsp::StftAnalysis a(1, n, hop, std::vector<float>(n, 1.0f),
                          rz::dsp::StftAnalysis::Start::kAtZero);
  std::vector<float> firsts, lasts;
  auto record = [&] {
    firsts.push_back(a.samples(0)[0]);
    lasts.push_back(a.samples(0)[n - 1]);
  };
  a.push(x.data(), x.size(), record);
  // Frames at 0, 16, 32: complete with samples 63, 79, 95.
  CHECK(firsts == std::vector<float>{1, 17, 33});
  a.flush(record);
  // The partial frame at 48 holds samples 48..99 and zeros.
  REQUIRE(firsts.size() == 4);
  CHECK(firsts[3] == 49);
  CHECK(lasts[3] == 0);
  a.flush(record);  // nothing new: no frame
  CHECK(firsts.size() == 4);
  // The DC bin of a frame of ones-window is the plain sum of its samples.
  CHECK(std::abs(a.spectrum(0)[0]) > 0);
}
