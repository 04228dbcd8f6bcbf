// Unit tests of rz::dsp dynamics: Compressor, TransientShaper, DynamicEq, RBJ band-pass.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::BiquadCoeffs;
using rz::dsp::Compressor;
using rz::dsp::CompressorSettings;
using rz::dsp::DynamicEq;
using rz::dsp::DynamicEqSettings;
using rz::dsp::Processor;
using rz::dsp::TransientShaper;
using rz::dsp::TransientShaperSettings;

constexpr int kRate = 44100;

// The static curve is a few double operations: closed forms agree to double rounding.
constexpr double kCurveTolDb = 1e-12;
// A gain read back as 20 log10(out / in) from float32 output: out is x * gain rounded to float,
// relative error <= 6e-8 = 5.2e-7 dB; 1e-5 dB leaves room for the gain's own double rounding.
constexpr double kFloatGainTolDb = 1e-5;
// Statistics accumulated in double over ~10^5 frames: relative rounding far below 1e-9.
constexpr double kStatsTolDb = 1e-9;
// The ballistics reach 1 - 1/e of a step on frame ceil(tau fs) after it; when tau fs is a whole
// number (441 at 10 ms) the crossing falls exactly on a frame, and the rounding of the recursion
// and of the float output decides which side it lands (measured: one frame late).
constexpr int kTimingTolFrames = 1;
// Biquad responses evaluated in double precision: agreement with closed forms to 1e-9 dB.
constexpr double kResponseTolDb = 1e-9;

double db(double linear) { return 20.0 * std::log10(linear); }

// Runs p over x in blocks of `block` frames (0: one call) and returns the output.
std::vector<float> run(Processor& p, const std::vector<float>& x, size_t block = 0) {
  const size_t ch = static_cast<size_t>(p.channels()), frames = x.size() / ch;
  std::vector<float> y(x.size());
  if (block == 0) block = frames;
  for (size_t pos = 0; pos < frames; pos += block) {
    const size_t n = std::min(block, frames - pos);
    p.process(x.data() + pos * ch, y.data() + pos * ch, n);
  }
  return y;
}

// A square wave of period 100 frames: |x| = amplitude on every frame, so a peak detector reads a
// constant level and the ballistics see a clean step where it starts.
std::vector<float> square(double amplitude, int64_t frames, int channels = 1) {
  std::vector<float> x(static_cast<size_t>(frames * channels));
  for (int64_t i = 0; i < frames; ++i) {
    for (int c = 0; c < channels; ++c) {
      x[static_cast<size_t>(i * channels + c)] =
          static_cast<float>((i / 50) % 2 ? -amplitude : amplitude);
    }
  }
  return x;
}

std::vector<float> concat(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

// Gain of frame i (channel c) in dB, read back from a processor's output.
double gain_db_at(const std::vector<float>& in, const std::vector<float>& out, size_t i,
                  int channels = 1, int c = 0) {
  const size_t k = i * channels + c;
  return db(static_cast<double>(out[k]) / in[k]);
}

// Energy ratio of out to in over frames [begin, end), in dB: the mean gain when it barely moves.
double mean_gain_db(const std::vector<float>& in, const std::vector<float>& out, size_t begin,
                    size_t end) {
  double e_in = 0, e_out = 0;
  for (size_t i = begin; i < end; ++i) {
    e_in += double(in[i]) * in[i];
    e_out += double(out[i]) * out[i];
  }
  return 10 * std::log10(e_out / e_in);
}

// Complex response of a biquad at freq_hz.
std::complex<double> response(const BiquadCoeffs& c, double freq_hz) {
  const std::complex<double> z = std::polar(1.0, -2 * M_PI * freq_hz / kRate);
  return (c.b0 + c.b1 * z + c.b2 * z * z) / (1.0 + c.a1 * z + c.a2 * z * z);
}

// One-pole coefficient of a time constant, computed here independently of the library.
double pole(double ms) { return std::exp(-1.0 / (ms * 1e-3 * kRate)); }

// Checks that s.validate() throws a UsageError whose message names `field` and `range`.
template <typename Settings>
void check_rejects(Settings s, const std::string& field, const std::string& range) {
  INFO(field);
  try {
    s.validate();
    FAIL("validate() accepted a bad " << field);
  } catch (const rz::UsageError& e) {
    const std::string what = e.what();
    CHECK(what.find(field) != std::string::npos);
    CHECK(what.find(range) != std::string::npos);
    CHECK(e.exit_code() == rz::kExitUsage);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Compressor

TEST_CASE("dynamics: compressor static curve below, in and above the knee", "[unit][dynamics]") {
  CompressorSettings s;
  s.threshold_db = -20;
  s.ratio = 4;
  s.knee_db = 10;                    // knee from -25 to -15 dBFS
  const double slope = 1.0 / 4 - 1;  // -0.75
  // Below the knee: no gain change.
  CHECK(rz::dsp::compressor_static_gain_db(-60, s) == 0.0);
  CHECK(rz::dsp::compressor_static_gain_db(-25, s) == Approx(0.0).margin(kCurveTolDb));
  // In the knee: (1/R - 1) (L - T + W/2)^2 / (2 W).
  CHECK(rz::dsp::compressor_static_gain_db(-22, s) ==
        Approx(slope * 3 * 3 / 20).margin(kCurveTolDb));
  CHECK(rz::dsp::compressor_static_gain_db(-20, s) ==
        Approx(slope * 10 / 8).margin(kCurveTolDb));  // at T: (1/R - 1) W / 8
  // The knee's upper edge meets the line (1/R - 1)(L - T), and above it the line holds.
  CHECK(rz::dsp::compressor_static_gain_db(-15, s) == Approx(slope * 5).margin(kCurveTolDb));
  CHECK(rz::dsp::compressor_static_gain_db(-8, s) == Approx(slope * 12).margin(kCurveTolDb));
  CHECK(rz::dsp::compressor_static_gain_db(0, s) == Approx(slope * 20).margin(kCurveTolDb));
  // No corner at either edge: central differences across each edge give the slopes of both
  // sides, 0 and 1/R - 1 (the quadratic's curvature adds (1 - 1/R) h / (4 W) = 2e-6 at h = 1e-4).
  constexpr double kStep = 1e-4, kSlopeTol = 1e-5;
  auto slope_at = [&](double level) {
    return (rz::dsp::compressor_static_gain_db(level + kStep, s) -
            rz::dsp::compressor_static_gain_db(level - kStep, s)) /
           (2 * kStep);
  };
  CHECK(slope_at(-25) == Approx(0.0).margin(kSlopeTol));
  CHECK(slope_at(-15) == Approx(slope).margin(kSlopeTol));
  CHECK(slope_at(-20) == Approx(slope / 2).margin(kSlopeTol));  // halfway through the knee

  // Hard knee: a corner at T.
  s.knee_db = 0;
  CHECK(rz::dsp::compressor_static_gain_db(-20, s) == 0.0);
  CHECK(rz::dsp::compressor_static_gain_db(-20.5, s) == 0.0);
  CHECK(rz::dsp::compressor_static_gain_db(-10, s) == Approx(slope * 10).margin(kCurveTolDb));
  // Ratio 1: the identity everywhere.
  s.ratio = 1;
  s.knee_db = 6;
  for (double level : {-60.0, -21.0, -20.0, -18.0, 0.0}) {
    CHECK(rz::dsp::compressor_static_gain_db(level, s) == 0.0);
  }
}

TEST_CASE("dynamics: compressor on a constant level settles exactly on the static curve",
          "[unit][dynamics]") {
  const CompressorSettings s;  // -18 dBFS, 2:1, 6 dB knee, 10 / 120 ms
  constexpr int64_t kFrames = 2 * kRate;
  // Levels in the knee (-17 dBFS) and above it (-6 dBFS), stereo.
  for (double amplitude : {0.141, 0.5}) {
    INFO("amplitude " << amplitude);
    const auto x = square(amplitude, kFrames, 2);
    const double level = db(static_cast<float>(amplitude));  // what the detector reads
    const double expected = -rz::dsp::compressor_static_gain_db(level, s);
    REQUIRE(expected > 0.5);
    Compressor comp(2, kRate, s);
    const auto y = run(comp, x);
    // After 2 s (200 attack time constants) the reduction is the target to double rounding.
    for (size_t i = kFrames - 1000; i < static_cast<size_t>(kFrames); i += 99) {
      CHECK(gain_db_at(x, y, i, 2, 0) == Approx(-expected).margin(kFloatGainTolDb));
      CHECK(gain_db_at(x, y, i, 2, 1) == Approx(-expected).margin(kFloatGainTolDb));
    }
    CHECK(comp.max_reduction_db() == Approx(expected).margin(kStatsTolDb));
    // The reduction on frame k is (1 - a^(k+1)) X, so its mean over N frames is
    // X (1 - a (1 - a^N) / ((1 - a) N)).
    const double a = pole(s.attack_ms), n = static_cast<double>(kFrames);
    const double mean = expected * (1 - a * (1 - std::pow(a, n)) / ((1 - a) * n));
    CHECK(comp.mean_reduction_db() == Approx(mean).margin(kStatsTolDb));
  }
}

TEST_CASE("dynamics: compressor on a long sine matches the static curve at the crest",
          "[unit][dynamics]") {
  // The detector reads |x|, which falls between the crests; the ballistics rise towards the crest
  // value only near the crests (for a time ~sqrt(d) per half cycle) and release through the rest,
  // so the reduction settles d below the crest's static value, where attack and release charge
  // balance: d^(3/2) ~ (3 pi / 4) sqrt(4.34 (1 - 1/R)) D attack_ms / release_ms, with D the mean
  // distance of the target below its crest value (<= 6.02 (1 - 1/R) dB, the mean of 20 log10|sin|).
  // For R = 4 and 1 ms / 500 ms that gives d ~ 0.11 dB (0.09 dB measured): allow 0.15 dB.
  constexpr double kFastAttackBiasDb = 0.15;
  // With the defaults (10 ms / 120 ms) the same balance puts the reduction about 11 % under the
  // static curve (0.891 of it measured at 2:1 and at 4:1); the header quotes this, so pin it.
  constexpr double kDefaultRatioLow = 0.87, kDefaultRatioHigh = 0.91;
  constexpr double kAmplitude = 0.5;  // crest -6.02 dBFS
  constexpr double kFreq = 1000;      // 1000 whole cycles per second at 44.1 kHz
  // The reduction approaches its balance from below within tens of ms; the second second is
  // settled (its halves agree to this).
  constexpr double kSettledDb = 0.01;
  const auto x = rz::test::sine(kFreq, kAmplitude, kRate, 2 * kRate);
  for (bool fast : {true, false}) {
    INFO((fast ? "1 ms / 500 ms" : "10 ms / 120 ms"));
    CompressorSettings s;
    s.ratio = 4;
    if (fast) {
      s.attack_ms = 1;
      s.release_ms = 500;
    }
    const double expected = -rz::dsp::compressor_static_gain_db(db(kAmplitude), s);
    Compressor comp(1, kRate, s);
    const auto y = run(comp, x);
    const double reduction =
        -db(rz::test::tone_amplitude(y, kRate, 2 * kRate, kFreq, kRate) / kAmplitude);
    const double first_half =
        -db(rz::test::tone_amplitude(y, kRate, 3 * kRate / 2, kFreq, kRate) / kAmplitude);
    CHECK(first_half == Approx(reduction).margin(kSettledDb));
    if (fast) {
      CHECK(reduction <= expected);
      CHECK(reduction >= expected - kFastAttackBiasDb);
    } else {
      CHECK(reduction / expected >= kDefaultRatioLow);
      CHECK(reduction / expected <= kDefaultRatioHigh);
    }
  }
}

TEST_CASE("dynamics: compressor reduction moves 63 % in attack_ms and in release_ms",
          "[unit][dynamics]") {
  constexpr double kQuiet = 0.01, kLoud = 0.5;  // -40 dBFS (below the knee), -6 dBFS
  constexpr int64_t kQuietFrames = kRate / 10, kLoudFrames = kRate, kTailFrames = 3 * kRate;
  const auto x = concat(
      {square(kQuiet, kQuietFrames), square(kLoud, kLoudFrames), square(kQuiet, kTailFrames)});
  for (double attack_ms : {1.0, 10.0, 30.0}) {
    for (double release_ms : {50.0, 120.0}) {
      INFO("attack " << attack_ms << " ms, release " << release_ms << " ms");
      CompressorSettings s;
      s.attack_ms = attack_ms;
      s.release_ms = release_ms;
      Compressor comp(1, kRate, s);
      const auto y = run(comp, x);
      const double target = -rz::dsp::compressor_static_gain_db(db(float(kLoud)), s);
      // Before the step: exact pass-through.
      bool quiet_exact = true;
      for (int64_t i = 0; i < kQuietFrames; ++i) quiet_exact = quiet_exact && y[i] == x[i];
      CHECK(quiet_exact);
      // Attack: frames from the step until the reduction first reaches (1 - 1/e) of the target.
      int64_t k = 0;
      while (-gain_db_at(x, y, kQuietFrames + k) < (1 - std::exp(-1.0)) * target) ++k;
      CHECK(static_cast<double>(k + 1) ==
            Approx(attack_ms * 1e-3 * kRate).margin(kTimingTolFrames));
      // Release: from the settled target, frames until it first falls to 1/e of it.
      const int64_t fall = kQuietFrames + kLoudFrames;
      CHECK(-gain_db_at(x, y, fall - 1) == Approx(target).margin(kFloatGainTolDb));
      k = 0;
      while (-gain_db_at(x, y, fall + k) > std::exp(-1.0) * target) ++k;
      CHECK(static_cast<double>(k + 1) ==
            Approx(release_ms * 1e-3 * kRate).margin(kTimingTolFrames));
      // After the release (ln(target / 1e-7 dB) = 18 time constants) the output is exact again.
      bool tail_exact = true;
      for (size_t i = x.size() - kRate / 2; i < x.size(); ++i)
        tail_exact = tail_exact && y[i] == x[i];
      CHECK(tail_exact);
    }
  }
}

TEST_CASE("dynamics: compressor makeup gain and channel linking", "[unit][dynamics]") {
  CompressorSettings s;
  s.makeup_db = 6;
  {
    // Below the knee only the makeup acts.
    Compressor comp(1, kRate, s);
    const auto x = square(0.01, kRate / 10);
    const auto y = run(comp, x);
    for (size_t i = 0; i < x.size(); i += 37) {
      CHECK(gain_db_at(x, y, i) == Approx(6.0).margin(kFloatGainTolDb));
    }
    CHECK(comp.max_reduction_db() == 0.0);
    CHECK(comp.mean_reduction_db() == 0.0);
  }
  // Stereo: loud left, quiet right. One gain for both channels: makeup minus the left's reduction.
  constexpr int64_t kFrames = kRate;
  const auto left = square(0.5, kFrames), right = square(0.01, kFrames);
  std::vector<float> x(2 * kFrames);
  for (int64_t i = 0; i < kFrames; ++i) {
    x[2 * i] = left[i];
    x[2 * i + 1] = right[i];
  }
  Compressor comp(2, kRate, s);
  const auto y = run(comp, x);
  const double expected = 6 + rz::dsp::compressor_static_gain_db(db(0.5f), s);
  for (size_t i = kFrames - 500; i < static_cast<size_t>(kFrames); i += 7) {
    CHECK(gain_db_at(x, y, i, 2, 0) == Approx(expected).margin(kFloatGainTolDb));
    CHECK(gain_db_at(x, y, i, 2, 1) == Approx(expected).margin(kFloatGainTolDb));
  }
}

// ---------------------------------------------------------------------------------------------
// Transient shaper

TEST_CASE("dynamics: transient shaper with zero gains is a bit-exact pass-through",
          "[unit][dynamics]") {
  auto x = rz::test::white_noise(0.2, kRate, 2, 11);
  // Bursts and silences, so that any envelope would move.
  for (size_t i = 0; i < x.size(); ++i) {
    if ((i / 4000) % 3 == 0) x[i] = 0.0f;
  }
  TransientShaperSettings s;
  s.fast_ms = 0.5;
  s.max_gain_db = 3;
  TransientShaper shaper(2, kRate, s);
  CHECK(run(shaper, x, 333) == x);
  auto in_place = x;
  shaper.process(in_place.data(), in_place.data(), in_place.size() / 2);
  CHECK(in_place == x);
}

TEST_CASE("dynamics: transient shaper attack gain follows its closed form after an onset",
          "[unit][dynamics]") {
  // From silence to a constant |x| = A: P = A from the onset on, F = (1 - f^(k+1)) A and
  // S = (1 - s^(k+1)) A on the k-th frame, so the gain is attack_gain_db times
  // (1 - S/F) / (1 - (1 - s) / (1 - f)), which is exactly 1 on the first frame.
  TransientShaperSettings s;
  s.attack_gain_db = 6;
  s.sustain_gain_db = -6;  // never acts here: F >= S throughout
  constexpr int64_t kSilence = 1000, kFrames = kRate;
  const auto x = concat({std::vector<float>(kSilence, 0.0f), square(0.25, kFrames)});
  TransientShaper shaper(1, kRate, s);
  const auto y = run(shaper, x);
  bool silence = true;
  for (int64_t i = 0; i < kSilence; ++i) silence = silence && y[i] == 0.0f;
  CHECK(silence);
  const double f = pole(s.fast_ms), sl = pole(s.slow_ms);
  const double norm = 1 / (1 - (1 - sl) / (1 - f));
  for (int64_t k : {0, 1, 5, 44, 100, 441, 1102, 3000}) {
    INFO("frame " << k << " after the onset");
    const double fk = 1 - std::pow(f, k + 1), sk = 1 - std::pow(sl, k + 1);
    const double expected = s.attack_gain_db * std::min(1.0, (1 - sk / fk) * norm);
    CHECK(gain_db_at(x, y, kSilence + k) == Approx(expected).margin(kFloatGainTolDb));
  }
  CHECK(gain_db_at(x, y, kSilence) == Approx(6.0).margin(kFloatGainTolDb));
  // A steady level: S / F -> 1 as exp(-t / slow_ms); after 1 s (40 time constants) the gain is
  // 1 to double precision and the output is the input, bit for bit.
  bool settled = true;
  for (size_t i = x.size() - kRate / 10; i < x.size(); ++i) settled = settled && y[i] == x[i];
  CHECK(settled);

  // The clamp: a 12 dB attack gain limited to 3 dB.
  s.attack_gain_db = 12;
  s.max_gain_db = 3;
  TransientShaper clamped(1, kRate, s);
  const auto z = run(clamped, x);
  CHECK(gain_db_at(x, z, kSilence) == Approx(3.0).margin(kFloatGainTolDb));
  double loudest = -100;
  for (size_t i = kSilence; i < z.size(); ++i) loudest = std::max(loudest, gain_db_at(x, z, i));
  CHECK(loudest <= 3.0 + kFloatGainTolDb);
}

TEST_CASE("dynamics: transient shaper raises the first ms of a tone burst by the attack gain",
          "[unit][dynamics]") {
  // A 1 kHz burst from silence. Over the first ms the attack measure falls from 1 to 0.977 (the
  // closed form of the previous test at 44 frames), and the sine's first quarter period (11
  // frames) ramps P up instead of stepping it; both keep the mean gain over that ms within 4 %
  // of the attack gain. The sustain, 200-300 ms in, is at 0 dB: S/F is within exp(-8) of 1.
  constexpr double kAttackGainDb = 6;
  constexpr double kFirstMsTolDb = 0.04 * kAttackGainDb;
  constexpr double kSustainTolDb = 0.01;
  TransientShaperSettings s;
  s.attack_gain_db = kAttackGainDb;
  constexpr int64_t kSilence = 500;
  const auto x = concat(
      {std::vector<float>(kSilence, 0.0f), rz::test::sine(1000, 0.25, kRate, 3 * kRate / 10)});
  TransientShaper shaper(1, kRate, s);
  const auto y = run(shaper, x);
  const size_t onset = kSilence, ms = kRate / 1000;
  const double first_ms = mean_gain_db(x, y, onset, onset + ms);
  const double sustain = mean_gain_db(x, y, onset + kRate / 5, onset + 3 * kRate / 10);
  CHECK(first_ms <= kAttackGainDb);
  CHECK(first_ms >= kAttackGainDb - kFirstMsTolDb);
  CHECK(sustain == Approx(0.0).margin(kSustainTolDb));
  CHECK(first_ms - sustain == Approx(kAttackGainDb).margin(kFirstMsTolDb + kSustainTolDb));
}

TEST_CASE("dynamics: transient shaper sustain gain lowers the tail of a decaying burst",
          "[unit][dynamics]") {
  // 100 ms of a steady 1 kHz tone, then a decay with a 30 ms time constant, faster than the
  // 120 ms release: after the 15 ms hold P falls at the release rate, so the sustain measure
  // tends to its maximum 1 and the gain to sustain_gain_db. The followers' memory of the level
  // before the fall dies as (s/r)^m: 185 ms after the hold it moves the measure by ~0.3 %,
  // 0.02 dB of the 6 dB gain.
  constexpr double kSustainGainDb = -6;
  constexpr double kTailTolDb = 0.05;
  TransientShaperSettings s;
  s.sustain_gain_db = kSustainGainDb;
  constexpr int64_t kSteady = kRate / 10, kDecay = kRate / 2;
  auto x = rz::test::sine(1000, 0.5, kRate, kSteady + kDecay);
  for (int64_t i = kSteady; i < kSteady + kDecay; ++i) {
    x[i] = static_cast<float>(x[i] * std::exp(-(i - kSteady) / (0.030 * kRate)));
  }
  TransientShaper shaper(1, kRate, s);
  const auto y = run(shaper, x);
  // While the tone holds, F >= S: no sustain measure, and no attack gain is set: exact.
  bool steady_exact = true;
  for (int64_t i = 0; i < kSteady; ++i) steady_exact = steady_exact && y[i] == x[i];
  CHECK(steady_exact);
  const size_t ms = kRate / 1000;
  const double tail = mean_gain_db(x, y, kSteady + 200 * ms, kSteady + 300 * ms);
  CHECK(tail == Approx(kSustainGainDb).margin(kTailTolDb));
  // The whole tail is lowered, never raised.
  double highest = -100;
  for (size_t i = kSteady; i < x.size(); ++i) {
    if (x[i] != 0.0f) highest = std::max(highest, gain_db_at(x, y, i));
  }
  CHECK(highest <= kFloatGainTolDb);
}

// ---------------------------------------------------------------------------------------------
// Dynamic EQ

TEST_CASE("dynamics: RBJ band-pass has 0 dB and zero phase at its centre, -3 dB at its edges",
          "[unit][dynamics]") {
  for (double f0 : {250.0, 6000.0}) {
    for (double q : {0.7, 2.0, 8.0}) {
      INFO(f0 << " Hz, Q " << q);
      const auto bp = BiquadCoeffs::bandpass(kRate, f0, q);
      const auto h = response(bp, f0);
      CHECK(h.real() == Approx(1.0).margin(1e-12));
      CHECK(h.imag() == Approx(0.0).margin(1e-12));
      CHECK(bp.magnitude_db(kRate, 0) < -200);          // zero at DC
      CHECK(bp.magnitude_db(kRate, kRate / 2) < -200);  // and at Nyquist
      // Bilinear transform prewarped at f0: W = tan(pi f / fs) / tan(pi f0 / fs), and the analog
      // prototype (W / q) / |1 - W^2 + j W / q| is 1/sqrt(2) where W - 1/W = +/-1/q.
      const double half = 1 / (2 * q), t0 = std::tan(M_PI * f0 / kRate);
      for (double w : {std::sqrt(1 + half * half) - half, std::sqrt(1 + half * half) + half}) {
        const double f = std::atan(w * t0) * kRate / M_PI;
        CHECK(bp.magnitude_db(kRate, f) == Approx(db(M_SQRT1_2)).margin(kResponseTolDb));
      }
    }
  }
}

TEST_CASE("dynamics: dynamic EQ leaves a band below threshold bit-exact", "[unit][dynamics]") {
  DynamicEqSettings s;  // 6 kHz, threshold -30 dBFS
  // A 6 kHz tone at -36.5 dBFS (the band-pass passes it at 0 dB) over quiet noise, stereo.
  auto x = rz::test::sine(6000, 0.015, kRate, kRate, 2);
  const auto noise = rz::test::white_noise(0.001, kRate, 2, 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] += noise[i];
  DynamicEq eq(2, kRate, s);
  CHECK(run(eq, x, 1000) == x);
  CHECK(eq.max_cut_db_applied() == 0.0);
  CHECK(eq.active_ratio() == 0.0);
}

TEST_CASE("dynamics: dynamic EQ cuts a loud band by the predicted amount", "[unit][dynamics]") {
  // A tone at the centre: the band-pass passes it unchanged, so y = g x and the cut is read from
  // the output's amplitude. Predicted: (crest level - threshold) (1 - 1/ratio), up to max_cut_db.
  // The detector reads sample peaks: it settles below the crest's value by the balance of
  // Compressor's test (attack 0.5 ms, release 500 ms: d^(3/2) ~ 2.36 sqrt(4.34 * 0.75) 4.5 / 1000,
  // d ~ 0.07 dB), and at 6 kHz (7.35 frames per cycle, a pattern of 20 cycles) the sample nearest
  // each crest lies within 1/40 cycle of it (cos(2 pi / 40): 0.11 dB); allow 0.25 dB.
  constexpr double kCutTolDb = 0.25;
  constexpr double kAmplitude = 0.25;  // -12.04 dBFS
  struct Case {
    double freq_hz, threshold_db, ratio, max_cut_db;
  };
  const Case cases[] = {
      {250, -30, 4, 20},  // (18.04) * 0.75 = 13.53 dB
      {6000, -30, 4, 20},
      {6000, -24, 2, 20},  // (11.96) * 0.5 = 5.98 dB
      {6000, -40, 10, 6},  // 25.2 dB wanted, limited to 6
  };
  for (const Case& c : cases) {
    INFO(c.freq_hz << " Hz, threshold " << c.threshold_db << ", ratio " << c.ratio);
    DynamicEqSettings s;
    s.freq_hz = c.freq_hz;
    s.threshold_db = c.threshold_db;
    s.ratio = c.ratio;
    s.max_cut_db = c.max_cut_db;
    s.attack_ms = 0.5;
    s.release_ms = 500;
    const double predicted =
        std::min(c.max_cut_db, (db(kAmplitude) - c.threshold_db) * (1 - 1 / c.ratio));
    const auto x = rz::test::sine(c.freq_hz, kAmplitude, kRate, kRate);
    DynamicEq eq(1, kRate, s);
    const auto y = run(eq, x);
    // The last half second: 125 or 3000 whole cycles.
    const double cut =
        -db(rz::test::tone_amplitude(y, kRate / 2, kRate, c.freq_hz, kRate) / kAmplitude);
    CHECK(cut <= predicted + kFloatGainTolDb);
    CHECK(cut >= predicted - kCutTolDb);
    CHECK(eq.max_cut_db_applied() <= c.max_cut_db);
    CHECK(eq.max_cut_db_applied() >= cut - kFloatGainTolDb);
    // Cut from the first ms on (0.5 ms attack): nearly every frame counts.
    CHECK(eq.active_ratio() > 0.99);
  }
}

TEST_CASE("dynamics: dynamic EQ leaves a tone far from the band untouched while it cuts",
          "[unit][dynamics]") {
  // The 6 kHz band cut by its 12 dB maximum (g ~ 0.25) on a loud 6 kHz tone; a 500 Hz tone beside
  // it changes by |1 + (g - 1) H_bp(500 Hz)|, -0.006 dB (H_bp there is small, 0.04, and nearly
  // imaginary). The 500 Hz reading agrees with that prediction to 0.005 dB (the cut's ripple
  // modulates g far less) and stays within 0.01 dB of unity.
  constexpr double kFarPredictionTolDb = 0.005;
  constexpr double kFarUntouchedDb = 0.01;
  DynamicEqSettings s;
  s.max_cut_db = 12;
  s.release_ms = 300;
  const auto band = rz::test::sine(6000, 0.25, kRate, kRate, 2);
  const auto far = rz::test::sine(500, 0.25, kRate, kRate, 2);
  std::vector<float> x(band.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = band[i] + far[i];
  DynamicEq eq(2, kRate, s);
  const auto y = run(eq, x);
  for (int c = 0; c < 2; ++c) {
    INFO("channel " << c);
    const double g = rz::test::tone_amplitude(y, kRate / 2, kRate, 6000, kRate, 2, c) / 0.25;
    REQUIRE(db(g) < -6);  // the band is active
    const double predicted =
        db(std::abs(1.0 + (g - 1) * response(BiquadCoeffs::bandpass(kRate, 6000, s.q), 500)));
    const double measured =
        db(rz::test::tone_amplitude(y, kRate / 2, kRate, 500, kRate, 2, c) / 0.25);
    CHECK(measured == Approx(predicted).margin(kFarPredictionTolDb));
    CHECK(std::fabs(measured) <= kFarUntouchedDb);
  }
}

TEST_CASE("dynamics: dynamic EQ releases to exact pass-through and counts active frames",
          "[unit][dynamics]") {
  // A loud 6 kHz burst (200 ms) then the same tone below threshold (3 s). The cut falls at the
  // release rate once the band drops: below kActiveCutDb after release_ms * ln(cut / 0.1 dB),
  // and to exactly 0 (pass-through) after ln(cut / 1e-7 dB) = ~19 time constants (1.5 s).
  // Frames counted active: the burst plus that release, give or take the attack (< 0.2 ms to
  // pass 0.1 dB) and the band-pass ringing in and out (Q / (pi f) = 0.1 ms): allow 1 ms.
  constexpr double kActiveTolS = 1e-3;
  DynamicEqSettings s;  // release 80 ms
  constexpr int64_t kBurst = kRate / 5, kTail = 3 * kRate;
  auto x = rz::test::sine(6000, 0.25, kRate, kBurst + kTail);
  for (int64_t i = kBurst; i < kBurst + kTail; ++i) x[i] *= 0.05f;  // -38 dBFS
  DynamicEq eq(1, kRate, s);
  const auto y = run(eq, x, 4096);
  bool tail_exact = true;
  for (size_t i = x.size() - kRate; i < x.size(); ++i) tail_exact = tail_exact && y[i] == x[i];
  CHECK(tail_exact);
  const double cut = eq.max_cut_db_applied();
  REQUIRE(cut > 3);
  CHECK(cut <= s.max_cut_db);
  const double active_s =
      kBurst / double(kRate) + s.release_ms * 1e-3 * std::log(cut / DynamicEq::kActiveCutDb);
  CHECK(eq.active_ratio() * x.size() / kRate == Approx(active_s).margin(kActiveTolS));
}

// ---------------------------------------------------------------------------------------------
// All blocks

TEST_CASE("dynamics: odd-sized blocks and in-place processing are bit-identical",
          "[unit][dynamics]") {
  // Noise with loud and quiet stretches and a 6 kHz component, stereo, so every block works.
  constexpr int64_t kFrames = kRate;
  auto x = rz::test::white_noise(0.1, kFrames, 2, 21);
  const auto hiss = rz::test::sine(6000, 0.2, kRate, kFrames, 2);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = ((i / 5000) % 2 ? 4.0f : 1.0f) * x[i] + hiss[i];
  }
  CompressorSettings cs;
  cs.ratio = 4;
  TransientShaperSettings ts;
  ts.attack_gain_db = 6;
  ts.sustain_gain_db = -4;
  DynamicEqSettings es;
  es.threshold_db = -24;
  auto check_block = [&](auto make) {
    auto whole_p = make();
    const auto whole = run(*whole_p, x);
    auto blocks_p = make();
    std::vector<float> blocks(x.size());
    for (int64_t pos = 0, n = 1; pos < kFrames; pos += n, n = n * 7 % 1013 + 1) {
      const int64_t m = std::min(n, kFrames - pos);
      blocks_p->process(x.data() + 2 * pos, blocks.data() + 2 * pos, static_cast<size_t>(m));
    }
    CHECK(blocks == whole);
    auto in_place_p = make();
    auto in_place = x;
    in_place_p->process(in_place.data(), in_place.data(), kFrames);
    CHECK(in_place == whole);
    CHECK(whole != x);  // the settings do act on this signal
    CHECK(whole_p->latency_frames() == 0);
    CHECK(whole_p->channels() == 2);
  };
  check_block([&] { return std::make_unique<Compressor>(2, kRate, cs); });
  check_block([&] { return std::make_unique<TransientShaper>(2, kRate, ts); });
  check_block([&] { return std::make_unique<DynamicEq>(2, kRate, es); });
}

TEST_CASE("dynamics: validate() rejects bad settings naming the field and range",
          "[unit][dynamics]") {
  CHECK_NOTHROW(CompressorSettings{}.validate());
  CHECK_NOTHROW(TransientShaperSettings{}.validate());
  CHECK_NOTHROW(DynamicEqSettings{}.validate());

  CompressorSettings c;
  c.threshold_db = 3;
  check_rejects(c, "threshold_db", "-96..0 dBFS");
  c = {};
  c.ratio = 0.5;
  check_rejects(c, "ratio", "1..100");
  c = {};
  c.knee_db = -1;
  check_rejects(c, "knee_db", "0..48 dB");
  c = {};
  c.attack_ms = 0;
  check_rejects(c, "attack_ms", "0.01..1000 ms");
  c = {};
  c.release_ms = std::numeric_limits<double>::quiet_NaN();
  check_rejects(c, "release_ms", "1..5000 ms");
  c = {};
  c.makeup_db = 30;
  check_rejects(c, "makeup_db", "-24..24 dB");

  TransientShaperSettings t;
  t.attack_gain_db = 30;
  check_rejects(t, "attack_gain_db", "-24..24 dB");
  t = {};
  t.sustain_gain_db = -30;
  check_rejects(t, "sustain_gain_db", "-24..24 dB");
  t = {};
  t.fast_ms = 0;
  check_rejects(t, "fast_ms", "0.05..100 ms");
  t = {};
  t.slow_ms = t.fast_ms;
  check_rejects(t, "slow_ms", "more than fast_ms");
  t = {};
  t.release_ms = t.slow_ms;
  check_rejects(t, "release_ms", "more than slow_ms");
  t = {};
  t.hold_ms = -1;
  check_rejects(t, "hold_ms", "0..100 ms");
  t = {};
  t.max_gain_db = 25;
  check_rejects(t, "max_gain_db", "0..24 dB");

  DynamicEqSettings e;
  e.freq_hz = 10;
  check_rejects(e, "freq_hz", "20..20000 Hz");
  e = {};
  e.q = 0;
  check_rejects(e, "q", "0.1..20");
  e = {};
  e.threshold_db = -100;
  check_rejects(e, "threshold_db", "-96..0 dBFS");
  e = {};
  e.ratio = 1;
  check_rejects(e, "ratio", "more than 1");
  e = {};
  e.max_cut_db = 0;
  check_rejects(e, "max_cut_db", "more than 0");
  e = {};
  e.attack_ms = 2000;
  check_rejects(e, "attack_ms", "0.01..1000 ms");
  e = {};
  e.release_ms = 0.5;
  check_rejects(e, "release_ms", "1..5000 ms");

  // The constructors validate too, and check what only they know.
  c = {};
  c.ratio = 0;
  CHECK_THROWS_AS(Compressor(2, kRate, c), rz::UsageError);
  CHECK_THROWS_AS(Compressor(0, kRate, CompressorSettings{}), rz::UsageError);
  CHECK_THROWS_AS(TransientShaper(1, 0, TransientShaperSettings{}), rz::UsageError);
  e = {};
  e.freq_hz = 12000;  // valid, but above 0.49 of 22.05 kHz
  CHECK_NOTHROW(DynamicEq(1, kRate, e));
  CHECK_THROWS_AS(DynamicEq(1, 22050, e), rz::UsageError);
}
