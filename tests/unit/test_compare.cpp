// Unit tests of rz::metrics::Comparator: SDR, SI-SDR and log-spectral distance.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "rz/metrics/compare.hpp"
#include "test_support.hpp"

namespace {

using rz::metrics::Comparator;
using rz::metrics::Comparison;

constexpr int kRate = 48000;
constexpr int64_t kFrames = 100000;  // 10^5 frames per channel

// y = x + 0.1 n with n independent of x and of the same RMS: SDR = 20 dB + 10 log10(sum x^2 / sum
// n^2). Each sum of 10^5 squared Gaussians has a relative standard deviation of sqrt(2 / 10^5) =
// 0.45 %, the ratio of two independent ones 0.63 %, i.e. 0.027 dB; 0.2 dB is over 7 standard
// deviations.
constexpr double kFiniteSampleDb = 0.2;
// The same quantities recomputed in the test from their definitions in double precision: only the
// order of additions differs.
constexpr double kDefinitionDb = 1e-6;
// Streaming: block boundaries change neither the running sums' order nor the STFT framing.
constexpr double kStreamingRel = 1e-12;
// A scale change of g moves every bin's power by exactly 20 log10 g unless the -80 dB floor
// (relative to the loudest bin) clips it. Periodogram bins of white noise are exponentially
// distributed around their mean; the loudest of ~2e5 bins is ~11 dB above the mean, so the floor
// sits ~69 dB below the mean, where a bin falls with probability ~1e-7: no bin is clipped, and
// float rounding of the powers is the only error (well under 0.001 dB).
constexpr double kLsdGainDb = 1e-3;
// Regression: LSD of this test's deterministic noise against half of it.
constexpr double kLsdRegressionDb = 1e-4;
// An estimate that differs from the reference only under the floor reads 0, up to the float32
// rounding of the sum (ulp 6e-8 at 0.5), which moves near-floor bins by ~1e-5 dB.
constexpr double kLsdUnderFloorDb = 1e-4;
// SI-SDR of a scaled copy: ideally infinite; anything above 100 dB is "identical up to scale".
constexpr double kScaledCopySiSdrDb = 100.0;
// LSD of a sparse reference against it plus noise at half its RMS: most bins go from the -100 dB
// floor to the noise level (~ -55 dB per bin), so well over 10 dB.
constexpr double kNoiseFilledLsdDb = 10.0;
// The cap compare.cpp reports for an exact match instead of +infinity (kMaxRatioDb).
constexpr double kCapDb = 300.0;

double db10(double ratio) { return 10.0 * std::log10(ratio); }

Comparison compare(const std::vector<float>& x, const std::vector<float>& y, int channels,
                   size_t block = 0) {
  const size_t frames = x.size() / static_cast<size_t>(channels);
  if (block == 0) block = frames;
  rz::metrics::LsdLevelScan scan(channels);
  for (size_t pos = 0; pos < frames; pos += block)
    scan.add(x.data() + pos * channels, std::min(block, frames - pos));
  Comparator c(channels, scan.finish());
  for (size_t pos = 0; pos < frames; pos += block) {
    const size_t n = std::min(block, frames - pos);
    c.add(x.data() + pos * channels, y.data() + pos * channels, n);
  }
  return c.finish();
}

// A music-like reference: a few harmonics of two notes with slow amplitude modulation.
std::vector<float> chord(int64_t frames) {
  std::vector<float> x(static_cast<size_t>(frames), 0.0f);
  const double notes[] = {220.0, 277.18};
  for (int64_t i = 0; i < frames; ++i) {
    const double t = static_cast<double>(i) / kRate;
    double v = 0;
    for (double f : notes) {
      for (int h = 1; h <= 5; ++h) v += (0.1 / h) * std::sin(2 * M_PI * f * h * t + h);
    }
    x[static_cast<size_t>(i)] = static_cast<float>(v * (0.8 + 0.2 * std::sin(2 * M_PI * 0.7 * t)));
  }
  return x;
}

double rms(const std::vector<float>& x) {
  double acc = 0;
  for (float v : x) acc += double(v) * v;
  return std::sqrt(acc / x.size());
}

// y = x + g * n, n white noise scaled to the RMS of x.
std::vector<float> add_noise(const std::vector<float>& x, double g, uint64_t seed) {
  auto n = rz::test::white_noise(rms(x), static_cast<int64_t>(x.size()), 1, seed);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] + static_cast<float>(g) * n[i];
  return y;
}

// SDR and SI-SDR straight from the definitions in compare.hpp.
double sdr_by_definition(const std::vector<float>& x, const std::vector<float>& y) {
  double xx = 0, ee = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    xx += double(x[i]) * x[i];
    ee += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  }
  return db10(xx / ee);
}

double si_sdr_by_definition(const std::vector<float>& x, const std::vector<float>& y) {
  double xx = 0, xy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    xx += double(x[i]) * x[i];
    xy += double(x[i]) * y[i];
  }
  const double a = xy / xx;
  double target = 0, residual = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    target += (a * x[i]) * (a * x[i]);
    residual += (a * x[i] - y[i]) * (a * x[i] - y[i]);
  }
  return db10(target / residual);
}

}  // namespace

TEST_CASE("compare: y = x + 0.1 n gives SDR and SI-SDR of 20 dB", "[unit][compare]") {
  struct Reference {
    const char* name;
    std::vector<float> x;
  };
  const Reference references[] = {{"white noise", rz::test::white_noise(0.1, kFrames, 1, 1)},
                                  {"chord", chord(kFrames)}};
  for (const Reference& r : references) {
    INFO(r.name);
    const auto y = add_noise(r.x, 0.1, 2);
    const Comparison c = compare(r.x, y, 1);
    CHECK(c.frames == kFrames);
    CHECK(c.sdr_db == Approx(20.0).margin(kFiniteSampleDb));
    CHECK(c.si_sdr_db == Approx(20.0).margin(kFiniteSampleDb));
    CHECK(c.sdr_db == Approx(sdr_by_definition(r.x, y)).margin(kDefinitionDb));
    CHECK(c.si_sdr_db == Approx(si_sdr_by_definition(r.x, y)).margin(kDefinitionDb));
    // Additive independent noise: the projection removes almost nothing, SI-SDR ~ SDR.
    CHECK(std::fabs(c.si_sdr_db - c.sdr_db) < kFiniteSampleDb);
  }
}

TEST_CASE("compare: SDR over a range of noise levels", "[unit][compare]") {
  const auto x = rz::test::white_noise(0.1, kFrames, 1, 11);
  for (double snr_db : {0.0, 10.0, 30.0, 40.0}) {
    INFO("target " << snr_db << " dB");
    const auto y = add_noise(x, std::pow(10.0, -snr_db / 20.0), 12);
    const Comparison c = compare(x, y, 1);
    CHECK(c.sdr_db == Approx(snr_db).margin(kFiniteSampleDb));
    CHECK(c.si_sdr_db == Approx(si_sdr_by_definition(x, y)).margin(kDefinitionDb));
  }
}

TEST_CASE("compare: a scaled copy has unbounded SI-SDR but SDR of the gain error",
          "[unit][compare]") {
  // White noise: every bin's power is far above LSD's floor, so the floor cannot dilute the 6 dB
  // per bin (a sparse reference would have most bins at the floor on both sides).
  const auto x = rz::test::white_noise(0.1, kFrames, 1, 31);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = 0.5f * x[i];
  const Comparison c = compare(x, y, 1);
  CHECK(c.si_sdr_db >= kScaledCopySiSdrDb);
  // SDR = 10 log10(sum x^2 / sum (0.5 x)^2) = 20 log10 2 = 6.0206 dB.
  CHECK(c.sdr_db == Approx(20.0 * std::log10(2.0)).margin(kDefinitionDb));
  // Every bin's power is 4x lower: LSD = 10 log10 4 = 6.0206 dB in every frame.
  CHECK(c.lsd_db == Approx(20.0 * std::log10(2.0)).margin(kLsdGainDb));
  CHECK(c.lsd_db == Approx(6.02059).margin(kLsdRegressionDb));

  // A polarity flip is a scale of -1: still unbounded SI-SDR, and SDR = 10 log10(1/4).
  for (size_t i = 0; i < x.size(); ++i) y[i] = -x[i];
  const Comparison flipped = compare(x, y, 1);
  CHECK(flipped.si_sdr_db >= kScaledCopySiSdrDb);
  CHECK(flipped.sdr_db == Approx(-20.0 * std::log10(2.0)).margin(kDefinitionDb));
}

TEST_CASE("compare: identical signals reach the capped maximum", "[unit][compare]") {
  const auto x = rz::test::white_noise(0.2, kFrames, 2, 3);
  const Comparison c = compare(x, x, 2);
  CHECK(c.frames == kFrames);
  CHECK(std::isfinite(c.sdr_db));
  CHECK(std::isfinite(c.si_sdr_db));
  CHECK(c.sdr_db == kCapDb);
  CHECK(c.si_sdr_db == kCapDb);
  CHECK(c.lsd_db == 0.0);
  // Nothing else scores higher than identity.
  const Comparison near = compare(x, add_noise(x, 1e-4, 4), 2);
  CHECK(near.sdr_db < c.sdr_db);
  CHECK(near.sdr_db == Approx(80.0).margin(kFiniteSampleDb));
}

TEST_CASE("compare: streaming in blocks equals one block", "[unit][compare]") {
  const auto x = rz::test::white_noise(0.1, kFrames, 2, 5);
  auto n = rz::test::white_noise(0.03, kFrames, 2, 6);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = 0.9f * x[i] + n[i];
  const Comparison whole = compare(x, y, 2);
  for (size_t block : {1, 511, 4096, 33333}) {
    INFO("block " << block);
    const Comparison parts = compare(x, y, 2, block);
    CHECK(parts.frames == whole.frames);
    CHECK(parts.sdr_db == Approx(whole.sdr_db).epsilon(kStreamingRel));
    CHECK(parts.si_sdr_db == Approx(whole.si_sdr_db).epsilon(kStreamingRel));
    CHECK(parts.lsd_db == Approx(whole.lsd_db).epsilon(kStreamingRel));
  }
}

TEST_CASE("compare: channels are stacked", "[unit][compare]") {
  // Left identical, right with noise at the right channel's RMS * 0.1: the error energy is the
  // right channel's, the signal energy both channels'.
  auto x = rz::test::white_noise(0.1, kFrames, 2, 7);
  auto n = rz::test::white_noise(0.01, kFrames, 1, 8);
  std::vector<float> y = x;
  double xx = 0, ee = 0;
  for (int64_t i = 0; i < kFrames; ++i) {
    y[2 * i + 1] = x[2 * i + 1] + n[i];
    xx += double(x[2 * i]) * x[2 * i] + double(x[2 * i + 1]) * x[2 * i + 1];
    const double e = double(x[2 * i + 1]) - y[2 * i + 1];
    ee += e * e;
  }
  const Comparison c = compare(x, y, 2);
  CHECK(c.sdr_db == Approx(db10(xx / ee)).margin(kDefinitionDb));
  CHECK(c.sdr_db == Approx(20.0 + db10(2.0)).margin(kFiniteSampleDb));
}

TEST_CASE("compare: log-spectral distance grows with distortion", "[unit][compare]") {
  const auto x = chord(kFrames);
  double previous = 0.0;
  for (double g : {0.001, 0.01, 0.1, 0.5}) {
    INFO("noise gain " << g);
    const Comparison c = compare(x, add_noise(x, g, 21), 1);
    CHECK(c.lsd_db > previous);
    previous = c.lsd_db;
  }
  // The chord's spectrum is sparse: noise at half its RMS fills bins that sit at the -80 dB floor
  // in the reference by tens of dB.
  CHECK(previous > kNoiseFilledLsdDb);
  CHECK(compare(x, x, 1).lsd_db == 0.0);
}

TEST_CASE("compare: LSD floors bins 80 dB under the loudest and skips frames 60 dB down",
          "[unit][compare]") {
  // Reference: a 1 kHz tone at 0.5 for 1 s, then the same tone 70 dB down for 1 s. Estimate: the
  // same plus a 15 kHz tone 114 dB down: in every bin, under the floor (80 dB under the 1 kHz
  // tone's peak bin, where its own leakage is far lower still), so the loud frames read 0.
  constexpr int kRateHz = 44100;
  const int64_t half = kRateHz;
  auto x = rz::test::sine(1000.0, 0.5, kRateHz, 2 * half);
  for (int64_t i = half; i < 2 * half; ++i) x[static_cast<size_t>(i)] *= 3.1623e-4f;  // -70 dB
  const auto n = rz::test::sine(15000.0, 1e-6, kRateHz, 2 * half);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] + n[i];
  // Only the loud half's frames count (the quiet half is 70 dB below the loudest frame), and in
  // them the noise sits under the floor: LSD is 0.
  CHECK(compare(x, y, 1).lsd_db == Approx(0.0).margin(kLsdUnderFloorDb));
  // The same estimate scaled by 2 reads 6.02 dB wherever the tone's bins lie above the floor and 0
  // where both sides are floored: the distance is between those, and the same without the quiet
  // half (those frames are gated out).
  std::vector<float> y2(y.size());
  for (size_t i = 0; i < y.size(); ++i) y2[i] = 2.0f * y[i];
  const double gated = compare(x, y2, 1).lsd_db;
  CHECK(gated > 0.0);
  CHECK(gated < 20.0 * std::log10(2.0));
  const std::vector<float> x_loud(x.begin(), x.begin() + half + 2048);
  const std::vector<float> y_loud(y2.begin(), y2.begin() + half + 2048);
  // The loud part plus one frame length of the quiet one gives the same frames (the frames that
  // straddle the step are the only quiet-side frames, and they are above the gate either way).
  CHECK(compare(x_loud, y_loud, 1).lsd_db == Approx(gated).epsilon(1e-3));
}

TEST_CASE("compare: a silent reference counts no LSD frames", "[unit][compare]") {
  const std::vector<float> x(static_cast<size_t>(kFrames), 0.0f);
  const auto y = rz::test::white_noise(0.1, kFrames, 1, 9);
  const Comparison c = compare(x, y, 1);
  CHECK(c.lsd_db == 0.0);
  CHECK(c.sdr_db <= -kCapDb);  // no signal at all against some error: the lowest value
}

TEST_CASE("compare: to_json names the fields", "[unit][compare]") {
  const auto x = rz::test::white_noise(0.1, 4096, 1, 10);
  const Comparison c = compare(x, add_noise(x, 0.1, 11), 1);
  const auto j = c.to_json();
  CHECK(j.at("aligned_frames").get<int64_t>() == 4096);
  CHECK(j.at("sdr_db").get<double>() == c.sdr_db);
  CHECK(j.at("si_sdr_db").get<double>() == c.si_sdr_db);
  CHECK(j.at("lsd_db").get<double>() == c.lsd_db);
}
