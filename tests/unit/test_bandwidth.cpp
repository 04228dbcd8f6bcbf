// Unit tests of rz::dsp::HfRegenerator: the streaming contract, the gate, where the added band
// lies, the extrapolated envelope, and the log-spectral distance it wins back on real material.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <cstdint>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "rz/audio/file.hpp"
#include "rz/dsp/bandwidth.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/compare.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::HfRegenerator;
using rz::dsp::HfRegenSettings;

constexpr int kRate = 44100;
// The low-pass that makes the test material band-limited: 16th-order Butterworth, -96 dB/octave
// (codec low-passes are steeper still). At 8th order the Analyzer reads the rock mix's cut at
// 8 kHz as 11.5 kHz: the mix falls by ~8 dB from 6-8 to 8-10 kHz by itself, and -48 dB/octave
// spreads the rest of the drop over half an octave.
constexpr int kLowpassOrder = 16;

// Acceptance (the task's brief): LSD against the clean original, after / before.
constexpr double kLsdGain8k = 0.75;       // at least 25 % lower at an 8 kHz cutoff
constexpr double kLsdGain11k = 0.90;      // at least 10 % lower at 11 kHz
constexpr double kPianoLsdWorseDb = 0.5;  // piano, almost nothing above 8 kHz: at most 0.5 dB worse
// The Analyzer's cutoff on the 16th-order Butterworth: its corner walk stops where the skirt is
// shallower than -24 dB/octave, within a few hundred Hz of the -3 dB point (7946 .. 10745 Hz
// measured for 8 and 11 kHz).
constexpr double kCutoffFoundRel = 0.06;

// Envelope test: each regenerated band's level against the original's. The fit sees 4 kHz of
// -6 dB/octave noise through the low-pass's pass band; the Hann-window leakage and the periodogram
// spread over one second's smoothing leave a few tenths of a dB, the sixth-octave band gains and
// the fade a few more; the brief asks for ~3 dB.
constexpr double kEnvelopeDb = 3.0;
// A burst's added band with steady_gain_db -12 against 0: the jump stays above transient_jump_db
// for most of each 0.1 s burst (the 0.3 s average rises by ~9 dB of the 30 dB jump within it);
// the frames straddling the burst's end see a smaller jump.
constexpr double kOnsetReductionDb = -3.0;
// The input's own energy below the cutoff: what the added band leaks there (its gains change from
// frame to frame; Hann sidelobes) against the input's energy in that band.
constexpr double kBelowCutoffLeakDb = -40.0;
// The added band above the cutoff must be substantial on the -6 dB/octave noise for the leak test
// to mean anything: the original holds -24 dB re its whole energy above 8 kHz; the defaults add
// half the slope's fall but steady_gain_db less and the roll-off above 13 kHz.
constexpr double kAddedAtLeastDb = -35.0;
// A tone whose partials fall 12 dB/octave: one and a half times the slope, carried 1/3-3/4 octave
// above the cutoff, lies several dB under half of it; noise is carried at tilt_extrapolation
// either way.
constexpr double kTonalSlopeLessDb = 3.0;
constexpr double kSameAddedDb = 0.01;
// Speed: the brief asks >= 60x real time for a stereo 44.1 kHz stem (CPU time); asserted loosely
// because the test machine is shared (measured figures are reported by WARN).
constexpr double kMinRealTime = 15.0;

std::vector<float> excerpt(const std::string& relative, double start_s, double duration_s,
                           int* channels) {
  rz::audio::Reader reader(rz::test::require_shared(relative));
  const auto& info = reader.info();
  REQUIRE(info.sample_rate_hz == kRate);
  *channels = info.channels;
  const int64_t start = std::min<int64_t>(static_cast<int64_t>(start_s * kRate), info.frames);
  const int64_t want =
      std::min<int64_t>(static_cast<int64_t>(duration_s * kRate), info.frames - start);
  reader.seek(start);
  std::vector<float> x(static_cast<size_t>(want) * info.channels);
  size_t got = 0;
  while (got < static_cast<size_t>(want)) {
    const size_t n = reader.read(x.data() + got * info.channels, want - got);
    if (n == 0) break;
    got += n;
  }
  x.resize(got * info.channels);
  return x;
}

std::vector<float> lowpass(const std::vector<float>& x, int channels, double cutoff_hz) {
  rz::dsp::BiquadChain chain(channels);
  for (const auto& c : rz::dsp::butterworth_lowpass(kRate, cutoff_hz, kLowpassOrder)) chain.add(c);
  std::vector<float> y = x;
  chain.process(y.data(), y.size() / channels);
  return y;
}

// Runs the block over x in blocks of `block` frames, flushes its latency with zeros and returns
// the output aligned with x.
std::vector<float> run(HfRegenerator& regen, const std::vector<float>& x, size_t block = 4096) {
  const int ch = regen.channels();
  const size_t frames = x.size() / ch, latency = regen.latency_frames();
  std::vector<float> in = x;
  in.resize((frames + latency) * ch, 0.0f);
  std::vector<float> out(in.size());
  for (size_t i = 0; i < frames + latency; i += block) {
    const size_t m = std::min(block, frames + latency - i);
    regen.process(in.data() + i * ch, out.data() + i * ch, m);
  }
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(latency * ch));
  return out;
}

rz::metrics::Analysis analyse(const std::vector<float>& x, int channels) {
  rz::metrics::Analyzer a(kRate, channels);
  a.add(x.data(), x.size() / channels);
  return a.finish();
}

// Mean power per bin of the mono sum over [lo_hz, hi_hz), Welch (2048 Hann, hop 512).
struct Welch {
  std::vector<double> power;
  explicit Welch(const std::vector<float>& x, int channels) {
    rz::dsp::PowerSpectrumStream s(2048, 512);
    std::vector<float> mono(x.size() / channels, 0.0f);
    for (size_t i = 0; i < mono.size(); ++i) {
      for (int c = 0; c < channels; ++c) mono[i] += x[i * channels + c];
    }
    power.assign(s.bins(), 0.0);
    int frames = 0;
    auto take = [&](const float* p) {
      for (int k = 0; k < s.bins(); ++k) power[k] += p[k];
      ++frames;
    };
    s.push(mono.data(), mono.size(), 1, take);
    for (double& p : power) p /= std::max(frames, 1);
  }
  double band_db(double lo_hz, double hi_hz) const {
    const double bin_hz = kRate / 2048.0;
    double sum = 0;
    int n = 0;
    for (int k = static_cast<int>(std::ceil(lo_hz / bin_hz)); k * bin_hz < hi_hz; ++k) {
      sum += power[k];
      ++n;
    }
    return 10 * std::log10(sum / n + 1e-300);
  }
};

// Noise whose power per bin falls by exactly 6 dB per octave (amplitude ~ 1/f above 50 Hz), shaped
// in one FFT of the whole length (a power of two), `channels` independent channels.
std::vector<float> tilted_noise(int channels, int log2_frames, uint64_t seed) {
  const int n = 1 << log2_frames;
  rz::dsp::RealFft fft(n);
  std::vector<float> out(static_cast<size_t>(n) * channels);
  std::vector<std::complex<float>> spec(n / 2 + 1);
  std::vector<float> buf(n);
  for (int c = 0; c < channels; ++c) {
    const auto w = rz::test::white_noise(1.0, n, 1, seed + c);
    fft.forward(w.data(), spec.data());
    for (int k = 0; k <= n / 2; ++k) {
      const double f = 1.0 * k * kRate / n;
      spec[k] *= static_cast<float>(1000.0 / std::max(f, 50.0));
    }
    fft.inverse(spec.data(), buf.data());
    double ms = 0;
    for (float v : buf) ms += static_cast<double>(v) * v;
    const float scale = static_cast<float>(0.1 / std::sqrt(ms / n));  // -20 dBFS RMS
    for (int i = 0; i < n; ++i) out[static_cast<size_t>(i) * channels + c] = buf[i] * scale;
  }
  return out;
}

double energy(const std::vector<float>& x, size_t begin, size_t end) {
  double e = 0;
  for (size_t i = begin; i < end; ++i) e += static_cast<double>(x[i]) * x[i];
  return e;
}

HfRegenSettings at(double cutoff_hz) {
  HfRegenSettings s;
  s.cutoff_hz = cutoff_hz;
  return s;
}

}  // namespace

TEST_CASE("bandwidth: validate() rejects bad settings, naming the field", "[unit][bandwidth]") {
  CHECK_NOTHROW(at(8000).validate(kRate));
  CHECK_THROWS_WITH(at(0).validate(kRate), Catch::Contains("cutoff_hz"));
  CHECK_THROWS_WITH(at(21000).validate(kRate), Catch::Contains("cutoff_hz"));
  HfRegenSettings s = at(8000);
  s.max_freq_hz = 8100;  // less than 1/12 octave above the cutoff
  CHECK_THROWS_WITH(s.validate(kRate), Catch::Contains("max_freq_hz"));
  s = at(8000);
  s.min_tilt_db_per_octave = -2;  // above max_tilt_db_per_octave
  CHECK_THROWS_WITH(s.validate(kRate), Catch::Contains("max_tilt_db_per_octave"));
  s = at(8000);
  s.steady_gain_db = 3;
  CHECK_THROWS_WITH(s.validate(kRate), Catch::Contains("steady_gain_db"));
  s = at(8000);
  s.gate_window_s = 0;
  CHECK_THROWS_WITH(s.validate(kRate), Catch::Contains("gate_window_s"));
  CHECK_THROWS_AS(HfRegenerator(0, kRate, at(8000)), rz::UsageError);
  CHECK_THROWS_WITH(HfRegenerator(2, kRate, at(8000), 3.0), Catch::Contains("intensity"));
  // max_freq_hz above Nyquist is clamped, not refused.
  s = at(8000);
  s.max_freq_hz = 30000;
  CHECK_NOTHROW(HfRegenerator(2, kRate, s));
  CHECK(at(8000).to_json().at("cutoff_hz") == 8000.0);
}

TEST_CASE("bandwidth: has_band() is what validate() accepts of the band", "[unit][bandwidth]") {
  // rz-restore asks has_band() before it builds the block: every refusal of the band settings
  // must show there, or a cutoff near the top passes the decision and then fails validate().
  for (double cutoff : {500.0, 1000.0, 8000.0, 19000.0, 19845.0, 19900.0, 20801.0}) {
    for (double top : {1500.0, 2000.0, 8100.0, 20000.0, 22050.0, 30000.0, 200000.0}) {
      HfRegenSettings s = at(cutoff);
      s.max_freq_hz = top;
      bool accepted = true;
      try {
        s.validate(kRate);
      } catch (const rz::UsageError&) {
        accepted = false;
      }
      INFO("cutoff " << cutoff << " Hz, max_freq " << top << " Hz");
      CHECK(s.has_band(kRate) == accepted);
    }
  }
  CHECK(at(8000).has_band(kRate));
  HfRegenSettings near_nyquist = at(20801);  // a 44.1 kHz recording's anti-aliasing edge
  near_nyquist.max_freq_hz = 22050;
  CHECK_FALSE(near_nyquist.has_band(kRate));
}

TEST_CASE(
    "bandwidth: intensity 0 is the input delayed by latency_frames(), bit for bit, in any "
    "block sizes",
    "[unit][bandwidth]") {
  const auto x = lowpass(rz::test::white_noise(0.2, 30000, 2, 7), 2, 8000);
  for (size_t block : {size_t{1}, size_t{7}, size_t{512}, size_t{40000}}) {
    HfRegenerator regen(2, kRate, at(8000), 0.0);
    REQUIRE(regen.latency_frames() == 2048);
    const auto y = run(regen, x, block);
    REQUIRE(y.size() == x.size());
    CHECK(y == x);
    CHECK(regen.active_ratio() == 0.0);
    CHECK(std::isinf(regen.added_energy_db()));
  }
}

TEST_CASE("bandwidth: the output does not depend on the block sizes, and in == out works",
          "[unit][bandwidth]") {
  const auto x = lowpass(tilted_noise(2, 16, 11), 2, 8000);
  HfRegenerator ref_block(2, kRate, at(8000));
  const auto ref = run(ref_block, x, 4096);
  REQUIRE(ref_block.active_ratio() > 0.5);  // something was added: the comparison means something
  for (size_t block : {size_t{1}, size_t{333}, size_t{100000}}) {
    HfRegenerator regen(2, kRate, at(8000));
    CHECK(run(regen, x, block) == ref);
  }
  // In place, in irregular blocks.
  HfRegenerator regen(2, kRate, at(8000));
  std::vector<float> buf = x;
  buf.resize(x.size() + 2 * regen.latency_frames(), 0.0f);
  const size_t total = buf.size() / 2;
  for (size_t i = 0, b = 1; i < total; i += b, b = b * 3 % 1031 + 1) {
    regen.process(buf.data() + 2 * i, buf.data() + 2 * i, std::min(b, total - i));
  }
  buf.erase(buf.begin(), buf.begin() + 2 * static_cast<std::ptrdiff_t>(regen.latency_frames()));
  CHECK(buf == ref);
}

TEST_CASE("bandwidth: the latency is exact and the band below the cutoff passes untouched",
          "[unit][bandwidth]") {
  const auto x = lowpass(tilted_noise(2, 17, 21), 2, 8000);
  HfRegenerator regen(2, kRate, at(8000));
  const auto y = run(regen, x);
  REQUIRE(y.size() == x.size());
  std::vector<float> added(x.size()), misaligned(x.size());
  for (size_t i = 0; i < x.size(); ++i) added[i] = y[i] - x[i];
  for (size_t i = 2; i < x.size(); ++i) misaligned[i] = y[i] - x[i - 2];  // one frame off
  const Welch in(x, 2), add(added, 2), off(misaligned, 2);
  const double below_in = in.band_db(20, 7600), below_added = add.band_db(20, 7600);
  const double added_db = 10 * std::log10(energy(added, 0, added.size()) / energy(x, 0, x.size()));
  INFO("added " << added_db << " dB; below 7.6 kHz: input " << below_in << " dB, added "
                << below_added << " dB, one frame off " << off.band_db(20, 7600) << " dB");
  CHECK(added_db > kAddedAtLeastDb);
  CHECK(regen.added_energy_db() == Approx(added_db).margin(0.01));
  CHECK(below_added - below_in < kBelowCutoffLeakDb);
  // A delay one frame off leaves the band below the cutoff in the difference (-24 dB on this
  // noise, which has most of its energy at low frequencies, where one frame moves little).
  CHECK(off.band_db(20, 7600) - below_in > kBelowCutoffLeakDb);
}

TEST_CASE("bandwidth: nothing is added to digital silence or to a passage at the noise floor",
          "[unit][bandwidth]") {
  {
    std::vector<float> silence(2 * kRate * 2, 0.0f);
    HfRegenerator regen(2, kRate, at(8000));
    const auto y = run(regen, silence, 1000);
    CHECK(y == silence);
    CHECK(regen.active_ratio() == 0.0);
    CHECK(std::isinf(regen.added_energy_db()));
  }
  // 6 s of music-like noise bursts (-6 dB/octave, 0.5 s on at -20 dBFS, 0.25 s at -40 dBFS), then
  // 6 s of the recording's noise floor: white noise low-passed at 8 kHz, 70 dB under the bursts.
  const int loud_frames = 6 * kRate, quiet_frames = 6 * kRate;
  const auto burst = tilted_noise(2, 19, 5);
  const auto floor_noise =
      rz::test::white_noise(0.1 * std::pow(10.0, -70 / 20.0), quiet_frames, 2, 9);
  std::vector<float> x(static_cast<size_t>(loud_frames + quiet_frames) * 2);
  for (int i = 0; i < loud_frames; ++i) {
    const float g = (i % (kRate * 3 / 4)) < kRate / 2 ? 1.0f : 0.1f;
    for (int c = 0; c < 2; ++c) x[2 * i + c] = g * burst[2 * i + c];
  }
  std::copy(floor_noise.begin(), floor_noise.end(), x.begin() + 2 * loud_frames);
  x = lowpass(x, 2, 8000);
  HfRegenerator regen(2, kRate, at(8000));
  const auto y = run(regen, x);
  // Over the loud part the band is regenerated; from half a second into the floor on, not a bit
  // is added.
  const size_t quiet_from = 2 * static_cast<size_t>(loud_frames + kRate / 2);
  double loud_added = 0;
  for (size_t i = 0; i < 2 * static_cast<size_t>(loud_frames); ++i) {
    loud_added += std::pow(static_cast<double>(y[i]) - x[i], 2);
  }
  CHECK(loud_added > 1e-3 * energy(x, 0, 2 * static_cast<size_t>(loud_frames)));
  size_t changed = 0;
  for (size_t i = quiet_from; i < x.size(); ++i) changed += y[i] != x[i];
  CHECK(changed == 0);
}

TEST_CASE("bandwidth: the regenerated band follows a -6 dB/octave source within 3 dB per band",
          "[unit][bandwidth]") {
  const auto clean = tilted_noise(2, 19, 3);  // 11.9 s
  const auto cut = lowpass(clean, 2, 8000);
  const auto found = analyse(cut, 2);
  REQUIRE(found.band_limited);
  CHECK(found.bandwidth_hz == Approx(8000).epsilon(kCutoffFoundRel));
  // The envelope itself: the whole measured slope carried up, no roll-off knee, no steady-state
  // reduction, the copy's fine structure kept (its level is then the arithmetic mean's).
  HfRegenSettings s = at(found.bandwidth_hz);
  s.tilt_extrapolation = 1;
  s.rolloff_db_per_octave = 0;
  s.steady_gain_db = 0;
  s.fine_structure = 1;
  HfRegenerator regen(2, kRate, s);
  const auto y = run(regen, cut);
  CHECK(regen.tilt_db_per_octave() == Approx(-6).margin(1.0));
  const Welch orig(clean, 2), out(y, 2), low(cut, 2);
  for (double lo : {9000.0, 12000.0, 16000.0}) {
    const double hi = std::min(lo * 4 / 3, 20000.0);
    INFO("band " << lo << " .. " << hi << " Hz: original " << orig.band_db(lo, hi)
                 << " dB, low-passed " << low.band_db(lo, hi) << " dB, regenerated "
                 << out.band_db(lo, hi) << " dB");
    CHECK(std::abs(out.band_db(lo, hi) - orig.band_db(lo, hi)) < kEnvelopeDb);
  }
  // Steady noise gets steady_gain_db less.
  s.steady_gain_db = -6;
  HfRegenerator steady(2, kRate, s);
  const Welch out_steady(run(steady, cut), 2);
  CHECK(out_steady.band_db(12000, 16000) - out.band_db(12000, 16000) ==
        Approx(s.steady_gain_db).margin(1.0));
}

TEST_CASE(
    "bandwidth: tonal sound gets tonal_tilt_extrapolation of its slope, noise tilt_extrapolation",
    "[unit][bandwidth]") {
  // A harmonic tone (220 Hz, partials falling 12 dB per octave, stereo) and -6 dB/octave noise,
  // both low-passed at 8 kHz: the flatness of the source octave tells them apart, and only the
  // tone's added band changes when the tonal share changes.
  constexpr int kFrames = 6 * kRate;
  constexpr double kF0 = 220;
  std::vector<float> tone(2 * static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    double v = 0;
    for (int h = 1; h * kF0 < 20000; ++h)
      v += std::pow(10.0, -12.0 * std::log2(h) / 20) * std::sin(2 * M_PI * kF0 * h * i / kRate + h);
    tone[2 * static_cast<size_t>(i)] = tone[2 * static_cast<size_t>(i) + 1] =
        static_cast<float>(0.1 * v);
  }
  const auto noise = lowpass(tilted_noise(2, 18, 5), 2, 8000);
  const auto cut = lowpass(tone, 2, 8000);
  const HfRegenSettings s = at(8000);
  HfRegenSettings half = s;  // the noise's share for the tone too
  half.tonal_tilt_extrapolation = half.tilt_extrapolation;
  HfRegenerator tonal(2, kRate, s), noisy(2, kRate, s);
  HfRegenerator tonal_half(2, kRate, half), noisy_half(2, kRate, half);
  const Welch tone_out(run(tonal, cut), 2), tone_half_out(run(tonal_half, cut), 2);
  const Welch noise_out(run(noisy, noise), 2), noise_half_out(run(noisy_half, noise), 2);
  INFO("flatness: tone " << tonal.flatness_db() << " dB, noise " << noisy.flatness_db() << " dB");
  CHECK(tonal.flatness_db() < s.tonal_flatness_db);
  CHECK(noisy.flatness_db() > s.noisy_flatness_db);
  // 10-14 kHz: the tone's partials, carried down at one and a half times their slope, get less
  // than at half of it; the noise gets the same either way.
  const double tone_db = tone_out.band_db(10000, 14000);
  const double half_db = tone_half_out.band_db(10000, 14000);
  INFO("10-14 kHz: tone " << tone_db << " dB (" << half_db << " dB at half the slope), noise "
                          << noise_out.band_db(10000, 14000) << " dB");
  CHECK(tone_db < half_db - kTonalSlopeLessDb);
  CHECK(noise_out.band_db(10000, 14000) ==
        Approx(noise_half_out.band_db(10000, 14000)).margin(kSameAddedDb));
}

TEST_CASE("bandwidth: onsets get the full envelope, steady sound steady_gain_db less",
          "[unit][bandwidth]") {
  // Bursts of -6 dB/octave noise, 0.1 s every 0.5 s, 30 dB over the noise between them.
  const auto noise = tilted_noise(1, 18, 17);  // 5.9 s
  std::vector<float> bursts(noise.size()), steady = noise;
  const int period = kRate / 2, on = kRate / 10;
  for (size_t i = 0; i < noise.size(); ++i) {
    bursts[i] = noise[i] * (static_cast<int>(i % period) < on ? 1.0f : 0.0316f);
  }
  bursts = lowpass(bursts, 1, 8000);
  steady = lowpass(steady, 1, 8000);
  HfRegenSettings full = at(8000), reduced = at(8000);
  full.steady_gain_db = 0;
  reduced.steady_gain_db = -12;
  // Added energy over the bursts (skipping the first second, while the trackers settle) and over
  // the whole steady noise, with both settings.
  auto added = [&](const HfRegenSettings& s, const std::vector<float>& x, bool in_bursts) {
    HfRegenerator regen(1, kRate, s);
    const auto y = run(regen, x);
    double e = 0;
    for (size_t i = kRate; i < x.size(); ++i) {
      if (!in_bursts || static_cast<int>(i % period) < on) e += std::pow(double{y[i]} - x[i], 2);
    }
    return e;
  };
  const double onset_db = 10 * std::log10(added(reduced, bursts, true) / added(full, bursts, true));
  const double steady_db =
      10 * std::log10(added(reduced, steady, false) / added(full, steady, false));
  INFO("bursts " << onset_db << " dB, steady " << steady_db << " dB");
  // Onsets: the level jumps by ~30 dB over its 0.3 s average, far past transient_jump_db.
  CHECK(onset_db > kOnsetReductionDb);
  CHECK(steady_db == Approx(reduced.steady_gain_db).margin(1.0));
}

namespace {

struct Case {
  const char* name;
  const char* file;
  double start_s, duration_s, lowpass_hz;
};

struct Outcome {
  double cutoff_hz, lsd_before_db, lsd_after_db, realtime;
};

Outcome measure(const Case& c) {
  int channels = 0;
  const auto clean = excerpt(c.file, c.start_s, c.duration_s, &channels);
  const auto cut = lowpass(clean, channels, c.lowpass_hz);
  const auto found = analyse(cut, channels);
  INFO(c.name << ": detected cutoff " << found.bandwidth_hz << " Hz");
  REQUIRE(found.band_limited);
  CHECK(found.bandwidth_hz == Approx(c.lowpass_hz).epsilon(kCutoffFoundRel));
  HfRegenerator regen(channels, kRate, at(found.bandwidth_hz));
  // CPU time of this process (single-threaded here), less sensitive than wall time to the other
  // jobs on a shared machine.
  const std::clock_t t0 = std::clock();
  const auto y = run(regen, cut);
  const double elapsed = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
  const size_t frames = clean.size() / channels;
  Outcome o;
  o.cutoff_hz = found.bandwidth_hz;
  o.lsd_before_db = rz::metrics::compare(clean.data(), cut.data(), frames, channels).lsd_db;
  o.lsd_after_db = rz::metrics::compare(clean.data(), y.data(), frames, channels).lsd_db;
  o.realtime = static_cast<double>(frames) / kRate / elapsed;
  WARN(c.name << " low-passed at " << c.lowpass_hz << " Hz: cutoff found " << o.cutoff_hz
              << " Hz, LSD " << o.lsd_before_db << " -> " << o.lsd_after_db << " dB ("
              << 100 * (1 - o.lsd_after_db / o.lsd_before_db) << " % lower), added "
              << regen.added_energy_db() << " dB, active " << regen.active_ratio() << ", tilt "
              << regen.tilt_db_per_octave() << " dB/oct, " << o.realtime << "x real time");
  return o;
}

constexpr const char* kSong = "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg";
constexpr const char* kMix = "audio/stems/musdb7-80srock/mixture.wav";
constexpr const char* kPiano =
    "audio/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg";

}  // namespace

TEST_CASE("bandwidth: on a song low-passed at 8 and 11 kHz the LSD drops by 25 and 10 %",
          "[unit][bandwidth][real]") {
  const Outcome a = measure({"song", kSong, 20, 25, 8000});
  CHECK(a.lsd_after_db < kLsdGain8k * a.lsd_before_db);
  RZ_CHECK_SPEED(a.realtime > kMinRealTime);
  const Outcome b = measure({"song", kSong, 20, 25, 11000});
  CHECK(b.lsd_after_db < kLsdGain11k * b.lsd_before_db);
}

TEST_CASE("bandwidth: on a rock mix low-passed at 8 and 11 kHz the LSD drops by 25 and 10 %",
          "[unit][bandwidth][real]") {
  const Outcome a = measure({"MUSDB mix", kMix, 0, 30, 8000});
  CHECK(a.lsd_after_db < kLsdGain8k * a.lsd_before_db);
  const Outcome b = measure({"MUSDB mix", kMix, 0, 30, 11000});
  CHECK(b.lsd_after_db < kLsdGain11k * b.lsd_before_db);
}

TEST_CASE("bandwidth: solo piano with almost nothing above 8 kHz gets at most 0.5 dB more LSD",
          "[unit][bandwidth][real]") {
  const Outcome a = measure({"piano", kPiano, 5, 25, 8000});
  CHECK(a.lsd_after_db < a.lsd_before_db + kPianoLsdWorseDb);
}
