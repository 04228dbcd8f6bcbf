// Unit tests of rz::dsp WPE dereverberation and the blind T60 estimator: synthetic rooms with a
// known tail, the pass-through and streaming contracts, and reverberant versions of the shared
// recordings scored by SI-SDR against their early sound.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/dsp/convolve.hpp"
#include "rz/dsp/reverb_time.hpp"
#include "rz/dsp/wpe.hpp"
#include "rz/error.hpp"
#include "rz/metrics/compare.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::Dereverberator;
using rz::dsp::ReverbTime;
using rz::dsp::ReverbTimeEstimator;
using rz::dsp::WpeSettings;

constexpr int kRate = 44100;
// The target of dereverberation: the dry source through the first 50 ms of the room.
constexpr double kEarlyS = 0.05;
constexpr size_t kEarlyFrames = static_cast<size_t>(kEarlyS * kRate + 0.5);

// Set RZ_WPE_REPORT=1 to print one line per real-audio case (the report's table).
bool report() { return std::getenv("RZ_WPE_REPORT") != nullptr; }

// Runs p over x (interleaved) in blocks of `block` frames (0: one call), followed by
// latency_frames() of silence, and returns the output with the latency removed (same length as x).
std::vector<float> run(Dereverberator& p, const std::vector<float>& x, size_t block = 0) {
  const size_t ch = static_cast<size_t>(p.channels()), frames = x.size() / ch;
  std::vector<float> in = x;
  in.resize(x.size() + p.latency_frames() * ch, 0.0f);
  std::vector<float> y(in.size());
  const size_t total = in.size() / ch;
  if (block == 0) block = total;
  for (size_t pos = 0; pos < total; pos += block) {
    const size_t n = std::min(block, total - pos);
    p.process(in.data() + pos * ch, y.data() + pos * ch, n);
  }
  return std::vector<float>(
      y.begin() + static_cast<std::ptrdiff_t>(p.latency_frames() * ch),
      y.begin() + static_cast<std::ptrdiff_t>(p.latency_frames() * ch + frames * ch));
}

std::vector<float> channel(const std::vector<float>& x, int channels, int c) {
  std::vector<float> out(x.size() / channels);
  for (size_t i = 0; i < out.size(); ++i) out[i] = x[i * channels + c];
  return out;
}

// Convolution truncated to the source's length.
std::vector<float> conv(const std::vector<float>& x, const std::vector<float>& h) {
  std::vector<float> y = rz::dsp::fft_convolve(x, h);
  y.resize(x.size());
  return y;
}

// Interleaves equal-length mono channels.
std::vector<float> interleave(const std::vector<std::vector<float>>& chans) {
  std::vector<float> out(chans[0].size() * chans.size());
  for (size_t i = 0; i < chans[0].size(); ++i)
    for (size_t c = 0; c < chans.size(); ++c) out[i * chans.size() + c] = chans[c][i];
  return out;
}

// A synthetic room: unit direct impulse and a Gaussian tail from 2 ms on, decaying by 60 dB in
// t60_s, with direct-to-reverberant ratio about 0 dB.
std::vector<float> synthetic_ir(double t60_s, uint64_t seed, double length_s) {
  const size_t n = static_cast<size_t>(length_s * kRate);
  std::vector<float> noise = rz::test::white_noise(1.0, static_cast<int64_t>(n), 1, seed);
  std::vector<float> h(n, 0.0f);
  h[0] = 1.0f;
  const double decay = std::log(1000.0) / (t60_s * kRate);  // amplitude: -60 dB at t60
  double energy = 0;
  for (size_t i = static_cast<size_t>(0.002 * kRate); i < n; ++i) {
    h[i] = static_cast<float>(noise[i] * std::exp(-decay * static_cast<double>(i)));
    energy += double(h[i]) * h[i];
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(energy));
  for (size_t i = 1; i < n; ++i) h[i] *= scale;
  return h;
}

std::vector<float> head(const std::vector<float>& h, size_t frames) {
  return std::vector<float>(h.begin(),
                            h.begin() + static_cast<std::ptrdiff_t>(std::min(frames, h.size())));
}

double si_sdr_db(const std::vector<float>& reference, const std::vector<float>& estimate,
                 int channels) {
  return rz::metrics::compare(reference.data(), estimate.data(), reference.size() / channels,
                              channels)
      .si_sdr_db;
}

ReverbTime t60_of(const std::vector<float>& x, int channels) {
  ReverbTimeEstimator est(channels, kRate);
  est.add(x.data(), x.size() / channels);
  return est.finish();
}

// White-noise bursts of burst_s separated by silent gaps of gap_s (the free decays to measure).
std::vector<float> noise_bursts(double seconds, double burst_s, double gap_s, uint64_t seed) {
  const size_t n = static_cast<size_t>(seconds * kRate);
  std::vector<float> x = rz::test::white_noise(0.1, static_cast<int64_t>(n), 1, seed);
  const double period = burst_s + gap_s;
  for (size_t i = 0; i < n; ++i)
    if (std::fmod(static_cast<double>(i) / kRate, period) >= burst_s) x[i] = 0.0f;
  return x;
}

TEST_CASE("wpe: settings validate and resolve taps by channel count", "[wpe]") {
  WpeSettings s;
  REQUIRE_NOTHROW(s.validate(kRate, 2));
  CHECK(s.taps_for(1) == WpeSettings::kAutoTapsMono);
  CHECK(s.taps_for(2) == WpeSettings::kAutoTapsMulti);
  CHECK(WpeSettings::kAutoTapsMono > WpeSettings::kAutoTapsMulti);
  auto bad = [](auto change) {
    WpeSettings b;
    change(b);
    return b;
  };
  CHECK_THROWS_AS(bad([](WpeSettings& b) { b.hop_frames = 700; }).validate(kRate, 2),
                  rz::UsageError);
  CHECK_THROWS_AS(bad([](WpeSettings& b) { b.strength = 1.5; }).validate(kRate, 2), rz::UsageError);
  CHECK_THROWS_AS(bad([](WpeSettings& b) { b.wet = -0.1; }).validate(kRate, 2), rz::UsageError);
  CHECK_THROWS_AS(bad([](WpeSettings& b) { b.block_s = 0.1; }).validate(kRate, 2), rz::UsageError);
  CHECK_THROWS_AS(bad([](WpeSettings& b) { b.iterations = 0; }).validate(kRate, 2), rz::UsageError);
  CHECK_THROWS_AS(Dereverberator(0, kRate), rz::UsageError);
  const auto j = s.to_json();
  CHECK(j.at("delay_frames") == s.delay_frames);
  CHECK(j.at("tonal_max_reduction_db") == s.tonal_max_reduction_db);
}

TEST_CASE("wpe: strength 0 and wet 0 are exact delayed pass-throughs", "[wpe]") {
  const std::vector<float> x = rz::test::white_noise(0.2, kRate, 2, 7);
  for (int which = 0; which < 2; ++which) {
    WpeSettings s;
    s.block_s = 0.5;
    (which == 0 ? s.strength : s.wet) = 0.0;
    Dereverberator p(2, kRate, s);
    CHECK(p.latency_frames() ==
          static_cast<size_t>(s.fft_size + (p.block_frames() - 1) * s.hop_frames));
    const std::vector<float> y = run(p, x, 1000);
    CHECK(y == x);  // bit-identical
  }
}

TEST_CASE("wpe: wet blends the delayed dry signal with the processed one", "[wpe]") {
  const std::vector<float> x = rz::test::white_noise(0.2, kRate, 2, 9);
  WpeSettings s;
  s.block_s = 0.5;
  Dereverberator full(2, kRate, s);
  const std::vector<float> wet = run(full, x);
  s.wet = 0.25;
  Dereverberator part(2, kRate, s);
  const std::vector<float> blend = run(part, x);
  // out = dry + wet (processed - dry) in float: a few ulps of the signal (rms 0.2, peaks < 1).
  constexpr float kBlendTolerance = 1e-6f;
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::abs(blend[i] - (x[i] + 0.25f * (wet[i] - x[i]))));
  CHECK(worst < kBlendTolerance);
  CHECK(part.latency_frames() == full.latency_frames());
}

TEST_CASE("wpe: latency is exact and the output does not depend on the call sizes", "[wpe]") {
  // A dry signal (no reverberation) comes out aligned: the prediction finds little to remove and
  // what is left correlates with the input at lag 0 only.
  WpeSettings s;
  s.block_s = 2.0;
  const std::vector<float> x = rz::test::white_noise(0.2, 3 * kRate, 2, 11);
  Dereverberator whole(2, kRate, s);
  const std::vector<float> y = run(whole, x);
  const std::vector<float> y0 = channel(y, 2, 0), x0 = channel(x, 2, 0);
  CHECK(rz::dsp::find_delay(x0, y0, 4096) == 0);
  // Least squares with M = channels * taps unknowns over T frames fits away about M / T of an
  // unpredictable signal's energy (overfitting), so the dry noise keeps an SI-SDR of about
  // 10 log10((T - M) / M); 2 dB margin for the block edges and the weighting.
  const double m = 2.0 * whole.taps(), t = whole.block_frames();
  const double min_si_sdr_db = 10 * std::log10((t - m) / m) - 2.0;
  CHECK(si_sdr_db(x, y, 2) > min_si_sdr_db);
  for (size_t block : {size_t(1), size_t(37), size_t(4096)}) {
    Dereverberator p(2, kRate, s);
    CHECK(run(p, x, block) == y);
  }
}

// White-noise bursts through a synthetic room with a known tail, dereverberated. Returns the
// free-tail reduction: the energy in the gaps from kEarlyS after each burst's end to the next
// burst (where the early target is silent: all of it is late reverberation), input over output,
// in dB; and the late-energy reduction over the whole signal, |x - early| over |y - early|.
struct Synthetic {
  double tail_reduction_db = 0, late_reduction_db = 0, sisdr_in = 0, sisdr_out = 0;
};
constexpr double kBurstS = 0.1, kGapS = 0.3;
Synthetic synthetic_room(int channels, double t60_s) {
  const double seconds = 10;
  // Bursts rather than a steady noise: WPE's variance weighting needs a source whose power varies
  // (as speech and music do); on stationary white noise it reduces to plain linear prediction,
  // which cannot tell the tail from the source.
  const std::vector<float> src = noise_bursts(seconds, kBurstS, kGapS, 3);
  std::vector<std::vector<float>> wet, early;
  for (int c = 0; c < channels; ++c) {
    const std::vector<float> h = synthetic_ir(t60_s, 100 + c, 1.5 * t60_s);
    wet.push_back(conv(src, h));
    early.push_back(conv(src, head(h, kEarlyFrames)));
  }
  const std::vector<float> x = interleave(wet), target = interleave(early);
  // The tail here starts 50 ms after each burst: a prediction delay of 2 hops (46 ms) reaches
  // it. The default of 3 hops (70 ms) is tuned for music, where the 93 ms frames smear the early
  // sound past 50 ms; with it this tail loses 8.5 dB in stereo (the 50-70 ms part stays).
  WpeSettings synthetic;
  synthetic.delay_frames = 2;
  Dereverberator p(channels, kRate, synthetic);
  const std::vector<float> y = run(p, x);
  // Skip the first estimation block, where the filter has seen little.
  const size_t skip = static_cast<size_t>(p.block_frames()) * p.settings().hop_frames * channels;
  double late_in = 0, late_out = 0, tail_in = 0, tail_out = 0;
  for (size_t i = skip; i < x.size(); ++i) {
    late_in += (double(x[i]) - target[i]) * (double(x[i]) - target[i]);
    late_out += (double(y[i]) - target[i]) * (double(y[i]) - target[i]);
    const double phase = std::fmod(static_cast<double>(i / channels) / kRate, kBurstS + kGapS);
    if (phase >= kBurstS + kEarlyS) {
      tail_in += double(x[i]) * x[i];
      tail_out += double(y[i]) * y[i];
    }
  }
  Synthetic r;
  r.tail_reduction_db = 10 * std::log10(tail_in / tail_out);
  r.late_reduction_db = 10 * std::log10(late_in / late_out);
  r.sisdr_in = si_sdr_db(target, x, channels);
  r.sisdr_out = si_sdr_db(target, y, channels);
  return r;
}

TEST_CASE("wpe: removes most of a synthetic exponential tail", "[wpe]") {
  // The analytic bar: the late tail down by at least 10 dB (stereo). One channel has no
  // second view of the room and its predictor is weaker (measured 5.7 dB): its bar is 4 dB.
  constexpr double kMinTailReductionStereoDb = 10.0;
  constexpr double kMinTailReductionMonoDb = 4.0;
  // Over the whole signal the early part's STFT-domain modelling error counts too (measured
  // 6.5 dB in stereo): at least 5 dB stereo, 2 dB mono, and SI-SDR always improves.
  constexpr double kMinLateReductionStereoDb = 5.0;
  constexpr double kMinLateReductionMonoDb = 2.0;
  for (int channels : {2, 1}) {
    for (double t60 : {0.5, 0.8}) {
      const Synthetic r = synthetic_room(channels, t60);
      INFO("channels " << channels << " T60 " << t60 << " s: tail -" << r.tail_reduction_db
                       << " dB, late -" << r.late_reduction_db << " dB, SI-SDR " << r.sisdr_in
                       << " -> " << r.sisdr_out);
      if (report())
        std::printf(
            "synthetic ch=%d T60=%.1f tail_reduction=%.2f dB late_reduction=%.2f dB "
            "sisdr %.2f -> %.2f\n",
            channels, t60, r.tail_reduction_db, r.late_reduction_db, r.sisdr_in, r.sisdr_out);
      CHECK(r.tail_reduction_db >=
            (channels == 2 ? kMinTailReductionStereoDb : kMinTailReductionMonoDb));
      CHECK(r.late_reduction_db >=
            (channels == 2 ? kMinLateReductionStereoDb : kMinLateReductionMonoDb));
      CHECK(r.sisdr_out > r.sisdr_in);
    }
  }
}

TEST_CASE("wpe: the tonal guard keeps a sustained tone in a reverberant room", "[wpe]") {
  // A steady 1 kHz tone (a held note) plus noise bursts through a synthetic room: without the
  // guard the predictor cancels the tone; with it the tone loses at most a few dB.
  const double seconds = 6;
  const int64_t n = static_cast<int64_t>(seconds * kRate);
  std::vector<float> src = noise_bursts(seconds, 0.2, 0.4, 5);
  const std::vector<float> tone = rz::test::sine(1000.0, 0.1, kRate, n);
  for (size_t i = 0; i < src.size(); ++i) src[i] += tone[i];
  const std::vector<float> h = synthetic_ir(0.8, 9, 1.2);
  const std::vector<float> x = conv(src, h);
  auto tone_db = [&](const WpeSettings& s) {
    Dereverberator p(1, kRate, s);
    const std::vector<float> y = run(p, x);
    const int64_t b = 2 * kRate, e = n - kRate / 2;
    return 20 * std::log10(rz::test::tone_amplitude(y, b, e, 1000.0, kRate) /
                           rz::test::tone_amplitude(x, b, e, 1000.0, kRate));
  };
  WpeSettings guarded, unguarded;
  unguarded.tonal_max_reduction_db = 60;
  const double kept_db = tone_db(guarded), lost_db = tone_db(unguarded);
  INFO("tone change with guard " << kept_db << " dB, without " << lost_db << " dB");
  if (report())
    std::printf("tonal guard: tone %.2f dB (guard) %.2f dB (no guard)\n", kept_db, lost_db);
  // The guard allows tonal_max_reduction_db (3 dB) per cell; 1 dB margin for cells at run edges.
  constexpr double kToneMarginDb = 1.0;
  CHECK(kept_db > -(guarded.tonal_max_reduction_db + kToneMarginDb));
  CHECK(kept_db > lost_db);

  // A weaker strength shrinks the guard's allowance with it (strength * tonal_max_reduction_db):
  // rz-dereverb acts in proportion to its confidence that way. Measured on this tone: -1.23 dB
  // with the allowance fixed at 3 dB (the bound below fails), -0.78 dB with it scaled.
  WpeSettings quarter;
  quarter.strength = 0.25;
  const double quarter_db = tone_db(quarter);
  INFO("tone change at strength 0.25: " << quarter_db << " dB");
  if (report()) std::printf("tonal guard: tone %.2f dB at strength 0.25\n", quarter_db);
  CHECK(quarter_db > -quarter.strength * (quarter.tonal_max_reduction_db + kToneMarginDb));
}

TEST_CASE("reverb time: blind T60 of noise bursts through known exponential tails", "[wpe]") {
  // Octave-band decays of a synthetic room are exponential by construction; window noise biases
  // the steep-end percentile short as T60 grows (the calibration centres 0.4-1.5 s; measured
  // +5 %, -2 %, -12 %). Tolerance: 20 % of the true T60.
  constexpr double kRelTolerance = 0.2;
  double previous_s = 0;
  for (double t60 : {0.4, 0.8, 1.5}) {
    const std::vector<float> src = noise_bursts(20, 0.3, std::max(1.0, 1.2 * t60), 21);
    const std::vector<float> x = conv(src, synthetic_ir(t60, 33, 1.5 * t60));
    const ReverbTime r = t60_of(x, 1);
    INFO("true " << t60 << " s, estimate " << r.t60_s << " s from " << r.decays_used << " decays");
    if (report()) std::printf("t60 true %.2f est %.3f decays %d\n", t60, r.t60_s, r.decays_used);
    REQUIRE(r.valid);
    CHECK(std::abs(r.t60_s - t60) <= kRelTolerance * t60);
    CHECK(r.t60_s > previous_s);
    previous_s = r.t60_s;
    CHECK(r.to_json().at("decays_used") == r.decays_used);
    CHECK(r.to_json().at("t60_s") == r.t60_s);
  }
  // Continuous noise without pauses has no free decays: not valid.
  const std::vector<float> steady = rz::test::white_noise(0.1, 5 * kRate, 2, 4);
  CHECK_FALSE(t60_of(steady, 2).valid);
}

TEST_CASE("reverb time: the analysis paths below and above 32 kHz read the same room", "[wpe]") {
  // A 44.1 kHz recording declared at half or twice its rate is the same room with its time scale
  // stretched or squeezed by 2 (the bands see other frequencies of the white bursts): the
  // estimate doubles or halves. Below kDecimateFromHz the STFT runs at the rate itself, from it on
  // the channel mean is decimated first. Tolerance: the 20 % of the known-T60 test.
  constexpr double kRelTolerance = 0.2;
  const double t60 = 0.6;
  const std::vector<float> x = conv(noise_bursts(20, 0.3, 1.0, 21), synthetic_ir(t60, 33, 0.9));
  for (int rate : {kRate / 2, kRate * 2}) {
    REQUIRE((rate >= ReverbTimeEstimator::kDecimateFromHz) == (rate > kRate));
    ReverbTimeEstimator est(1, rate);
    est.add(x.data(), x.size());
    const ReverbTime r = est.finish();
    const double expected_s = t60 * kRate / rate;
    INFO("declared " << rate << " Hz: " << r.t60_s << " s, expected " << expected_s << " s");
    if (report()) std::printf("t60 at %d Hz: %.3f s (expected %.3f)\n", rate, r.t60_s, expected_s);
    REQUIRE(r.valid);
    CHECK(std::abs(r.t60_s - expected_s) <= kRelTolerance * expected_s);
  }
}

TEST_CASE("reverb time: the blind T60 is the same in any block size", "[wpe]") {
  const std::vector<float> x = conv(noise_bursts(6, 0.3, 1.0, 7), synthetic_ir(0.6, 8, 0.9));
  const ReverbTime whole = t60_of(x, 1);
  for (size_t block : {size_t{1}, size_t{333}, size_t{70000}}) {
    ReverbTimeEstimator est(1, kRate);
    for (size_t pos = 0; pos < x.size(); pos += block)
      est.add(x.data() + pos, std::min(block, x.size() - pos));
    const ReverbTime r = est.finish();
    INFO("block " << block << ": " << r.t60_s << " s vs " << whole.t60_s << " s");
    CHECK(r.valid == whole.valid);
    CHECK(r.t60_s == whole.t60_s);
    CHECK(r.decays_used == whole.decays_used);
  }
}

TEST_CASE("reverb time: the estimator is cheap next to dereverberation", "[wpe]") {
  // rz-dereverb runs two estimators per pass and WPE runs 10-20x real time here (the report
  // lines above), so 5 % of its time allows 400-800x real time for each; the bar is kMinRealtime,
  // the slow end, halved for the shared 2-core machine (measured 600-750x on 10 s of stereo;
  // timing is indicative).
  constexpr double kMinRealtime = 200.0;
  const std::vector<float> x = rz::test::white_noise(0.1, 10 * kRate, 2, 9);
  ReverbTimeEstimator est(2, kRate);
  const auto t0 = std::chrono::steady_clock::now();
  est.add(x.data(), x.size() / 2);
  const ReverbTime r = est.finish();
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double realtime = 10.0 / elapsed_s;
  INFO("10 s of stereo in " << elapsed_s * 1000 << " ms (" << realtime << "x real time)");
  if (report()) std::printf("reverb time cost: %.1f ms per 10 s stereo\n", elapsed_s * 1000);
  RZ_CHECK_SPEED(realtime >= kMinRealtime);
  CHECK_FALSE(r.valid);
}

// ---- Real recordings through the shared rooms -------------------------------------------------

std::vector<float> read_excerpt(const std::string& relative, double start_s, double length_s,
                                int* channels) {
  rz::audio::Reader r(rz::test::require_shared(relative));
  *channels = r.info().channels;
  const int rate = r.info().sample_rate_hz;
  r.seek(static_cast<int64_t>(start_s * rate));
  std::vector<float> x(static_cast<size_t>(length_s * rate) * *channels);
  size_t got = 0;
  while (got < x.size() / *channels) {
    const size_t n = r.read(x.data() + got * *channels, x.size() / *channels - got);
    if (n == 0) break;
    got += n;
  }
  x.resize(got * *channels);
  if (rate != kRate) {
    rz::audio::Resampler rs(*channels, rate, kRate, rz::audio::ResampleQuality::kMedium);
    std::vector<float> y;
    rs.process(x.data(), got, false, y);
    rs.process(nullptr, 0, true, y);
    return y;
  }
  return x;
}

struct Case {
  std::string name;
  double sisdr_in = 0, sisdr_out = 0;
  ReverbTime t60_in, t60_out;
  double removed_db = 0, tonal_ratio = 0, realtime = 0;
  double level_loss_db = 0;  // 10 log10(input energy / output energy)
  double gain() const { return sisdr_out - sisdr_in; }
};

// src: interleaved, src_channels 1 or 2. Output channels: 1 for a mono source (the room's L->L
// path), else 2 (true stereo or per-channel room).
Case run_case(const std::string& name, const std::vector<float>& src, int src_channels,
              const std::string& ir_file) {
  int ir_channels = 0, ir_rate = 0;
  const std::vector<float> ir =
      rz::test::read_all(rz::test::require_shared("audio/ir/" + ir_file), &ir_rate, &ir_channels);
  REQUIRE(ir_rate == kRate);
  const std::vector<float> s0 = channel(src, src_channels, 0);
  const std::vector<float> s1 = channel(src, src_channels, src_channels - 1);
  std::vector<std::vector<float>> wet, early;
  auto through = [&](const std::vector<float>& s, int ir_c, bool early_only) {
    std::vector<float> h = channel(ir, ir_channels, ir_c);
    if (early_only) h = head(h, kEarlyFrames);
    return conv(s, h);
  };
  auto sum = [](std::vector<float> a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  };
  int out_channels = src_channels == 1 ? 1 : 2;
  for (int e = 0; e < 2; ++e) {
    auto& dst = e ? early : wet;
    if (out_channels == 1) {
      dst.push_back(through(s0, 0, e));
    } else if (ir_channels == 4) {  // LL, LR, RL, RR
      dst.push_back(sum(through(s0, 0, e), through(s1, 2, e)));
      dst.push_back(sum(through(s0, 1, e), through(s1, 3, e)));
    } else {
      dst.push_back(through(s0, 0, e));
      dst.push_back(through(s1, ir_channels > 1 ? 1 : 0, e));
    }
  }
  const std::vector<float> x = interleave(wet), target = interleave(early);
  Case c;
  c.name = name;
  Dereverberator p(out_channels, kRate);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> y = run(p, x, 4096);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.realtime = static_cast<double>(x.size() / out_channels) / kRate / elapsed;
  c.sisdr_in = si_sdr_db(target, x, out_channels);
  c.sisdr_out = si_sdr_db(target, y, out_channels);
  c.t60_in = t60_of(x, out_channels);
  c.t60_out = t60_of(y, out_channels);
  c.removed_db = p.removed_energy_db();
  double e_in = 0, e_out = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e_in += double(x[i]) * x[i];
    e_out += double(y[i]) * y[i];
  }
  c.level_loss_db = 10 * std::log10(e_in / e_out);
  c.tonal_ratio = p.tonal_limited_ratio();
  if (report())
    std::printf(
        "%-28s SI-SDR %7.2f -> %7.2f (%+.2f) dB  T60 %.3f(%d) -> %.3f(%d) s  removed %.2f dB"
        "  level -%.2f dB  tonal %.3f  %.1fx RT\n",
        name.c_str(), c.sisdr_in, c.sisdr_out, c.gain(), c.t60_in.t60_s, c.t60_in.decays_used,
        c.t60_out.t60_s, c.t60_out.decays_used, c.removed_db, c.level_loss_db, c.tonal_ratio,
        c.realtime);
  return c;
}

// Bars of the issue: speech and drums gain on average at least kMinMeanGainDb and no case loses
// more than kMaxLossDb; sustained tonal music loses at most kMaxMusicLossDb; the band filter
// (no room) loses at most kMaxLossDb; the blind T60 is shorter after than before in the rooms.
constexpr double kMinMeanGainDb = 1.0;
constexpr double kMaxLossDb = 0.5;
constexpr double kMaxMusicLossDb = 1.0;
constexpr double kExcerptS = 10.0;
// What is left of the band-filter control: 12 dB SI-SDR is a 6 % residual energy (measured:
// song 14.9 dB, drums 24.7 dB, speech 33.4 dB).
constexpr double kMinControlSiSdrDb = 12.0;

// The blind T60 must be valid before and shorter after, in both rooms (the hall omni-35-10
// included: the steep-end decay-rate statistic reads 1.3-1.9 s there on 10 s excerpts).
void check_room_t60(const Case& c) {
  INFO(c.name << ": T60 " << c.t60_in.t60_s << " s (" << c.t60_in.decays_used << " decays) -> "
              << c.t60_out.t60_s << " s (" << c.t60_out.decays_used << ")");
  CHECK(c.t60_in.valid);
  // After dereverberation the decays may be too few to count: that is shorter too.
  CHECK((!c.t60_out.valid || c.t60_out.t60_s < c.t60_in.t60_s));
}

std::vector<float> speech_excerpt() {
  int ch = 0;
  return read_excerpt("audio/speech/198-209-0000.hq.ogg", 0.0, kExcerptS, &ch);
}

}  // namespace

// More reverberation reads longer: the same dry source through synthetic tails of increasing
// T60 gives increasing estimates (the acceptance's before/after comparison relies on this). The
// floor of the reading is the source's own steepest decays and long tails read short on 10 s
// excerpts, so only the order is asserted, with a margin of kMinStepRatio between neighbours
// (measured through 0.3 / 0.6 / 1.2 / 2.4 s: speech 0.38 / 0.62 / 1.05 / 1.47 s, drums 0.41 / 0.66
// / 1.10 / 1.75 s, song 0.70 / 1.08 / 1.40 / 1.68 s, piano 0.61 / 0.72 / 0.95 / 1.20 s; smallest
// step +18 %).
TEST_CASE("reverb time: more reverberation reads longer on real material", "[wpe][shared]") {
  constexpr double kMinStepRatio = 1.05;
  int ch = 0;
  const std::vector<float> drums_stereo =
      read_excerpt("audio/drums/break12.wav", 0.0, kExcerptS, &ch);
  const std::vector<float> drums = channel(drums_stereo, ch, 0);
  const std::vector<float> song_stereo =
      read_excerpt("audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20.0, kExcerptS, &ch);
  const std::vector<float> song = channel(song_stereo, ch, 0);
  const std::vector<float> piano_stereo =
      read_excerpt("audio/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg",
                   10.0, kExcerptS, &ch);
  const std::vector<float> piano = channel(piano_stereo, ch, 0);
  const std::vector<std::pair<std::string, std::vector<float>>> sources{
      {"speech", speech_excerpt()}, {"drums", drums}, {"song", song}, {"piano", piano}};
  for (const auto& [name, dry] : sources) {
    double previous_s = 0;
    for (double t60 : {0.3, 0.6, 1.2, 2.4}) {
      const ReverbTime r = t60_of(conv(dry, synthetic_ir(t60, 5, 1.5 * t60)), 1);
      INFO(name << " through a " << t60 << " s tail: " << r.t60_s << " s (" << r.decays_used
                << " decays), previous " << previous_s << " s");
      if (report())
        std::printf("%s tail %.1f s: T60 %.3f s (%d)\n", name.c_str(), t60, r.t60_s, r.decays_used);
      REQUIRE(r.valid);
      CHECK(r.t60_s >= kMinStepRatio * previous_s);
      previous_s = r.t60_s;
    }
  }
}

void check_speech_and_drums(const char* ir) {
  int ch = 0;
  const std::vector<float> speech = speech_excerpt();
  const std::vector<float> drums = read_excerpt("audio/drums/break12.wav", 0.0, kExcerptS, &ch);
  REQUIRE(ch == 2);
  const std::vector<Case> cases{
      run_case(std::string("speech stereo ") + ir, interleave({speech, speech}), 2, ir),
      run_case(std::string("speech mono ") + ir, speech, 1, ir),
      run_case(std::string("drums ") + ir, drums, 2, ir)};
  double mean = 0;
  for (const Case& c : cases) {
    INFO(c.name << ": SI-SDR " << c.sisdr_in << " -> " << c.sisdr_out << " dB");
    CHECK(c.gain() >= -kMaxLossDb);
    check_room_t60(c);
    mean += c.gain() / cases.size();
  }
  INFO("mean SI-SDR gain " << mean << " dB");
  CHECK(mean >= kMinMeanGainDb);
}

TEST_CASE("wpe: speech and drums in the medium room gain SI-SDR", "[wpe][shared]") {
  check_speech_and_drums("medium-room1.wav");
}

TEST_CASE("wpe: speech and drums in the hall gain SI-SDR", "[wpe][shared]") {
  check_speech_and_drums("omni-35-10.wav");
}

TEST_CASE("wpe: sustained music in the shared rooms keeps its SI-SDR", "[wpe][shared]") {
  int ch = 0;
  const std::vector<float> song =
      read_excerpt("audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20.0, kExcerptS, &ch);
  const std::vector<float> piano =
      read_excerpt("audio/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg",
                   10.0, kExcerptS, &ch);
  for (const char* ir : {"medium-room1.wav", "omni-35-10.wav"}) {
    for (const Case& c : {run_case(std::string("song ") + ir, song, 2, ir),
                          run_case(std::string("piano ") + ir, piano, 2, ir)}) {
      INFO(c.name << ": SI-SDR " << c.sisdr_in << " -> " << c.sisdr_out << " dB");
      CHECK(c.gain() >= -kMaxMusicLossDb);
      check_room_t60(c);
    }
  }
}

TEST_CASE("wpe: a band filter without a room loses nothing", "[wpe][shared]") {
  int ch = 0;
  const std::vector<float> speech = speech_excerpt();
  const std::vector<float> drums = read_excerpt("audio/drums/break12.wav", 0.0, kExcerptS, &ch);
  const std::vector<float> song =
      read_excerpt("audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20.0, kExcerptS, &ch);
  for (const Case& c : {run_case("speech stereo telephone", interleave({speech, speech}), 2,
                                 "filter-telephone.wav"),
                        run_case("drums telephone", drums, 2, "filter-telephone.wav"),
                        run_case("song telephone", song, 2, "filter-telephone.wav")}) {
    // The target is the input itself (the filter lies inside the first 50 ms), so the input's
    // SI-SDR is only float rounding: the bar is on the level (at most kMaxLossDb lost) and the
    // output still matching the input to kMinControlSiSdrDb.
    INFO(c.name << ": SI-SDR " << c.sisdr_in << " -> " << c.sisdr_out << " dB, level -"
                << c.level_loss_db << " dB");
    // Measured with the default delay of 3 hops: speech 0.00, drums 0.02, song 0.25 dB (with 2
    // hops the song lost 0.61: dense sustained music is partly predictable from 46 ms back).
    CHECK(c.level_loss_db <= kMaxLossDb);
    CHECK(c.sisdr_out >= kMinControlSiSdrDb);
  }
}

TEST_CASE("wpe: speed on 30 s of stereo", "[.wpebench]") {
  // Indicative only (shared cores): run with RZ_WPE_REPORT=1 to print the real-time factor.
  const double seconds = 30;
  std::vector<float> src = noise_bursts(seconds, kBurstS, kGapS, 8);
  const std::vector<float> x =
      interleave({conv(src, synthetic_ir(0.6, 1, 1.0)), conv(src, synthetic_ir(0.6, 2, 1.0))});
  Dereverberator p(2, kRate);
  std::vector<float> y(x.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t pos = 0; pos < x.size() / 2; pos += 4096) {
    const size_t n = std::min<size_t>(4096, x.size() / 2 - pos);
    p.process(x.data() + pos * 2, y.data() + pos * 2, n);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report()) std::printf("30 s stereo: %.2f s, %.2fx real time\n", elapsed, seconds / elapsed);
  CHECK(elapsed > 0);
}

TEST_CASE("reverb time: the reverberant-capture confidence needs a long reading and an audience",
          "[wpe]") {
  rz::dsp::ReverbTime t;
  t.valid = true;
  t.t60_s = 2.0;
  CHECK(rz::dsp::reverberation_confidence(t, 5.0) == 1.0);   // a hall with a crowd
  CHECK(rz::dsp::reverberation_confidence(t, 30.0) == 0.0);  // no audience floor: a studio
  t.t60_s = 0.5;
  CHECK(rz::dsp::reverberation_confidence(t, 5.0) == 0.0);  // the programme's own decays
  t.t60_s = 0.5 * (rz::dsp::kDryT60S + rz::dsp::kReverberantT60S);
  CHECK(rz::dsp::reverberation_confidence(t, 5.0) == Approx(0.5));
  t.t60_s = 2.0;
  CHECK(rz::dsp::reverberation_confidence(t, rz::dsp::kAudienceSnrDb - 1.5) == Approx(0.5));
  t.valid = false;
  CHECK(rz::dsp::reverberation_confidence(t, 5.0) == 0.0);  // too few decays: no evidence
}
