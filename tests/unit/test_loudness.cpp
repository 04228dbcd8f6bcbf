// Unit tests of rz::metrics::LoudnessMeter against the EBU Tech 3341 / 3342 test signals,
// synthesised here from the specifications' tables (stereo 48 kHz, 1 kHz sines).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include <ebur128.h>

#include "rz/metrics/loudness.hpp"
#include "test_support.hpp"

namespace {

using rz::metrics::LoudnessMeter;

constexpr int kRate = 48000;
constexpr double kToneHz = 1000.0;

// EBU Tech 3341 section 2.9: integrated, momentary and short-term loudness within +/-0.1 LU.
constexpr double kEbu3341Lu = 0.1;
// EBU Tech 3342 section 2.9: loudness range within +/-1 LU.
constexpr double kEbu3342Lu = 1.0;
// EBU Tech 3341 true-peak cases: the meter may read +0.2 / -0.4 dB from the signal's true peak.
constexpr double kEbu3341TruePeakOverDb = 0.2;
constexpr double kEbu3341TruePeakUnderDb = 0.4;
// Regression against the values this build's libebur128 (1.2.6) gives for the same synthetic
// signals. The arithmetic is deterministic double precision; 1e-3 LU leaves room for compiler and
// libm differences and is 100x finer than the spec tolerance, so a change in how rz feeds or reads
// the meter (channel map, block sizes, gating) shows up here first.
constexpr double kRegressionLu = 1e-3;
// A mono input measured as dual mono must equal the same signal on two identical channels; the two
// paths differ only in the order of double additions.
constexpr double kDualMonoLu = 1e-6;
// 1/sqrt(2) rounded to float32 differs from the double value by 1e-8 relative: 1e-7 dB.
constexpr double kFloatRoundingDb = 1e-6;
// sample_peak_dbfs() is 20 log10 of a float sample that is exactly representable.
constexpr double kExactDb = 1e-9;

// One stretch of the 1 kHz test tone: sine peak level in dBFS (the 3341/3342 meaning of "dBFS",
// applied to every channel) and duration.
struct Segment {
  double dbfs;
  double seconds;
};

// Feeds the 1 kHz tone, phase-continuous across segments, to `meter` in 100 ms blocks.
// `channel_offset_db` (optional) adds a per-channel level offset (the 5.0 case).
void feed_tone(LoudnessMeter& meter, int channels, const std::vector<Segment>& segments,
               const std::vector<double>& channel_offset_db = {}, size_t block = kRate / 10) {
  std::vector<double> channel_gain(static_cast<size_t>(channels), 1.0);
  for (size_t c = 0; c < channel_offset_db.size(); ++c) {
    channel_gain[c] = std::pow(10.0, channel_offset_db[c] / 20.0);
  }
  std::vector<float> buf;
  int64_t n = 0;  // global sample index: the phase runs on across segments
  for (const Segment& s : segments) {
    const double amplitude = std::pow(10.0, s.dbfs / 20.0);
    const int64_t frames = std::llround(s.seconds * kRate);
    for (int64_t done = 0; done < frames;) {
      const int64_t count = std::min<int64_t>(static_cast<int64_t>(block), frames - done);
      buf.resize(static_cast<size_t>(count * channels));
      for (int64_t i = 0; i < count; ++i, ++n) {
        // n mod kRate keeps the phase argument exact (1 kHz has a whole number of cycles per
        // second).
        const double v =
            amplitude * std::sin(2 * M_PI * kToneHz * static_cast<double>(n % kRate) / kRate);
        for (int c = 0; c < channels; ++c) {
          buf[static_cast<size_t>(i * channels + c)] = static_cast<float>(v * channel_gain[c]);
        }
      }
      meter.add(buf.data(), static_cast<size_t>(count));
      done += count;
    }
  }
}

double integrated(const std::vector<Segment>& segments, int channels = 2,
                  const std::vector<double>& channel_offset_db = {}) {
  LoudnessMeter meter(channels, kRate, LoudnessMeter::kIntegrated);
  feed_tone(meter, channels, segments, channel_offset_db);
  return meter.integrated_lufs();
}

double loudness_range(const std::vector<Segment>& segments) {
  LoudnessMeter meter(2, kRate, LoudnessMeter::kRange);
  feed_tone(meter, 2, segments);
  return meter.range_lu();
}

// Raised-cosine fade over the first and last `frames` frames: a sine switched on abruptly is a step
// whose Gibbs overshoot would read as a true peak the steady sine does not have.
void fade_ends(std::vector<float>& x, int channels, size_t frames) {
  const size_t total = x.size() / static_cast<size_t>(channels);
  for (size_t i = 0; i < frames; ++i) {
    const float g =
        static_cast<float>(0.5 - 0.5 * std::cos(M_PI * static_cast<double>(i) / frames));
    for (int c = 0; c < channels; ++c) {
      x[i * channels + c] *= g;
      x[(total - 1 - i) * channels + c] *= g;
    }
  }
}

}  // namespace

TEST_CASE("loudness: EBU Tech 3341 case 1, -23 dBFS for 20 s reads -23.0 LUFS",
          "[unit][loudness]") {
  const double l = integrated({{-23, 20}});
  CHECK(l == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-22.9933).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 case 2, -33 dBFS for 20 s reads -33.0 LUFS",
          "[unit][loudness]") {
  const double l = integrated({{-33, 20}});
  CHECK(l == Approx(-33.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-32.9933).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 case 3, -36/-23/-36 dBFS reads -23.0 LUFS", "[unit][loudness]") {
  // The relative gate (-10 LU) removes the -36 dBFS stretches.
  const double l = integrated({{-36, 10}, {-23, 60}, {-36, 10}});
  CHECK(l == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-23.0139).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 case 4, -72/-36/-23/-36/-72 dBFS reads -23.0 LUFS",
          "[unit][loudness]") {
  // The absolute gate (-70 LUFS) removes -72, the relative gate -36.
  const double l = integrated({{-72, 10}, {-36, 10}, {-23, 60}, {-36, 10}, {-72, 10}});
  CHECK(l == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-23.0139).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 case 5, -26/-20/-26 dBFS reads -23.0 LUFS", "[unit][loudness]") {
  // Nothing is gated: 20 s at -26 + 20.1 s at -20 + 20 s at -26 average to -23.
  const double l = integrated({{-26, 20}, {-20, 20.1}, {-26, 20}});
  CHECK(l == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-22.9787).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 case 6, 5.0 channels read -23.0 LUFS", "[unit][loudness]") {
  // L, R at -28 dBFS, C at -24 dBFS, Ls, Rs at -30 dBFS (surrounds weighted +1.5 dB), 20 s, in
  // libebur128's default 5-channel order L R C Ls Rs.
  const double l = integrated({{0, 20}}, 5, {-28, -28, -24, -30, -30});
  CHECK(l == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(l == Approx(-23.0163).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 short-term case, 1.34 s -20 / 1.66 s -30 dBFS",
          "[unit][loudness]") {
  // Five periods of 3 s: every 3 s short-term window holds one period, so S is constant -23.0
  // once the window is full; the maximum over the run is that value.
  std::vector<Segment> segments;
  for (int i = 0; i < 5; ++i) {
    segments.push_back({-20, 1.34});
    segments.push_back({-30, 1.66});
  }
  LoudnessMeter meter(2, kRate, LoudnessMeter::kMaxima);
  feed_tone(meter, 2, segments);
  CHECK(meter.max_short_term_lufs() == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(meter.max_short_term_lufs() == Approx(-22.9863).margin(kRegressionLu));
}

TEST_CASE("loudness: EBU Tech 3341 momentary case, 0.18 s -20 / 0.22 s -30 dBFS",
          "[unit][loudness]") {
  // 25 periods of 0.4 s: every 400 ms momentary window holds one period, M is constant -23.0.
  std::vector<Segment> segments;
  for (int i = 0; i < 25; ++i) {
    segments.push_back({-20, 0.18});
    segments.push_back({-30, 0.22});
  }
  LoudnessMeter meter(2, kRate, LoudnessMeter::kMaxima);
  feed_tone(meter, 2, segments);
  CHECK(meter.max_momentary_lufs() == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(meter.max_momentary_lufs() == Approx(-22.9604).margin(kRegressionLu));
}

TEST_CASE("loudness: maxima do not depend on how the input is split into blocks",
          "[unit][loudness]") {
  const std::vector<Segment> segments = {{-30, 2.0}, {-14, 0.7}, {-40, 3.0}, {-20, 1.3}};
  LoudnessMeter a(2, kRate, LoudnessMeter::kAll), b(2, kRate, LoudnessMeter::kAll);
  feed_tone(a, 2, segments, {}, kRate / 10);
  feed_tone(b, 2, segments, {}, 777);
  CHECK(a.max_momentary_lufs() == b.max_momentary_lufs());
  CHECK(a.max_short_term_lufs() == b.max_short_term_lufs());
  CHECK(a.integrated_lufs() == b.integrated_lufs());
  // 0.7 s at -14 dBFS fills a 400 ms window: M reaches -14 LUFS (+/- 3341's tolerance).
  CHECK(a.max_momentary_lufs() == Approx(-14.0).margin(kEbu3341Lu));
}

TEST_CASE("loudness: add_async measures the same as add", "[unit][loudness]") {
  // add_async copies the block, so the caller may overwrite its buffer at once.
  auto x = rz::test::white_noise(0.1, 5 * kRate, 2, 17);
  const auto burst = rz::test::sine(3000.0, 0.9, kRate, kRate / 2, 2);
  std::copy(burst.begin(), burst.end(), x.begin() + 2 * kRate);
  LoudnessMeter sync(2, kRate), async(2, kRate);
  constexpr size_t kBlock = 4321;
  std::vector<float> buf;
  for (size_t pos = 0; pos < 5u * kRate; pos += kBlock) {
    const size_t n = std::min(kBlock, 5u * kRate - pos);
    sync.add(x.data() + 2 * pos, n);
    buf.assign(x.begin() + 2 * pos, x.begin() + 2 * (pos + n));
    async.add_async(buf.data(), n);
    std::fill(buf.begin(), buf.end(), 1.0f);  // clobbered while the worker may still run
  }
  CHECK(async.integrated_lufs() == sync.integrated_lufs());
  CHECK(async.range_lu() == sync.range_lu());
  CHECK(async.true_peak_dbtp() == sync.true_peak_dbtp());
  CHECK(async.sample_peak_dbfs() == sync.sample_peak_dbfs());
  CHECK(async.max_momentary_lufs() == sync.max_momentary_lufs());
  CHECK(async.max_short_term_lufs() == sync.max_short_term_lufs());
  CHECK(sync.sample_peak_dbfs() < 0.0);  // the clobbering value 1.0 never reached the meter
}

TEST_CASE("loudness: EBU Tech 3342 loudness range cases 1-4", "[unit][loudness]") {
  struct Case {
    const char* name;
    std::vector<Segment> segments;
    double expected_lu;
    double regression_lu;
  };
  const Case cases[] = {
      {"case 1: 20 s -20, 20 s -30 dBFS", {{-20, 20}, {-30, 20}}, 10.0, 10.0},
      {"case 2: 20 s -20, 20 s -15 dBFS", {{-20, 20}, {-15, 20}}, 5.0, 5.0},
      {"case 3: 20 s -40, 20 s -20 dBFS", {{-40, 20}, {-20, 20}}, 20.0, 20.0},
      {"case 4: -50/-35/-20/-35/-50 dBFS, 20 s each",
       {{-50, 20}, {-35, 20}, {-20, 20}, {-35, 20}, {-50, 20}},
       15.0,
       15.0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const double lra = loudness_range(c.segments);
    CHECK(lra == Approx(c.expected_lu).margin(kEbu3342Lu));
    CHECK(lra == Approx(c.regression_lu).margin(kRegressionLu));
  }
}

TEST_CASE("loudness: mono is measured as dual mono", "[unit][loudness]") {
  const double stereo = integrated({{-23, 10}}, 2);
  const double mono = integrated({{-23, 10}}, 1);
  CHECK(mono == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(mono == Approx(stereo).margin(kDualMonoLu));
}

TEST_CASE("loudness: EBU Tech 3341 true-peak sines read -6.0 dBTP", "[unit][loudness]") {
  // Sines of -6 dBFS peak whose sample phases are chosen so that no sample (or only an oversampled
  // point) hits the crest: fs/4 at 0 and 45 degrees, fs/6 at 60 degrees, fs/8 at 67.5 degrees.
  struct Case {
    double freq_hz;
    double phase_deg;
  };
  const Case cases[] = {
      {kRate / 4.0, 0}, {kRate / 4.0, 45}, {kRate / 6.0, 60}, {kRate / 8.0, 67.5}};
  constexpr double kAmplitude = 0.5;  // -6.02 dBFS
  for (const Case& c : cases) {
    INFO(c.freq_hz << " Hz, " << c.phase_deg << " degrees");
    auto x = rz::test::sine(c.freq_hz, kAmplitude, kRate, kRate, 2, c.phase_deg * M_PI / 180);
    fade_ends(x, 2, kRate / 100);
    LoudnessMeter meter(2, kRate, LoudnessMeter::kTruePeak | LoudnessMeter::kSamplePeak);
    meter.add(x.data(), kRate);
    const double tp = meter.true_peak_dbtp();
    const double expected = rz::metrics::to_db(kAmplitude);
    CHECK(tp <= expected + kEbu3341TruePeakOverDb);
    CHECK(tp >= expected - kEbu3341TruePeakUnderDb);
    CHECK(tp >= meter.sample_peak_dbfs());
  }
}

TEST_CASE("loudness: inter-sample peaks read above the sample peak", "[unit][loudness]") {
  // A 0 dBFS sine at fs/4 with 45 degrees phase: every sample is +/-0.7071 (-3.01 dBFS) while the
  // waveform between them reaches 0 dBFS.
  auto x = rz::test::sine(kRate / 4.0, 1.0, kRate, kRate, 2, M_PI / 4);
  fade_ends(x, 2, kRate / 100);
  LoudnessMeter meter(2, kRate, LoudnessMeter::kTruePeak | LoudnessMeter::kSamplePeak);
  meter.add(x.data(), kRate);
  const double sample_peak = meter.sample_peak_dbfs();
  const double true_peak = meter.true_peak_dbtp();
  CHECK(sample_peak == Approx(rz::metrics::to_db(std::sqrt(0.5))).margin(kFloatRoundingDb));
  CHECK(true_peak <= 0.0 + kEbu3341TruePeakOverDb);
  CHECK(true_peak >= 0.0 - kEbu3341TruePeakUnderDb);
  // The crest lies 3.01 dB above the samples; the meter must see at least that minus its tolerance.
  CHECK(true_peak - sample_peak >= -rz::metrics::to_db(std::sqrt(0.5)) - kEbu3341TruePeakUnderDb);
}

TEST_CASE("loudness: sample peak is the exact largest |sample|", "[unit][loudness]") {
  auto x = rz::test::white_noise(0.05, kRate, 2, 13);
  for (float& v : x) v = std::max(-0.5f, std::min(0.5f, v));  // |x| <= 0.5
  x[2 * 1234 + 1] = -0.625f;  // the peak, on the right channel, exactly representable
  LoudnessMeter meter(2, kRate, LoudnessMeter::kSamplePeak);
  meter.add(x.data(), kRate);
  CHECK(meter.sample_peak_dbfs() == Approx(20.0 * std::log10(0.625)).margin(kExactDb));
}

TEST_CASE("loudness: silence reads -infinity", "[unit][loudness]") {
  std::vector<float> silence(2 * kRate * 5, 0.0f);
  LoudnessMeter meter(2, kRate);
  meter.add(silence.data(), kRate * 5);
  CHECK(std::isinf(meter.integrated_lufs()));
  CHECK(meter.integrated_lufs() < 0);
  CHECK(std::isinf(meter.true_peak_dbtp()));
  CHECK(std::isinf(meter.sample_peak_dbfs()));
  CHECK(std::isinf(meter.max_momentary_lufs()));
  CHECK(meter.range_lu() == 0.0);
}

TEST_CASE("loudness: to_db and power_to_db", "[unit][loudness]") {
  CHECK(rz::metrics::to_db(1.0) == 0.0);
  CHECK(rz::metrics::to_db(0.1) == Approx(-20.0).margin(kExactDb));
  CHECK(rz::metrics::power_to_db(0.01) == Approx(-20.0).margin(kExactDb));
  CHECK(std::isinf(rz::metrics::to_db(0.0)));
  CHECK(rz::metrics::to_db(0.0) < 0);
  CHECK(std::isinf(rz::metrics::power_to_db(0.0)));
}

TEST_CASE("loudness: gating matches libebur128's exact block list, in constant memory",
          "[unit][loudness]") {
  // Programme-like signals (noise whose level wanders over 30 dB, with pauses that the gates
  // drop) measured by LoudnessMeter and by libebur128 itself in its exact list mode.
  // Integrated loudness may differ only by blocks within a 0.01 LU bin of the relative gate,
  // the range only by reading each percentile as its bin's mean (bins 0.01 LU wide).
  constexpr double kIntegratedAgreementLu = 1e-3;
  constexpr double kRangeAgreementLu = 0.01;
  for (const int rate : {44100, 48000, 11025}) {
    for (const uint64_t seed : {1u, 2u, 3u}) {
      INFO("rate " << rate << ", seed " << seed);
      const int seconds = 90;
      std::vector<float> x = rz::test::white_noise(1.0, static_cast<int64_t>(seconds) * rate, 2, seed);
      for (int64_t i = 0; i < static_cast<int64_t>(seconds) * rate; ++i) {
        const double t = static_cast<double>(i) / rate;
        const double level_db = -25.0 + 15.0 * std::sin(0.21 * t * static_cast<double>(seed)) -
                                 (std::fmod(t, 17.0) < 2.0 ? 60.0 : 0.0);  // a pause every 17 s
        const double g = std::pow(10.0, level_db / 20.0);
        x[static_cast<size_t>(2 * i)] *= static_cast<float>(g);
        x[static_cast<size_t>(2 * i + 1)] *= static_cast<float>(0.8 * g);
      }
      rz::metrics::LoudnessMeter meter(2, rate,
                                       rz::metrics::LoudnessMeter::kIntegrated |
                                           rz::metrics::LoudnessMeter::kRange);
      ebur128_state* ref = ebur128_init(2, static_cast<unsigned long>(rate),
                                        EBUR128_MODE_I | EBUR128_MODE_LRA);
      REQUIRE(ref != nullptr);
      // Odd block sizes: the 100 ms steps must not depend on how the input is split.
      for (size_t at = 0, n = 777; at < x.size() / 2; at += n, n = n * 7 % 9973 + 1) {
        const size_t frames = std::min(n, x.size() / 2 - at);
        meter.add(x.data() + 2 * at, frames);
        ebur128_add_frames_float(ref, x.data() + 2 * at, frames);
      }
      double integrated = 0, range = 0;
      REQUIRE(ebur128_loudness_global(ref, &integrated) == EBUR128_SUCCESS);
      REQUIRE(ebur128_loudness_range(ref, &range) == EBUR128_SUCCESS);
      ebur128_destroy(&ref);
      CHECK(meter.integrated_lufs() == Approx(integrated).margin(kIntegratedAgreementLu));
      CHECK(meter.range_lu() == Approx(range).margin(kRangeAgreementLu));
    }
  }
}

TEST_CASE("loudness: kSeries records momentary and short-term loudness every 100 ms",
          "[unit][loudness]") {
  // -36 dBFS for 10 s, then -23 dBFS for 10 s (EBU Tech 3341 levels: -23 dBFS reads -23 LUFS).
  LoudnessMeter meter(2, kRate, LoudnessMeter::kSeries | LoudnessMeter::kIntegrated);
  feed_tone(meter, 2, {{-36, 10}, {-23, 10}});
  const auto& m = meter.momentary_series();
  const auto& s = meter.short_term_series();
  REQUIRE(m.size() == 200);
  REQUIRE(s.size() == 200);
  // Steady stretches, once each block lies inside one level.
  CHECK(m[50] == Approx(-36.0).margin(kEbu3341Lu));
  CHECK(s[90] == Approx(-36.0).margin(kEbu3341Lu));
  CHECK(m[150] == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(s[199] == Approx(-23.0).margin(kEbu3341Lu));
  // Asking for the series leaves the other measurements as they are.
  CHECK(meter.integrated_lufs() == Approx(integrated({{-36, 10}, {-23, 10}})).margin(1e-12));
  // every_nth_step: the value at the end of each stretch of n steps.
  const std::vector<float> series = {1, 2, 3, 4, 5, 6, 7};
  CHECK(rz::metrics::every_nth_step(series, 3) == std::vector<float>{3, 6});
  CHECK(rz::metrics::every_nth_step(series, 1) == series);
  CHECK(rz::metrics::every_nth_step(series, 0).empty());
}

TEST_CASE("loudness: kSeries agrees with libebur128's own momentary and short-term loudness",
          "[unit][loudness]") {
  // The series is summed from 100 ms windows where a step is exactly libebur128's 100 ms (44.1
  // and 48 kHz); at 11025 Hz it is not (1103 frames a step, 1102 a window) and the meter asks
  // libebur128 for each block. Either way every value must be libebur128's, from the first step
  // (blocks not yet full read the zeros before the start) through pauses (-inf) and odd block
  // sizes. The values are stored as float: 1e-4 LU covers its rounding at these levels.
  constexpr double kSeriesAgreementLu = 1e-4;
  for (const int rate : {44100, 48000, 11025}) {
    INFO("rate " << rate);
    const int seconds = 12;
    const auto frames_total = static_cast<int64_t>(seconds) * rate;
    std::vector<float> x = rz::test::white_noise(1.0, frames_total, 2, 7);
    for (int64_t i = 0; i < frames_total; ++i) {
      const double t = static_cast<double>(i) / rate;
      const double g = t > 4.0 && t < 8.5 ? 0.0 : std::pow(10.0, (-30.0 + 10.0 * std::sin(t)) / 20);
      x[static_cast<size_t>(2 * i)] *= static_cast<float>(g);
      x[static_cast<size_t>(2 * i + 1)] *= static_cast<float>(0.5 * g);
    }
    LoudnessMeter meter(2, rate, LoudnessMeter::kSeries);
    ebur128_state* ref = ebur128_init(2, static_cast<unsigned long>(rate), EBUR128_MODE_S);
    REQUIRE(ref != nullptr);
    const auto step = static_cast<size_t>((rate + 5) / 10);
    std::vector<double> ref_m, ref_s;
    for (size_t at = 0; at + step <= static_cast<size_t>(frames_total); at += step) {
      ebur128_add_frames_float(ref, x.data() + 2 * at, step);
      double m = 0, s = 0;
      REQUIRE(ebur128_loudness_momentary(ref, &m) == EBUR128_SUCCESS);
      REQUIRE(ebur128_loudness_shortterm(ref, &s) == EBUR128_SUCCESS);
      ref_m.push_back(m);
      ref_s.push_back(s);
    }
    ebur128_destroy(&ref);
    for (size_t at = 0, n = 777; at < static_cast<size_t>(frames_total);
         at += n, n = n * 7 % 9973 + 1) {
      meter.add(x.data() + 2 * at, std::min(n, static_cast<size_t>(frames_total) - at));
    }
    const auto& m = meter.momentary_series();
    const auto& s = meter.short_term_series();
    REQUIRE(m.size() == ref_m.size());
    REQUIRE(s.size() == ref_s.size());
    size_t silent = 0;
    for (size_t i = 0; i < m.size(); ++i) {
      INFO("step " << i);
      if (std::isinf(ref_m[i])) {
        ++silent;
        CHECK(std::isinf(m[i]));
      } else {
        CHECK(m[i] == Approx(ref_m[i]).margin(kSeriesAgreementLu));
      }
      if (std::isinf(ref_s[i])) {
        CHECK(std::isinf(s[i]));
      } else {
        CHECK(s[i] == Approx(ref_s[i]).margin(kSeriesAgreementLu));
      }
    }
    CHECK(silent > 0);  // the pause was read as silence
  }
}
