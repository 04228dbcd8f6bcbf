// Unit tests of rz::dsp::TruePeakDetector, TruePeakLimiter and TpdfDither.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "rz/dsp/limiter.hpp"
#include "rz/metrics/loudness.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::LimiterSettings;
using rz::dsp::TpdfDither;
using rz::dsp::TruePeakDetector;
using rz::dsp::TruePeakLimiter;

constexpr int kRate = 48000;

// A 4x-oversampling detector reads the waveform only at quarter-sample instants: a sine's crest can
// fall half a quarter-sample from the nearest one, where it reads A cos(pi f / (4 fs)). Beyond that
// grid error the interpolator's passband ripple may move the reading by this much (Kaiser beta 8,
// 64 taps: ~0.001 dB measured, 0.02 dB allowed).
constexpr double kDetectorRippleDb = 0.02;
// libebur128's meter may read a true peak up to 0.2 dB high (the over-read EBU Tech 3341 allows a
// true-peak meter; libebur128 1.2.6 reads a steady 16 kHz sine about 0.11 dB high), while the
// limiter bounds its own 4x estimate, which never reads high. So the limiter's output, measured
// by libebur128, may exceed the ceiling by at most that allowance.
constexpr double kMeterOverReadDb = 0.2;
// Dither: TPDF of +/-1 LSB plus rounding gives an error within +/-1.5 LSB.
constexpr double kDitherMaxErrorLsb = 1.5;
// Without dither, rounding to nearest: within 0.5 LSB (plus float32 rounding of the input, ~1e-7).
constexpr double kRoundingMaxErrorLsb = 0.5 + 1e-6;
// Mean of the dithered error over 10^5 samples: its standard deviation is 0.5 LSB / sqrt(10^5)
// = 0.0016 LSB; 0.01 LSB is 6 standard deviations.
constexpr double kDitherMeanLsb = 0.01;
// Error power with TPDF dither: 1/6 LSB^2 (dither) + 1/12 LSB^2 (rounding) = 1/4 LSB^2. Over 10^5
// samples the estimate's relative spread is under 1 %; 5 % separates it clearly from undithered
// rounding (1/12) and rectangular dither (1/6).
constexpr double kDitherPowerRel = 0.05;
// A sine of 0.3 LSB recovered from the dithered output by projection over 10^5 samples: the
// projection's noise is 0.5 LSB * sqrt(2 / 10^5) = 0.0022 LSB; 0.02 LSB is 9 standard deviations.
constexpr double kSubLsbAmplitudeLsb = 0.02;
// Every test input peaks at +5 dBTP or more, so limiting to any ceiling <= -0.1 dBTP must reduce it
// by at least 5 dB (and the input must read that loud, or the test proves nothing).
constexpr double kLoudInputDb = 5.0;
// After a burst the gain recovers exponentially (80 ms release); 2 s later it is 1 within this.
constexpr double kRecoveredDb = 0.001;

double db(double v) { return 20.0 * std::log10(v); }

// Highest detector reading over x (mono), skipping the first frames while the history fills.
double detector_peak(const std::vector<float>& x, int channels) {
  TruePeakDetector d(channels);
  const size_t frames = x.size() / static_cast<size_t>(channels);
  float peak = 0.0f;
  for (size_t i = 0; i < frames; ++i) {
    const float p = d.push(&x[i * channels]);
    if (i >= 4u * TruePeakDetector::kTapsPerPhase) peak = std::max(peak, p);
  }
  return peak;
}

std::vector<float> limit(const std::vector<float>& x, int channels, const LimiterSettings& s,
                         size_t block = 4096, TruePeakLimiter* keep = nullptr) {
  TruePeakLimiter own(channels, kRate, s);
  TruePeakLimiter& l = keep ? *keep : own;
  std::vector<float> out;
  const size_t frames = x.size() / static_cast<size_t>(channels);
  for (size_t pos = 0; pos < frames; pos += block) {
    l.process(x.data() + pos * channels, std::min(block, frames - pos), out);
  }
  l.flush(out);
  return out;
}

double libebur128_true_peak(const std::vector<float>& x, int channels) {
  rz::metrics::LoudnessMeter m(channels, kRate, rz::metrics::LoudnessMeter::kTruePeak);
  m.add(x.data(), x.size() / static_cast<size_t>(channels));
  return m.true_peak_dbtp();
}

}  // namespace

TEST_CASE("limiter: TruePeakDetector reads a sine's amplitude at any phase", "[unit][limiter]") {
  constexpr double kAmplitude = 0.5;
  for (double f : {997.0, 5000.0, 12000.0, 15000.0, 18000.0, 20000.0}) {
    // Lowest reading allowed: the crest halfway between two quarter-sample instants.
    const double grid_loss_db = db(std::cos(M_PI * f / (4.0 * kRate)));
    for (int p = 0; p < 16; ++p) {
      const double phase = 2 * M_PI * p / 16;
      INFO(f << " Hz, phase " << p << "/16 cycle");
      const auto x = rz::test::sine(f, kAmplitude, kRate, kRate / 10, 1, phase);
      const double reading_db = db(detector_peak(x, 1) / kAmplitude);
      CHECK(reading_db <= kDetectorRippleDb);
      CHECK(reading_db >= grid_loss_db - kDetectorRippleDb);
    }
  }
}

TEST_CASE("limiter: TruePeakDetector finds the inter-sample peak of fs/4 at 45 degrees",
          "[unit][limiter]") {
  // Samples at +/-0.7071 A; the crests fall exactly on the 2nd of 4 interpolated points.
  const auto x = rz::test::sine(kRate / 4.0, 1.0, kRate, 4800, 2, M_PI / 4);
  double sample_peak = 0;
  for (float v : x) sample_peak = std::max(sample_peak, double(std::fabs(v)));
  CHECK(db(sample_peak) == Approx(db(M_SQRT1_2)).margin(kDetectorRippleDb));
  CHECK(db(detector_peak(x, 2)) == Approx(0.0).margin(kDetectorRippleDb));
}

TEST_CASE("limiter: TruePeakDetector latency and channel maximum", "[unit][limiter]") {
  CHECK(TruePeakDetector::latency() == TruePeakDetector::kTapsPerPhase / 2);
  // An impulse on channel 1 only: the reading at the impulse's own (delayed) frame is its value.
  TruePeakDetector d(2);
  std::vector<float> readings;
  for (int i = 0; i < 40; ++i) {
    const float frame[2] = {0.0f, i == 5 ? -0.75f : 0.0f};
    readings.push_back(d.push(frame));
  }
  const int at = 5 + TruePeakDetector::latency();
  CHECK(readings[at] == 0.75f);  // phase 0 of the interpolator is the sample itself
  for (int i = 0; i < 40; ++i) CHECK(readings[i] <= readings[at]);
}

TEST_CASE("limiter: output true peak stays under the ceiling (libebur128)", "[unit][limiter]") {
  constexpr int kChannels = 2;
  constexpr int64_t kFrames = 2 * kRate;
  struct Material {
    const char* name;
    std::vector<float> x;
  };
  std::vector<Material> materials;
  {  // noise at -6 dBFS RMS plus a 997 Hz sine peaking at +6 dBFS
    auto x = rz::test::white_noise(0.5, kFrames, kChannels, 11);
    const auto s = rz::test::sine(997.0, 2.0, kRate, kFrames, kChannels);
    for (size_t i = 0; i < x.size(); ++i) x[i] += s[i];
    materials.push_back({"noise + 997 Hz at +6 dBFS", x});
  }
  // Inter-sample-peak sines: fs/4 at 45 degrees (samples 3 dB under the crest), 16 kHz.
  materials.push_back({"fs/4 at 45 degrees, +6 dBFS",
                       rz::test::sine(kRate / 4.0, 2.0, kRate, kFrames, kChannels, M_PI / 4)});
  materials.push_back(
      {"16 kHz, +6 dBFS", rz::test::sine(16000.0, 2.0, kRate, kFrames, kChannels, 0.3)});
  {  // quiet noise with a 0.5 s burst of a +5.6 dBFS square wave (1 kHz)
    auto x = rz::test::white_noise(0.02, kFrames, kChannels, 5);
    for (int64_t i = kRate / 2; i < kRate; ++i) {
      for (int c = 0; c < kChannels; ++c) x[i * kChannels + c] += (i % 48 < 24) ? 1.9f : -1.9f;
    }
    materials.push_back({"square burst", x});
  }
  for (double ceiling : {-1.0, -0.1, -3.0}) {
    for (const Material& m : materials) {
      INFO(m.name << ", ceiling " << ceiling << " dBTP");
      LimiterSettings s;
      s.ceiling_dbtp = ceiling;
      TruePeakLimiter l(kChannels, kRate, s);
      const auto out = limit(m.x, kChannels, s, 1000, &l);
      REQUIRE(out.size() == m.x.size());
      CHECK(libebur128_true_peak(m.x, kChannels) >= ceiling + kLoudInputDb);
      CHECK(libebur128_true_peak(out, kChannels) <= ceiling + kMeterOverReadDb);
      CHECK(l.limited_frames() > 0);
      CHECK(l.max_reduction_db() >= kLoudInputDb);
    }
  }
}

TEST_CASE("limiter: quiet input passes unchanged, only delayed", "[unit][limiter]") {
  constexpr int kChannels = 2;
  auto x = rz::test::white_noise(0.05, kRate, kChannels, 8);  // peaks near -12 dBFS
  const auto s2 = rz::test::sine(15000.0, 0.1, kRate, kRate, kChannels, 1.0);
  for (size_t i = 0; i < x.size(); ++i) x[i] += s2[i];
  LimiterSettings s;  // ceiling -1 dBTP
  TruePeakLimiter l(kChannels, kRate, s);
  std::vector<float> out;
  l.process(x.data(), kRate, out);
  // Frames come out latency() behind: after kRate input frames, kRate - latency() are out.
  CHECK(out.size() == (kRate - l.latency()) * kChannels);
  l.flush(out);
  REQUIRE(out.size() == x.size());
  CHECK(out == x);  // gain exactly 1: bit-identical after realignment
  CHECK(l.limited_frames() == 0);
  CHECK(l.max_reduction_db() == 0.0);
}

TEST_CASE("limiter: latency() is the delay of an impulse", "[unit][limiter]") {
  for (double lookahead_ms : {1.0, 5.0, 10.0}) {
    INFO("look-ahead " << lookahead_ms << " ms");
    LimiterSettings s;
    s.lookahead_ms = lookahead_ms;
    TruePeakLimiter l(1, kRate, s);
    // Look-ahead plus the detector's delay on each side of its window.
    const size_t lookahead = static_cast<size_t>(lookahead_ms * 1e-3 * kRate);
    CHECK(l.latency() == lookahead - 1 + 2 * TruePeakDetector::latency());
    // Feed an impulse at frame 100 one frame at a time; it must appear in the output once frame
    // 100 + latency() has been fed.
    constexpr size_t kAt = 100;
    std::vector<float> out;
    size_t emitted_after = 0;
    for (size_t i = 0; i < kAt + l.latency() + 50 && emitted_after == 0; ++i) {
      const float v = i == kAt ? 0.25f : 0.0f;
      l.process(&v, 1, out);
      for (float o : out) {
        if (o != 0.0f) emitted_after = i;
      }
    }
    CHECK(emitted_after == kAt + l.latency());
    REQUIRE(out.size() > kAt);
    CHECK(out[kAt] == 0.25f);  // output frame index == input frame index
  }
}

TEST_CASE("limiter: gain recovers after a loud burst", "[unit][limiter]") {
  constexpr int64_t kFrames = 3 * kRate;
  auto x = rz::test::sine(440.0, 0.25, kRate, kFrames, 1);
  for (int64_t i = kRate / 10; i < kRate / 2; ++i) x[i] *= 8.0f;  // +6 dBFS for 0.4 s
  LimiterSettings s;
  const auto out = limit(x, 1, s);
  REQUIRE(out.size() == x.size());
  double worst = 0;
  for (int64_t i = 2 * kRate; i < kFrames; ++i) {
    // Only samples well away from zero crossings, where the ratio is meaningful.
    if (std::fabs(x[i]) > 0.05) worst = std::max(worst, std::fabs(db(out[i] / x[i])));
  }
  CHECK(worst <= kRecoveredDb);
}

TEST_CASE("limiter: block size does not change the output", "[unit][limiter]") {
  auto x = rz::test::white_noise(0.6, kRate, 2, 21);
  LimiterSettings s;
  const auto a = limit(x, 2, s, kRate);
  const auto b = limit(x, 2, s, 333);
  CHECK(a == b);
}

TEST_CASE("dither: quantised values are multiples of one LSB", "[unit][limiter][dither]") {
  for (int bits : {16, 24}) {
    INFO(bits << " bits");
    const double lsb = std::ldexp(1.0, -(bits - 1));
    auto x = rz::test::white_noise(0.3, 20000, 1, 31);
    x[0] = 1.0f;  // full scale clamps to the largest code
    x[1] = -1.0f;
    std::vector<int32_t> q(x.size());
    std::vector<float> decoded(x.size());
    TpdfDither d(bits, 7);
    CHECK(d.bits() == bits);
    d.quantise(x.data(), x.size(), q.data(), decoded.data());
    bool all_multiples = true, ints_match = true, low_bits_zero = true;
    for (size_t i = 0; i < x.size(); ++i) {
      const double code = decoded[i] / lsb;
      all_multiples = all_multiples && code == std::round(code);
      ints_match =
          ints_match && static_cast<int64_t>(q[i]) ==
                            static_cast<int64_t>(std::llround(code)) * (int64_t{1} << (32 - bits));
      low_bits_zero = low_bits_zero && (q[i] & ((int64_t{1} << (32 - bits)) - 1)) == 0;
    }
    CHECK(all_multiples);
    CHECK(ints_match);
    CHECK(low_bits_zero);
    CHECK(double(decoded[0]) == 1.0 - lsb);
    CHECK(q[0] == static_cast<int32_t>(((int64_t{1} << (bits - 1)) - 1) << (32 - bits)));
    CHECK(decoded[1] == -1.0f);
    CHECK(q[1] == std::numeric_limits<int32_t>::min());
  }
}

TEST_CASE("dither: seeded output is reproducible", "[unit][limiter][dither]") {
  const auto x = rz::test::white_noise(0.2, 10000, 2, 41);
  auto run = [&](uint64_t seed) {
    TpdfDither d(16, seed);
    std::vector<int32_t> q(x.size());
    std::vector<float> decoded(x.size());
    // In two calls: the generator's state carries over.
    d.quantise(x.data(), 4000, q.data(), decoded.data());
    d.quantise(x.data() + 4000, x.size() - 4000, q.data() + 4000, decoded.data() + 4000);
    return q;
  };
  CHECK(run(1) == run(1));
  CHECK(run(1) != run(2));
}

TEST_CASE("dither: rounding error without dither is at most half an LSB",
          "[unit][limiter][dither]") {
  constexpr int kBits = 16;
  const double lsb = std::ldexp(1.0, -(kBits - 1));
  const auto x = rz::test::white_noise(0.2, 100000, 1, 51);
  std::vector<int32_t> q(x.size());
  std::vector<float> decoded(x.size());
  TpdfDither d(kBits, 1, /*enabled=*/false);
  d.quantise(x.data(), x.size(), q.data(), decoded.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::fabs(double(decoded[i]) - x[i]));
  CHECK(worst / lsb <= kRoundingMaxErrorLsb);
  // Deterministic: the seed is irrelevant without dither.
  std::vector<int32_t> q2(x.size());
  TpdfDither(kBits, 99, false).quantise(x.data(), x.size(), q2.data(), decoded.data());
  CHECK(q == q2);
}

TEST_CASE("dither: TPDF error is zero-mean, bounded and of power LSB^2/4",
          "[unit][limiter][dither]") {
  constexpr int kBits = 16;
  const double lsb = std::ldexp(1.0, -(kBits - 1));
  const auto x = rz::test::white_noise(0.2, 100000, 1, 61);
  std::vector<int32_t> q(x.size());
  std::vector<float> decoded(x.size());
  TpdfDither d(kBits, 3);
  d.quantise(x.data(), x.size(), q.data(), decoded.data());
  double sum = 0, sum_sq = 0, worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = (double(decoded[i]) - x[i]) / lsb;
    sum += e;
    sum_sq += e * e;
    worst = std::max(worst, std::fabs(e));
  }
  const double n = static_cast<double>(x.size());
  CHECK(std::fabs(sum / n) <= kDitherMeanLsb);
  CHECK(worst <= kDitherMaxErrorLsb);
  CHECK(sum_sq / n == Approx(0.25).epsilon(kDitherPowerRel));
}

TEST_CASE("dither: a sine below one LSB survives dithering", "[unit][limiter][dither]") {
  // 0.3 LSB: plain rounding turns it into silence; TPDF dither keeps it, linearly, in the noise.
  constexpr int kBits = 16;
  constexpr int kFrames = 100000;
  const double lsb = std::ldexp(1.0, -(kBits - 1));
  const double amplitude = 0.3 * lsb;
  const auto x = rz::test::sine(1000.0, amplitude, kRate, kFrames);
  std::vector<int32_t> q(x.size());
  std::vector<float> plain(x.size()), dithered(x.size());
  TpdfDither(kBits, 1, false).quantise(x.data(), x.size(), q.data(), plain.data());
  TpdfDither(kBits, 1, true).quantise(x.data(), x.size(), q.data(), dithered.data());
  bool silent = true;
  for (float v : plain) silent = silent && v == 0.0f;
  CHECK(silent);
  double proj = 0;
  for (int i = 0; i < kFrames; ++i) proj += dithered[i] * std::sin(2 * M_PI * 1000.0 * i / kRate);
  const double recovered = 2 * proj / kFrames;
  CHECK(recovered / lsb == Approx(0.3).margin(kSubLsbAmplitudeLsb));
}
