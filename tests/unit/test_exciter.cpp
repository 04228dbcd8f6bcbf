// Unit tests of rz::dsp::Exciter against the curve and filters its header documents.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <iterator>
#include <vector>

#include "rz/dsp/exciter.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::Exciter;
using rz::dsp::ExciterSettings;
using cd = std::complex<double>;

constexpr int kRate = 44100;
// Analysis length. The test tones lie exactly on bins of this FFT, so the exciter's steady-state
// output repeats every kFftSize frames and a rectangular window sees every harmonic, alias and
// intermodulation product in one bin, without leakage.
constexpr int kFftSize = 8192;
// 929 * 44100 / 8192 = 5001.1 Hz. 929 is odd, so coprime with 8192: harmonics m1 and m2 fold onto
// the same bin only if m1 +- m2 is a multiple of 8192, so the harmonics, and the aliases of the
// ones above 22.05 kHz, all have bins of their own.
constexpr int kToneBin = 929;
// Settled output: the high-passes' transients (poles near 3 kHz) decay by e^-600 within the first
// kFftSize frames; the last kFftSize of 3 * kFftSize frames are analysed.
constexpr int kSettledFrames = 3 * kFftSize;

// Harmonic levels and phases against the model: each half-band filter on the way (up to six at 8x)
// ripples by at most 10^(-kStopbandDb/20) = 1e-5 in the pass band (a half-band's pass-band ripple
// mirrors its stopband), 6e-5 in all; float32 arithmetic adds about 1e-6 relative; the model's
// Fourier sums (trapezoid rule on a periodic analytic function) are exact to 1e-12.
constexpr double kModelRelTol = 1e-4;
// The 4th harmonic of 5 kHz (20.0 kHz) lies just past kPassEdge (19.85 kHz), in the first
// half-band's transition band, which reaches -6 dB only at 22.05 kHz; 0.15 kHz into it the filter
// is still within 0.1 dB of flat (0.001 dB measured).
constexpr double kTransitionBandDb = 0.1;
// Filter leaks onto alias bins, re the tone: the interpolator leaks images of the tone at
// <= -kStopbandDb, which the curve (slope deviation |f' - 1| <= 1) can move onto alias bins, and
// the decimator passes folded harmonics (each weaker than the tone) at <= -kStopbandDb; both may
// add in phase: +6 dB.
constexpr double kLeakMarginDb = 6.0;
// What the brief asks of any exciter here, re the added harmonics.
constexpr double kAliasReHarmonicsDb = -60.0;
// Even harmonics of an odd curve: float32 rounding only (exactly 0 measured, as the float tanh is
// odd too); asymmetry 1e-4 would already put the 2nd harmonic at -94 dB re the tone.
constexpr double kAbsentHarmonicDb = -120.0;
// A tone 2.6 octaves below freq_hz: the 4th-order high-pass takes 63 dB off 500 Hz before the
// curve, whose cubic and square terms then scale with that tiny level (the analytic residue is
// below -180 dB); float32 rounding noise of the side chain sits near -150 dB.
constexpr double kBelowBandFloorDb = -120.0;
// Intermodulation below freq_hz / 1.5 re all that is added: the asymmetric curve (0.3) makes the
// 1 kHz difference tone about 12 dB weaker than all its products in the band, and the 4th-order
// post-high-pass takes 38.5 dB off it: about -50 dB (-52.6 measured). Only the far weaker 2 kHz
// product (4th order) meets the high-pass's mere 14 dB at freq_hz / 1.5.
constexpr double kImFloorDb = -40.0;
// Band below freq_hz / 2 of the output vs the delayed input, white noise at -14 dBFS RMS: what the
// side chain adds there is intermodulation attenuated by >= 24 dB by the post-high-pass and by
// mix = 0.1 (-20 dB) on top of the curve's own level.
constexpr double kLowBandFloorDb = -50.0;
// The same measure with the dry signal one frame off: the error e^{-i w} - 1 has the power
// 4 sin^2(pi f / fs), on average -18 dB over 0..1.5 kHz, so a misaligned delay cannot pass.
constexpr double kMisalignedDb = -30.0;
// added_energy_db() vs the energy of output minus delayed input, which differs only by the float32
// rounding of that subtraction.
constexpr double kStatDbTol = 0.01;

double db(double power_ratio) { return 10 * std::log10(power_ratio); }

double bin_hz(int bin) { return 1.0 * bin * kRate / kFftSize; }

// The documented curve: what the saturator adds to x.
double generated(double x, double drive_db, double asymmetry) {
  const double d = std::pow(10.0, drive_db / 20), t = std::tanh(d * x);
  return t / (d * (1 + asymmetry * t)) - x;
}

// The documented high-pass: the analog 4th-order Butterworth s^4 / B4(s) at the bilinear
// transform's frequency tan(pi f / fs) / tan(pi fc / fs).
cd butterworth_highpass(double f_hz, double fc_hz) {
  const cd s(0.0, std::tan(M_PI * f_hz / kRate) / std::tan(M_PI * fc_hz / kRate));
  cd h = 1.0;
  for (int k : {1, 3}) h *= s * s / (s * s + 2 * std::cos(k * M_PI / 8) * s + 1.0);
  return h;
}

std::vector<float> run(const ExciterSettings& s, const std::vector<float>& x, int channels = 1,
                       Exciter* keep = nullptr) {
  Exciter own(channels, kRate, s);
  Exciter& e = keep ? *keep : own;
  std::vector<float> y(x.size());
  e.process(x.data(), y.data(), x.size() / static_cast<size_t>(channels));
  return y;
}

// Output minus input delayed by `latency` frames: what the exciter added.
std::vector<float> added(const std::vector<float>& y, const std::vector<float>& x, size_t latency,
                         int channels = 1) {
  std::vector<float> a(y.size());
  const size_t shift = latency * static_cast<size_t>(channels);
  for (size_t i = 0; i < y.size(); ++i) a[i] = y[i] - (i >= shift ? x[i - shift] : 0.0f);
  return a;
}

// Complex amplitudes of the last kFftSize frames of mono x: a component B cos(2 pi k n / N + phi)
// reads B e^{i phi} in bin k (n counted from a multiple of N).
std::vector<cd> amplitudes(const std::vector<float>& x) {
  rz::dsp::RealFft fft(kFftSize);
  std::vector<std::complex<float>> spectrum(kFftSize / 2 + 1);
  fft.forward(x.data() + x.size() - kFftSize, spectrum.data());
  std::vector<cd> a(spectrum.size());
  for (size_t k = 0; k < a.size(); ++k) a[k] = 2.0 * cd(spectrum[k]) / double(kFftSize);
  return a;
}

double power(const cd& a) { return std::norm(a) / 2; }

// Fourier coefficients C_0..C_max_k of generated(amplitude sin theta) = sum_k C_k e^{ik theta}.
// The trapezoid rule on 4096 points is exact for a periodic analytic function up to the
// coefficients from 4096 - max_k on, which are far below double precision here.
std::vector<cd> curve_coefficients(double amplitude, int max_k, const ExciterSettings& s) {
  constexpr int kPoints = 4096;
  std::vector<double> g(kPoints);
  std::vector<cd> unit(kPoints);
  for (int m = 0; m < kPoints; ++m) {
    const double theta = 2 * M_PI * m / kPoints;
    g[m] = generated(amplitude * std::sin(theta), s.drive_db, s.asymmetry);
    unit[m] = std::polar(1.0, -theta);
  }
  std::vector<cd> c(static_cast<size_t>(max_k) + 1);
  for (int k = 0; k <= max_k; ++k) {
    for (int m = 0; m < kPoints; ++m) c[k] += g[m] * unit[static_cast<size_t>(k * m % kPoints)];
    c[k] /= double(kPoints);
  }
  return c;
}

// The model of the added signal's complex amplitude at harmonic k of a tone A sin(2 pi bin n / N):
// the pre-high-pass makes it |pre| A sin(theta), theta = omega n + arg(pre); the curve's harmonic
// k, C_k e^{ik theta} + conj., reads 2 C_k e^{ik arg(pre)}; the resampling chain delays it by
// latency_frames(), the post-high-pass filters it, mix scales it.
cd predicted_harmonic(double amplitude, int bin, int k, const ExciterSettings& s, size_t latency) {
  const cd pre = butterworth_highpass(bin_hz(bin), s.freq_hz);
  const cd c = curve_coefficients(amplitude * std::abs(pre), k, s)[static_cast<size_t>(k)];
  const double omega = 2 * M_PI * k * bin / kFftSize;
  return s.mix * 2.0 * c * std::polar(1.0, k * std::arg(pre) - omega * double(latency)) *
         butterworth_highpass(bin_hz(k * bin), s.freq_hz);
}

// Bin at which harmonic m of a tone in `bin` appears after sampling (folded into 0..N/2).
int folded_bin(int64_t m, int bin) {
  const int64_t b = m * bin % kFftSize;
  return static_cast<int>(b <= kFftSize / 2 ? b : kFftSize - b);
}

}  // namespace

TEST_CASE("exciter: mix 0 passes the input through, delayed by latency_frames(), bit for bit",
          "[unit][exciter]") {
  const auto x = rz::test::white_noise(0.3, 5000, 2, 7);
  // Regression values of the design: the half-band lengths follow from kPassEdge and kStopbandDb.
  const std::pair<int, size_t> expected[] = {{2, 67}, {4, 74}, {8, 77}};
  for (const auto& [oversample, latency] : expected) {
    ExciterSettings s;
    s.mix = 0;
    s.oversample = oversample;
    Exciter e(2, kRate, s);
    REQUIRE(e.latency_frames() == latency);
    REQUIRE(e.channels() == 2);
    const auto y = run(s, x, 2, &e);
    const size_t shift = 2 * latency;
    size_t mismatches = 0;
    for (size_t i = 0; i < y.size(); ++i) mismatches += y[i] != (i >= shift ? x[i - shift] : 0.0f);
    REQUIRE(mismatches == 0);
    REQUIRE(std::isinf(e.added_energy_db()));
  }
}

TEST_CASE("exciter: with mix > 0 the band below freq_hz / 2 is the delayed input",
          "[unit][exciter]") {
  constexpr int kFrames = 65536;
  const auto x = rz::test::white_noise(0.2, kFrames, 2, 11);
  const ExciterSettings s;  // defaults: 3 kHz, 12 dB, mix 0.1
  Exciter e(2, kRate, s);
  const auto y = run(s, x, 2, &e);
  REQUIRE(e.added_energy_db() > -60);  // something was added, or the test proves nothing

  // Energy below freq_hz / 2 of (output - input delayed by `latency`), re that band of the input.
  const auto low_band_error_db = [&](size_t latency) {
    rz::dsp::RealFft fft(kFrames);
    const int edge = static_cast<int>(s.freq_hz / 2 / kRate * kFrames);
    double error = 0, reference = 0;
    for (int c = 0; c < 2; ++c) {
      std::vector<float> diff(kFrames), ref(kFrames);
      for (size_t i = 0; i < kFrames; ++i) {
        const float delayed = i >= latency ? x[2 * (i - latency) + c] : 0.0f;
        diff[i] = y[2 * i + c] - delayed;
        ref[i] = delayed;
      }
      std::vector<std::complex<float>> d(kFrames / 2 + 1), r(kFrames / 2 + 1);
      fft.forward(diff.data(), d.data());
      fft.forward(ref.data(), r.data());
      for (int k = 1; k < edge; ++k) {
        error += std::norm(d[k]);
        reference += std::norm(r[k]);
      }
    }
    return db(error / reference);
  };
  const double aligned = low_band_error_db(e.latency_frames());
  INFO("low band error " << aligned << " dB");
  REQUIRE(aligned < kLowBandFloorDb);
  REQUIRE(low_band_error_db(e.latency_frames() + 1) > kMisalignedDb);
  REQUIRE(low_band_error_db(e.latency_frames() - 1) > kMisalignedDb);
}

TEST_CASE("exciter: a 5 kHz tone gains the curve's harmonics at their level and phase, unaliased",
          "[unit][exciter]") {
  constexpr double kAmplitude = 0.5;
  const auto x = rz::test::sine(bin_hz(kToneBin), kAmplitude, kRate, kSettledFrames);
  for (int oversample : {2, 4, 8}) {
    for (double asymmetry : {0.0, 0.3}) {
      ExciterSettings s;
      s.mix = 1;  // the added signal at full scale: mix is a plain factor
      s.oversample = oversample;
      s.asymmetry = asymmetry;
      Exciter e(1, kRate, s);
      const auto y = run(s, x, 1, &e);
      const auto a = amplitudes(added(y, x, e.latency_frames()));
      INFO("oversample " << oversample << ", asymmetry " << asymmetry);

      double harmonics = 0;
      for (int k = 1; k <= 4; ++k) {
        const cd want = predicted_harmonic(kAmplitude, kToneBin, k, s, e.latency_frames());
        const cd got = a[static_cast<size_t>(k * kToneBin)];
        INFO("harmonic " << k << ": got " << got << ", model " << want);
        if (k >= 2) harmonics += power(got);
        if (asymmetry == 0 && k % 2 == 0) {  // an odd curve makes no even harmonics
          REQUIRE(db(power(got) / power(kAmplitude)) < kAbsentHarmonicDb);
        } else if (k < 4) {
          REQUIRE(std::abs(got - want) < kModelRelTol * std::abs(want));
        } else {
          REQUIRE(std::abs(db(power(got) / power(want))) < kTransitionBandDb);
        }
      }

      // Harmonics 5 and up lie above the original Nyquist; sampled directly they would fold onto
      // these bins (19.1, 14.1, 9.1, 4.1 kHz, ...). Up to kPassEdge they must stay clean but for
      // the filters' leaks and for the harmonics above (oversample - kPassEdge) * rate, which
      // already fold at the top rate, before any filter (the curve's coefficients say how much).
      const double pass_edge_hz = Exciter::kPassEdge * kRate, top_rate = oversample * kRate;
      constexpr int kMaxHarmonic = 400;  // 2 MHz: the coefficients are long below -200 dB there
      const cd pre = butterworth_highpass(bin_hz(kToneBin), s.freq_hz);
      const auto c = curve_coefficients(kAmplitude * std::abs(pre), kMaxHarmonic, s);
      double aliases = 0, top_folded = 0, naive = 0;
      for (int m = 5; m <= kMaxHarmonic; ++m) {
        const int b = folded_bin(m, kToneBin);
        if (b == 0 || bin_hz(b) > pass_edge_hz) continue;
        const double model =
            power(2.0 * c[static_cast<size_t>(m)] * butterworth_highpass(bin_hz(b), s.freq_hz));
        aliases += power(a[static_cast<size_t>(b)]);
        naive += model;  // a saturator at the base rate
        const double at_top = std::fmod(m * bin_hz(kToneBin), top_rate);
        if (std::min(at_top, top_rate - at_top) < pass_edge_hz &&
            m * bin_hz(kToneBin) > top_rate / 2) {
          top_folded += model;
        }
      }
      const double leak = std::pow(10.0, (-Exciter::kStopbandDb + kLeakMarginDb) / 10);
      // Two contributions on the same bins add up to at most twice the sum of their powers.
      const double bound = 2 * (leak * power(kAmplitude) + top_folded);
      const double re_harmonics = db(aliases / harmonics);
      INFO("aliases " << db(aliases / power(kAmplitude)) << " dB re tone (bound "
                      << db(bound / power(kAmplitude)) << " dB), " << re_harmonics
                      << " dB re harmonics, unoversampled " << db(naive / harmonics) << " dB");
      REQUIRE(aliases < bound);
      REQUIRE(re_harmonics < kAliasReHarmonicsDb);
      REQUIRE(db(naive / harmonics) > kAliasReHarmonicsDb + 20);  // the test has teeth

      // The statistic: all that was added re all that came in.
      const auto all_added = added(y, x, e.latency_frames());
      double added_energy = 0, input_energy = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        added_energy += double(all_added[i]) * all_added[i];
        input_energy += double(x[i]) * x[i];
      }
      REQUIRE(std::abs(e.added_energy_db() - db(added_energy / input_energy)) < kStatDbTol);
    }
  }
}

TEST_CASE("exciter: a tone below freq_hz adds nothing", "[unit][exciter]") {
  constexpr int kLowBin = 93;  // 500.7 Hz, with the exciter at 3 kHz
  const auto x = rz::test::sine(bin_hz(kLowBin), 0.5, kRate, kSettledFrames);
  ExciterSettings s;
  s.mix = 1;
  Exciter e(1, kRate, s);
  const auto y = run(s, x, 1, &e);
  // Steady state only: the sine's onset is a click with energy in the band.
  const auto a = added(y, x, e.latency_frames());
  double added_energy = 0, input_energy = 0;
  for (size_t i = x.size() - kFftSize; i < x.size(); ++i) {
    added_energy += double(a[i]) * a[i];
    input_energy += double(x[i]) * x[i];
  }
  INFO("added " << db(added_energy / input_energy) << " dB");
  REQUIRE(db(added_energy / input_energy) < kBelowBandFloorDb);
}

TEST_CASE("exciter: intermodulation of two tones in the band is removed below freq_hz",
          "[unit][exciter]") {
  constexpr int kBin1 = 1300, kBin2 = 1486;  // 6998 Hz and 7999 Hz, 1001 Hz apart
  constexpr double kAmplitude = 0.25;
  auto x = rz::test::sine(bin_hz(kBin1), kAmplitude, kRate, kSettledFrames);
  const auto x2 = rz::test::sine(bin_hz(kBin2), kAmplitude, kRate, kSettledFrames);
  for (size_t i = 0; i < x.size(); ++i) x[i] += x2[i];
  ExciterSettings s;
  s.mix = 1;
  s.asymmetry = 0.3;  // a strong difference tone
  Exciter e(1, kRate, s);
  const auto y = run(s, x, 1, &e);
  const auto a = amplitudes(added(y, x, e.latency_frames()));

  const int edge = static_cast<int>(s.freq_hz / 1.5 / kRate * kFftSize);
  double below = 0, total = 0;
  for (size_t k = 1; k < a.size(); ++k) {
    total += power(a[k]);
    if (static_cast<int>(k) < edge) below += power(a[k]);
  }
  INFO("below " << s.freq_hz / 1.5 << " Hz: " << db(below / total) << " dB re all added");
  REQUIRE(db(below / total) < kImFloorDb);

  // The difference tone itself, from the curve's two-dimensional Fourier coefficient C(-1, 1) of
  // generated(a1 sin t1 + a2 sin t2), through the same chain as a harmonic.
  const cd pre1 = butterworth_highpass(bin_hz(kBin1), s.freq_hz);
  const cd pre2 = butterworth_highpass(bin_hz(kBin2), s.freq_hz);
  constexpr int kPoints = 256;
  cd c = 0;
  for (int m1 = 0; m1 < kPoints; ++m1) {
    for (int m2 = 0; m2 < kPoints; ++m2) {
      const double t1 = 2 * M_PI * m1 / kPoints, t2 = 2 * M_PI * m2 / kPoints;
      const double v = kAmplitude * (std::abs(pre1) * std::sin(t1) + std::abs(pre2) * std::sin(t2));
      c += generated(v, s.drive_db, s.asymmetry) * std::polar(1.0, t1 - t2);
    }
  }
  c /= double(kPoints) * kPoints;
  const int delta = kBin2 - kBin1;
  // With t_i = omega_i n + arg(pre_i), the component C e^{i(t2 - t1)} + conj. reads
  // 2 C e^{i(arg(pre2) - arg(pre1))}, then delayed and filtered like a harmonic.
  const cd want = s.mix * 2.0 * c * std::polar(1.0, std::arg(pre2) - std::arg(pre1)) *
                  std::polar(1.0, -2 * M_PI * delta * double(e.latency_frames()) / kFftSize) *
                  butterworth_highpass(bin_hz(delta), s.freq_hz);
  const cd got = a[static_cast<size_t>(delta)];
  INFO("difference tone: got " << got << ", model " << want);
  REQUIRE(std::abs(got - want) < kModelRelTol * std::abs(want));
}

TEST_CASE("exciter: streaming in odd block sizes, in place, equals one call bit for bit",
          "[unit][exciter]") {
  constexpr int kFrames = 20000;
  auto x = rz::test::white_noise(0.3, kFrames, 2, 3);
  const auto tone = rz::test::sine(6000, 0.4, kRate, kFrames, 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] += tone[i];
  for (int oversample : {2, 4, 8}) {
    ExciterSettings s;
    s.oversample = oversample;
    s.mix = 0.5;
    Exciter whole(2, kRate, s);
    const auto want = run(s, x, 2, &whole);

    Exciter streamed(2, kRate, s);
    std::vector<float> buf = x;  // processed in place
    const size_t blocks[] = {1, 7, 255, 256, 257, 1000, 3, 4097, 31};
    size_t pos = 0;
    for (size_t b = 0; pos < kFrames; ++b) {
      const size_t n = std::min<size_t>(blocks[b % std::size(blocks)], kFrames - pos);
      streamed.process(buf.data() + 2 * pos, buf.data() + 2 * pos, n);
      pos += n;
    }
    INFO("oversample " << oversample);
    REQUIRE(buf == want);
    REQUIRE(streamed.added_energy_db() == whole.added_energy_db());
  }
}

TEST_CASE("exciter: validate() rejects each bad setting, naming it and its range",
          "[unit][exciter]") {
  REQUIRE_NOTHROW(ExciterSettings{}.validate());
  struct Case {
    void (*set)(ExciterSettings&);
    const char* message;
  };
  const Case cases[] = {
      {[](ExciterSettings& s) { s.freq_hz = 499; }, "freq_hz '499.00': use 500..16000 Hz"},
      {[](ExciterSettings& s) { s.freq_hz = 16001; }, "freq_hz"},
      {[](ExciterSettings& s) { s.freq_hz = NAN; }, "freq_hz"},
      {[](ExciterSettings& s) { s.drive_db = -1; }, "drive_db '-1.00': use 0..36 dB"},
      {[](ExciterSettings& s) { s.drive_db = 37; }, "drive_db"},
      {[](ExciterSettings& s) { s.mix = -0.1; }, "mix '-0.10': use 0..1"},
      {[](ExciterSettings& s) { s.mix = 1.5; }, "mix"},
      {[](ExciterSettings& s) { s.mix = NAN; }, "mix"},
      {[](ExciterSettings& s) { s.oversample = 3; }, "oversample '3': use 2, 4 or 8"},
      {[](ExciterSettings& s) { s.oversample = 16; }, "oversample"},
      {[](ExciterSettings& s) { s.asymmetry = -0.5; }, "asymmetry '-0.50': use 0..0.9"},
      {[](ExciterSettings& s) { s.asymmetry = 1; }, "asymmetry"},
  };
  for (const Case& c : cases) {
    ExciterSettings s;
    c.set(s);
    REQUIRE_THROWS_AS(s.validate(), rz::UsageError);
    REQUIRE_THROWS_WITH(s.validate(), Catch::Contains(c.message));
    REQUIRE_THROWS_AS(Exciter(2, kRate, s), rz::UsageError);
  }
  // The constructor checks what depends on the stream.
  ExciterSettings high;
  high.freq_hz = 12000;  // fine at 44.1 kHz, above kPassEdge at 22.05 kHz
  REQUIRE_NOTHROW(Exciter(1, kRate, high));
  REQUIRE_THROWS_WITH(Exciter(1, 22050, high), Catch::Contains("freq_hz"));
  REQUIRE_THROWS_WITH(Exciter(0, kRate, ExciterSettings{}), Catch::Contains("channels"));
  REQUIRE_THROWS_WITH(Exciter(1, 0, ExciterSettings{}), Catch::Contains("sample rate"));
}
