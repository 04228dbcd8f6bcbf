// Unit tests of rz::dsp denoise: E1 and the LSA gain, the STFT identity, the blind tracker's
// convergence and bias, the bass guard, noise profiles and the first-pass noise analysis.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/denoise.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::Denoiser;
using rz::dsp::DenoiseSettings;
using rz::dsp::NoiseAnalysis;
using rz::dsp::NoiseAnalyzer;
using rz::dsp::NoiseProfile;
using rz::dsp::NoiseProfiler;
using rz::dsp::NoiseSource;
using rz::dsp::NoiseTracker;

constexpr int kRate = 44100;
constexpr int kFft = 2048;  // denoise_fft_size(44100), checked below
constexpr int kHop = kFft / 4;
constexpr int kBins = kFft / 2 + 1;
constexpr double kStrengthDb = DenoiseSettings{}.strength_db;  // 10 dB: gain floor 0.316
// Output levels are read in windows of 100 ms.
constexpr int64_t kLevelWindow = kRate / 10;
constexpr double kLevelWindowS = 0.1;

double db_power(double ratio) { return 10 * std::log10(ratio); }
double db_amplitude(double ratio) { return 20 * std::log10(ratio); }

// Mean power per bin of white noise of variance sigma^2 in a periodic-Hann-windowed frame:
// E|X_k|^2 = sigma^2 sum(w^2) = sigma^2 3 n / 8 (DC and Nyquist aside).
double white_bin_power(double sigma) { return sigma * sigma * 3.0 * kFft / 8.0; }

// Runs p over x in blocks of `block` frames (0: one call) and returns the output.
std::vector<float> run(Denoiser& p, const std::vector<float>& x, size_t block = 0) {
  const size_t ch = static_cast<size_t>(p.channels()), frames = x.size() / ch;
  std::vector<float> y(x.size());
  if (block == 0) block = frames;
  for (size_t pos = 0; pos < frames; pos += block) {
    const size_t n = std::min(block, frames - pos);
    p.process(x.data() + pos * ch, y.data() + pos * ch, n);
  }
  return y;
}

std::vector<float> add(std::vector<float> a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

double mean_square(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return s / static_cast<double>(x.size());
}

// Scales x to the given RMS.
std::vector<float> with_rms(std::vector<float> x, double rms) {
  const double g = rms / std::sqrt(mean_square(x));
  for (float& v : x) v = static_cast<float>(v * g);
  return x;
}

// Output level re the input, dB, in consecutive kLevelWindow windows of input time (the output
// read latency frames later): entry w covers input time [w, w + 1) * 100 ms.
std::vector<double> window_levels(const std::vector<float>& x, const std::vector<float>& y,
                                  size_t latency, int channels = 1) {
  std::vector<double> levels;
  const size_t ch = static_cast<size_t>(channels), frames = x.size() / ch;
  for (size_t s = 0; s + kLevelWindow + latency <= frames; s += kLevelWindow) {
    double ex = 0, ey = 0;
    for (size_t i = s * ch; i < (s + kLevelWindow) * ch; ++i) {
      ex += double(x[i]) * x[i];
      ey += double(y[i + latency * ch]) * y[i + latency * ch];
    }
    levels.push_back(db_power(ey / ex));
  }
  return levels;
}

// Input time (s) from which every window stays at or below `threshold_db`: the end of the first
// window of that run (so the 100 ms granularity counts against the processor). -1 if never.
double settled_after_s(const std::vector<double>& levels, double threshold_db) {
  size_t first = levels.size();
  while (first > 0 && levels[first - 1] <= threshold_db) --first;
  return first == levels.size() ? -1.0 : static_cast<double>(first + 1) * kLevelWindowS;
}

// Periodograms |X_k|^2 of mono x, periodic Hann frames of kFft every kHop frames, whole frames
// only (the denoiser's STFT without its zero-padded start).
std::vector<std::vector<double>> periodograms(const std::vector<float>& x) {
  rz::dsp::RealFft fft(kFft);
  const auto w = rz::dsp::hann_window(kFft);
  std::vector<float> frame(kFft);
  std::vector<std::complex<float>> spectrum(kBins);
  std::vector<std::vector<double>> out;
  for (size_t s = 0; s + kFft <= x.size(); s += kHop) {
    for (int j = 0; j < kFft; ++j) frame[j] = x[s + j] * w[j];
    fft.forward(frame.data(), spectrum.data());
    std::vector<double> p(kBins);
    for (int k = 0; k < kBins; ++k) p[k] = std::norm(spectrum[k]);
    out.push_back(std::move(p));
  }
  return out;
}

// Feeds all periodograms of x to a fresh NoiseTracker; returns its last estimate and, in
// `mean_power`, the mean periodogram.
std::vector<double> track(const std::vector<float>& x, const DenoiseSettings& s,
                          std::vector<double>* mean_power = nullptr) {
  NoiseTracker tracker(kBins, double(kRate) / kHop, s, kFft, kRate);
  const auto frames = periodograms(x);
  std::vector<double> estimate, mean(kBins, 0.0);
  for (const auto& p : frames) {
    estimate = tracker.update(p.data());
    for (int k = 0; k < kBins; ++k) mean[k] += p[k] / static_cast<double>(frames.size());
  }
  if (mean_power) *mean_power = mean;
  return estimate;
}

// Crowd-like noise: white noise through a 2nd-order high-pass at 300 Hz (12 dB/octave below it,
// the fall the bass guard assumes of crowd and room noise) and a 2nd-order low-pass at 3 kHz.
std::vector<float> crowd_noise(double rms, int64_t frames, uint64_t seed) {
  auto x = rz::test::white_noise(1.0, frames, 1, seed);
  rz::dsp::BiquadChain chain(1);
  chain.add(rz::dsp::BiquadCoeffs::highpass(kRate, 300));
  chain.add(rz::dsp::BiquadCoeffs::lowpass(kRate, 3000));
  chain.process(x.data(), static_cast<size_t>(frames));
  return with_rms(std::move(x), rms);
}

// A clean "melody" of pure tones: a note every 0.25 s with a sin^2 envelope (no clicks), cycling
// through 8 pitches, so each pitch sounds 0.25 s in every 2 s.
constexpr double kNoteS = 0.25;
std::vector<float> melody(double rms, int64_t frames) {
  const double pitches[] = {220.0, 277.2, 329.6, 415.3, 493.9, 587.3, 740.0, 880.0};
  const int64_t note = static_cast<int64_t>(kNoteS * kRate);
  std::vector<float> x(static_cast<size_t>(frames));
  for (int64_t i = 0; i < frames; ++i) {
    const int64_t n = i / note;
    const double t = static_cast<double>(i - n * note) / kRate;
    const double envelope = std::pow(std::sin(M_PI * t / kNoteS), 2);
    x[i] = static_cast<float>(envelope * std::sin(2 * M_PI * pitches[n % 8] * t));
  }
  return with_rms(std::move(x), rms);
}

NoiseProfile profile_of(const std::vector<float>& noise, int channels = 1, double rate = kRate) {
  NoiseProfiler profiler(channels, rate);
  profiler.add(noise.data(), noise.size() / static_cast<size_t>(channels));
  return profiler.finish();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// E1 and the LSA gain

TEST_CASE("denoise: expint_e1 matches tabulated E1 within the approximation's error",
          "[unit][denoise]") {
  // The header's contract: relative error < 5e-5.
  constexpr double kContractRelTol = 5e-5;
  // Abramowitz & Stegun's bounds for these coefficients: 5.1.56 (x >= 1) |error| < 2e-8 on
  // x e^x E1(x) (1.90e-8 at most, checked against an 80-digit series); 5.1.53 (x <= 1) states
  // |error| < 2e-7 on E1(x) + ln x, but the printed coefficients reach 2.29e-7 (at x = 0.069).
  constexpr double kSeriesAbsTol = 2.5e-7;
  constexpr double kRationalTol = 2e-8;
  struct Value {
    double x, e1, half_digit;  // the table's rounding: half a unit of its last digit
  };
  const Value table[] = {{0.1, 1.8229239584, 5e-11}, {0.5, 0.5597735948, 5e-11},
                         {1.0, 0.2193839344, 5e-11}, {2.0, 0.0489005107, 5e-11},
                         {5.0, 0.0011482956, 5e-11}, {10.0, 4.156968929e-6, 5e-16}};
  for (const Value& v : table) {
    INFO("x = " << v.x);
    const double got = rz::dsp::expint_e1(v.x);
    CHECK(std::abs(got - v.e1) <= kContractRelTol * v.e1);
    if (v.x <= 1) {
      CHECK(std::abs(got - v.e1) <= kSeriesAbsTol + v.half_digit);
    } else {
      const double scale = v.x * std::exp(v.x);  // the rational form approximates scale * E1
      CHECK(std::abs(got - v.e1) * scale <= kRationalTol + v.half_digit * scale);
    }
  }
  // A dense check against libstdc++'s exponential integral, E1(x) = -Ei(-x), which agrees with an
  // 80-digit series to 2e-15 up to x = 58 (and drifts beyond: 1 % at x = 100), hence x <= 50.
  double worst = 0;
  for (double x = 1e-4; x <= 50; x *= 1.01) {
    const double ref = -std::expint(-x);
    worst = std::max(worst, std::abs(rz::dsp::expint_e1(x) - ref) / ref);
  }
  CAPTURE(worst);
  CHECK(worst <= kContractRelTol);
  // Outside the range: E1 -> infinity at 0, and it underflows long before x = 700.
  CHECK(std::isinf(rz::dsp::expint_e1(0.0)));
  CHECK(rz::dsp::expint_e1(800.0) == 0.0);
}

TEST_CASE("denoise: lsa_gain is the Wiener gain times exp(E1 / 2): above it, rising in xi",
          "[unit][denoise]") {
  // G = r exp(E1(v) / 2) with r = xi / (1 + xi), v = r gamma. E1 > 0, so G >= r (Wiener) always;
  // and d ln G / d xi = (1 - e^-v / 2) / (xi (1 + xi)) > 0, so G rises with xi at every gamma.
  // With E1 relative error eps, G is off by eps E1 / 2 relative: below 1e-6 here.
  constexpr double kGainRelTol = 1e-6;
  // Large SNRs: v >= 500, E1(v) < e^-500, so G equals the Wiener gain to double rounding.
  constexpr double kLimitRelTol = 1e-12;
  const double gammas[] = {0.05, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0, 1000.0};
  for (double gamma : gammas) {
    INFO("gamma = " << gamma);
    double previous = 0;
    bool above_wiener = true, rising = true, matches = true;
    for (double xi = 1e-3; xi <= 1e3; xi *= 1.05) {
      const double g = rz::dsp::lsa_gain(xi, gamma), r = xi / (1 + xi);
      above_wiener = above_wiener && g >= r;
      rising = rising && g > previous;
      previous = g;
      const double ref = r * std::exp(-std::expint(-r * gamma) / 2);
      matches = matches && std::abs(g - ref) <= kGainRelTol * ref;
    }
    CHECK(above_wiener);
    CHECK(rising);
    CHECK(matches);
  }
  for (double xi : {1.0, 10.0, 100.0, 1e4}) {
    const double r = xi / (1 + xi);
    CHECK(rz::dsp::lsa_gain(xi, 1000.0) == Approx(r).epsilon(kLimitRelTol));
  }
  // ... and tends to 1 as both grow.
  CHECK(rz::dsp::lsa_gain(1e6, 1e6) == Approx(1.0).epsilon(2e-6));
  // At low SNRs the LSA gain sits well above Wiener: xi = 0.1, gamma = 1 gives v = 1/11,
  // E1(1/11) = 1.9095636216 (80-digit series), G = exp(0.95478) / 11 = 0.2361912403 against
  // Wiener's 0.0909; E1's error (< 2.5e-7) moves G by < 3e-8.
  CHECK(rz::dsp::lsa_gain(0.1, 1.0) == Approx(0.2361912403).margin(3e-8));
}

// ---------------------------------------------------------------------------------------------
// The STFT path

TEST_CASE("denoise: strength 0 dB is a pure delay of latency_frames(), in any block sizes",
          "[unit][denoise]") {
  CHECK(rz::dsp::denoise_fft_size(44100) == kFft);
  CHECK(rz::dsp::denoise_fft_size(48000) == 2048);
  CHECK(rz::dsp::denoise_fft_size(96000) == 4096);
  CHECK(rz::dsp::denoise_fft_size(22050) == 1024);
  CHECK(rz::dsp::denoise_fft_size(8000) == 512);
  // Gain floor 10^0 = 1: every bin keeps gain 1, and the Hann analysis and synthesis windows,
  // overlap-added at a quarter frame and divided by 1.5, reproduce the input. What is left is
  // the float32 FFT round trip, errors of order eps log2(n) |x| = 6e-8 * 11 * 0.25 = 1.6e-7 on
  // noise of RMS 0.25 (measured 1.8e-7 at worst): 1e-6.
  constexpr double kDelayTol = 1e-6;
  constexpr int64_t kFrames = kRate;
  const auto x = rz::test::white_noise(0.25, kFrames, 2, 17);
  DenoiseSettings s;
  s.strength_db = 0;
  const NoiseProfile profile = profile_of(rz::test::white_noise(0.25, kRate, 2, 18), 2);
  for (NoiseSource source : {NoiseSource::kBlind, NoiseSource::kProfile}) {
    INFO((source == NoiseSource::kBlind ? "blind" : "profile"));
    Denoiser whole(2, kRate, s, source, &profile);
    REQUIRE(whole.latency_frames() == static_cast<size_t>(kFft));
    const auto y = run(whole, x);
    const size_t shift = 2 * whole.latency_frames();
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double want = i >= shift ? x[i - shift] : 0.0;
      worst = std::max(worst, std::abs(y[i] - want));
    }
    CAPTURE(worst);
    CHECK(worst <= kDelayTol);
    CHECK(whole.energy_change_db() == 0.0);

    // Streaming: the same output bit for bit, whatever the block sizes, also in place.
    Denoiser streamed(2, kRate, s, source, &profile);
    std::vector<float> buf = x;
    const size_t blocks[] = {1, 7, 500, 4097, 511, 512, 513, 2048, 3};
    size_t pos = 0;
    for (size_t b = 0; pos < static_cast<size_t>(kFrames); ++b) {
      const size_t n = std::min<size_t>(blocks[b % std::size(blocks)], kFrames - pos);
      streamed.process(buf.data() + 2 * pos, buf.data() + 2 * pos, n);
      pos += n;
    }
    CHECK(buf == y);
  }
  // With reduction on, streaming is still exact.
  const auto noisy = add(rz::test::sine(1000, 0.3, kRate, kFrames, 2), x);
  Denoiser whole(2, kRate, DenoiseSettings{}, NoiseSource::kBlind);
  const auto want = run(whole, noisy);
  for (size_t block : {1, 7, 500, 4097}) {
    Denoiser streamed(2, kRate, DenoiseSettings{}, NoiseSource::kBlind);
    INFO("block " << block);
    CHECK(run(streamed, noisy, block) == want);
  }
}

// ---------------------------------------------------------------------------------------------
// Blind mode: the minimum-statistics tracker

TEST_CASE("denoise: the tracker's estimate on white noise sits 2-4 dB below the true power",
          "[unit][denoise]") {
  // Minimum statistics without bias compensation. The periodogram of one bin is exponential with
  // mean P = sigma^2 3n/8; one-pole smoothing (a = 0.9) of periodograms of 75 %-overlapping Hann
  // frames (correlation rho^2 = 0.434 at one hop, 0.028 at two) has variance
  // (1 - a)/(1 + a) (1 + 2 sum a^m rho_m^2) P^2 = 0.096 P^2, i.e. a chi^2 with nu ~ 21 degrees of
  // freedom. Its minimum over the 128-144 frames of the window (about 13 independent stretches of
  // the 10-frame smoothing) is, by simulation of chi^2_21 / 21, at median -2.6 dB with 10 % / 90 %
  // quantiles -3.9 / -1.6 dB. Measured over the 1023 inner bins: median -2.78 dB, 10 % / 90 %
  // -3.88 / -1.90 dB, extremes -5.47 / -0.38 dB.
  constexpr double kMedianLowDb = -3.5, kMedianHighDb = -2.0;
  constexpr double kP10LowDb = -5.0, kP90HighDb = -1.0;
  constexpr double kAllLowDb = -8.0, kAllHighDb = 0.0;  // the minimum never reaches the mean
  constexpr double kSigma = 0.05;
  DenoiseSettings s;
  s.low_cap_hz = 0;  // the guard is tested below; here every bin is the plain minimum
  const auto estimate = track(rz::test::white_noise(kSigma, 4 * kRate, 1, 9), s);
  std::vector<double> rel;
  for (int k = 1; k < kBins - 1; ++k)  // DC and Nyquist are real: chi^2 with 1 degree
    rel.push_back(db_power(estimate[k] / white_bin_power(kSigma)));
  std::sort(rel.begin(), rel.end());
  const double median = rel[rel.size() / 2];
  const double p10 = rel[rel.size() / 10], p90 = rel[rel.size() * 9 / 10];
  CAPTURE(median, p10, p90, rel.front(), rel.back());
  CHECK(median >= kMedianLowDb);
  CHECK(median <= kMedianHighDb);
  CHECK(p10 >= kP10LowDb);
  CHECK(p90 <= kP90HighDb);
  CHECK(rel.front() >= kAllLowDb);
  CHECK(rel.back() <= kAllHighDb);
}

TEST_CASE("denoise: blind mode converges on stationary noise within the tracker window",
          "[unit][denoise]") {
  // The tracker's window is kSubWindows sub-windows of round(W fs / (hop kSubWindows)) frames;
  // the minimum of the first sub-window (whose smoothing starts from a single periodogram, so it
  // sits low in many bins) is dropped only when the ninth sub-window ends. Its first frame is
  // the first whole one (n frames in), and the output is read in input time (the latency taken
  // out). The decision-directed gain then follows within a few frames (allow 50 ms), and the
  // first settled 100 ms window ends at most 100 ms later.
  constexpr double kGainSettleS = 0.05;
  auto bound_s = [](double window_s) {
    const double sub = std::lround(window_s * kRate / kHop / NoiseTracker::kSubWindows);
    return ((NoiseTracker::kSubWindows + 1) * sub * kHop + kFft) / double(kRate) + kGainSettleS +
           kLevelWindowS;
  };
  // Settled level: the estimate sits ~2.8 dB below the noise (test above), so noise-only bins
  // see gamma ~ 2 on average and the gain hovers at and above the floor: -8.1 dB measured at
  // 10 dB strength (1.9 dB short of the floor; -8.7 dB with a 0.5 s window, -7.7 dB with 3 s,
  // where the minimum sits lower). "Settled" is therefore within 3 dB of -strength_db.
  constexpr double kSettledMarginDb = 3.0;
  constexpr double kSettledLowDb = -kStrengthDb - 0.2;  // the floor, less 100 ms statistics
  constexpr double kSettledHighDb = -kStrengthDb + 2.5;
  // Before the window has passed the estimate from the first whole frames already takes about
  // 6 dB (measured -5.5..-6.3 dB); the zeros before the start must not reach the tracker (they
  // used to fake a silent floor for the whole first window: -0.6 dB).
  constexpr double kEarlyLevelDb = -4.0;
  struct Case {
    const char* name;
    double window_s;
    std::vector<float> noise;
  };
  const Case cases[] = {
      {"white, 1.5 s", 1.5, rz::test::white_noise(0.05, 4 * kRate, 1, 7)},
      {"crowd-like, 1.5 s", 1.5, crowd_noise(0.05, 4 * kRate, 8)},
      {"white, 0.5 s", 0.5, rz::test::white_noise(0.05, 3 * kRate, 1, 10)},
      {"white, 3 s", 3.0, rz::test::white_noise(0.05, 5 * kRate, 1, 11)},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    DenoiseSettings s;
    s.tracker_window_s = c.window_s;
    Denoiser d(1, kRate, s, NoiseSource::kBlind);
    const auto y = run(d, c.noise);
    const auto levels = window_levels(c.noise, y, d.latency_frames());
    const double settled = settled_after_s(levels, -kStrengthDb + kSettledMarginDb);
    CAPTURE(settled, bound_s(c.window_s));
    CHECK(settled > 0);
    CHECK(settled <= bound_s(c.window_s));
    // Early: windows 1 .. up to the tracker window.
    double early = -200;
    for (size_t w = 1; w < static_cast<size_t>(c.window_s / kLevelWindowS); ++w)
      early = std::max(early, levels[w]);
    CAPTURE(early);
    CHECK(early <= kEarlyLevelDb);
    if (c.window_s == 1.5) {
      // The last second: settled level.
      double sum = 0;
      const size_t last = static_cast<size_t>(1.0 / kLevelWindowS);
      for (size_t w = levels.size() - last; w < levels.size(); ++w) sum += levels[w];
      const double level = sum / static_cast<double>(last);
      CAPTURE(level);
      CHECK(level >= kSettledLowDb);
      CHECK(level <= kSettledHighDb);
    }
  }
}

TEST_CASE("denoise: the bass guard keeps a sustained bass note that the plain tracker removes",
          "[unit][denoise]") {
  // A 60 + 120 + 180 Hz complex that never stops, 0.1 each, over white noise of RMS 0.01. Per
  // bin the partials stand 45 dB above the noise ((0.05 n/2)^2 / (1e-4 3n/8), less the Hann
  // scalloping of at most 1.4 dB).
  constexpr double kPartial = 0.1, kSigma = 0.01;
  const double partials[] = {60.0, 120.0, 180.0};
  constexpr int64_t kFrames = 4 * kRate;
  auto x = rz::test::white_noise(kSigma, kFrames, 1, 5);
  for (double f : partials) x = add(x, rz::test::sine(f, kPartial, kRate, kFrames));
  // Measured after convergence, over the last 2 s (120 / 240 / 360 whole cycles); the noise's
  // share of each projection is sigma sqrt(2 / N) ~ 5e-5, i.e. < 0.01 dB.
  const int64_t begin = 2 * kRate, end = 4 * kRate;
  // Guard on: every bin of the complex sees a per-bin SNR of 45 dB or more over an estimate that
  // the guard holds under the noise floor, so its gain is 1 to 1e-4 and its sidelobes beyond the
  // main lobe carry < 0.1 % of its power: 0.1 dB is ample (measured within 0.001 dB).
  constexpr double kKeptTolDb = 0.1;
  // Guard off: the minimum of a steady partial is the partial (gamma ~ 1), so the LSA gain falls
  // towards the floor. The tone guard (estimate <= 3 dB over the median of +-4 bins) holds it
  // down where a partial has quieter neighbours: the 180 Hz partial (bin 8.4, its neighbours up to
  // bin 12 are noise) loses 8 dB, the denser 60 and 120 Hz ones the full 10. At least half the
  // strength is removed at every partial.
  constexpr double kRemovedAtLeastDb = 0.5 * kStrengthDb;
  double kept_db[3], removed_db[3];
  for (double cap : {300.0, 0.0}) {
    DenoiseSettings s;
    s.low_cap_hz = cap;
    Denoiser d(1, kRate, s, NoiseSource::kBlind);
    const auto y = run(d, x);
    const int64_t lag = static_cast<int64_t>(d.latency_frames());
    for (int i = 0; i < 3; ++i) {
      const double in = rz::test::tone_amplitude(x, begin - lag, end - lag, partials[i], kRate);
      const double out = rz::test::tone_amplitude(y, begin, end, partials[i], kRate);
      (cap > 0 ? kept_db : removed_db)[i] = db_amplitude(out / in);
    }
  }
  for (int i = 0; i < 3; ++i) {
    INFO(partials[i] << " Hz: guard on " << kept_db[i] << " dB, off " << removed_db[i] << " dB");
    CHECK(std::abs(kept_db[i]) <= kKeptTolDb);
    CHECK(removed_db[i] <= -kRemovedAtLeastDb);
    CHECK(removed_db[i] >= -kStrengthDb - kKeptTolDb);
    CHECK(kept_db[i] - removed_db[i] >= kRemovedAtLeastDb - kKeptTolDb);
  }

  // The tracker itself at the partials' centre bins (2.8, 5.6, 8.4 -> 3, 6, 8). Without the
  // bass guard its minimum is the partial's own power (steady), held down by the tone guard by at
  // most its 3 dB over the median of +-4 bins plus that median's distance under the peak: between
  // -6 and +1 dB of the partial (measured -0.03, -0.04 and -5.1 dB).
  // With it the estimate below cap bin c = round(300 n / fs) = 14 is at most the median estimate
  // of bins [c, 1.5 c] (noise, itself ~2.8 dB under the mean) times (k / c)^2, so it stays under
  // the white noise's mean power times (k / c)^2, 45 + 13.4 / 7.4 / 4.9 dB below the partials
  // (measured 61.5, 54.7, 52.5 dB below).
  constexpr double kSteadyHighDb = 1.0, kSteadyLowDb = -6.0;
  constexpr double kGuardMarginDb = 40.0;
  constexpr int kCapBin = 14;
  const int centre_bins[] = {3, 6, 8};
  DenoiseSettings guarded, plain;
  plain.low_cap_hz = 0;
  std::vector<double> mean_power;
  const auto with_guard = track(x, guarded, &mean_power);
  const auto without = track(x, plain);
  for (int k : centre_bins) {
    INFO("bin " << k << ": with guard " << db_power(with_guard[k] / mean_power[k])
                << " dB, without " << db_power(without[k] / mean_power[k]) << " dB");
    CHECK(db_power(without[k] / mean_power[k]) <= kSteadyHighDb);
    CHECK(db_power(without[k] / mean_power[k]) >= kSteadyLowDb);
    CHECK(db_power(with_guard[k] / mean_power[k]) <= -kGuardMarginDb);
    const double r = static_cast<double>(k) / kCapBin;
    CHECK(with_guard[k] <= white_bin_power(kSigma) * r * r);
  }
}

// ---------------------------------------------------------------------------------------------
// Profile mode

TEST_CASE("denoise: a noise profile measures the noise's level and spectrum", "[unit][denoise]") {
  // mean_square() is the mean over whole frames of the frame's Hann-weighted mean square
  // (Parseval), i.e. the sample mean square of the noise up to edge weights: for 1 s of stereo
  // (88200 samples) its relative spread is sqrt(2 / 88200) = 0.0048 (0.02 dB); 0.1 dB is 5 sigma.
  constexpr double kLevelTolDb = 0.1;
  // Against the sample mean square of the same signal only the edge weighting differs
  // (2048 of 44100 frames partly weighted): < 0.02 dB.
  constexpr double kSampleTolDb = 0.02;
  // Per bin the mean of ~80 periodograms (x2 channels): spread 1/sqrt(160) = 0.08 relative;
  // the mean over the 1023 inner bins of 10 log10(p / P) is unbiased to 0.1 dB (ln bias < 0.02).
  constexpr double kBinMeanTolDb = 0.1;
  for (double rms : {0.3, 0.01}) {
    INFO("rms " << rms);
    const auto noise = rz::test::white_noise(rms, kRate, 2, 23);
    const NoiseProfile p = profile_of(noise, 2);
    CHECK(p.sample_rate_hz == kRate);
    CHECK(p.fft_size == kFft);
    CHECK(p.power.size() == static_cast<size_t>(kBins));
    CHECK(p.duration_s == Approx(1.0).margin(1e-12));
    CHECK(std::abs(p.level_dbfs() - db_amplitude(rms)) <= kLevelTolDb);
    CHECK(std::abs(p.level_dbfs() - db_power(mean_square(noise))) <= kSampleTolDb);
    double mean_db = 0;
    for (int k = 1; k < kBins - 1; ++k) mean_db += db_power(p.power[k] / white_bin_power(rms));
    CHECK(std::abs(mean_db / (kBins - 2)) <= kBinMeanTolDb);
  }
  // Too short, silent, at the edge of the minimum.
  const auto short_noise = rz::test::white_noise(0.1, kRate * 4 / 10, 1, 3);  // 0.4 s
  CHECK_THROWS_AS(profile_of(short_noise), rz::InputError);
  CHECK_THROWS_WITH(profile_of(short_noise), Catch::Contains("too short"));
  CHECK_THROWS_AS(profile_of(std::vector<float>(kRate, 0.0f)), rz::InputError);
  CHECK_THROWS_WITH(profile_of(std::vector<float>(kRate, 0.0f)), Catch::Contains("silent"));
  CHECK_NOTHROW(profile_of(rz::test::white_noise(0.1, kRate / 2, 1, 3)));  // 0.5 s exactly
  NoiseProfiler nothing(1, kRate);
  CHECK_THROWS_AS(nothing.finish(), rz::InputError);
}

TEST_CASE("denoise: profile mode takes strength_db off noise from the start, refuses a mismatch",
          "[unit][denoise]") {
  // With the profile's mean spectrum, noise-only bins see gamma ~ Exp(1): the decision-directed
  // LSA gain sits at the floor except where gamma spikes (measured -9.74..-9.87 dB per 100 ms,
  // the first window included): within 1 dB of -strength_db, from the first window on.
  constexpr double kProfileMarginDb = 1.0;
  constexpr double kFloorSlackDb = 0.2;  // 100 ms windows at the floor, statistics
  const NoiseProfile profile = profile_of(rz::test::white_noise(0.05, kRate, 1, 31));
  const auto noise = rz::test::white_noise(0.05, 2 * kRate, 1, 32);
  Denoiser d(1, kRate, DenoiseSettings{}, NoiseSource::kProfile, &profile);
  const auto y = run(d, noise);
  const auto levels = window_levels(noise, y, d.latency_frames());
  const double highest = *std::max_element(levels.begin(), levels.end());
  const double lowest = *std::min_element(levels.begin(), levels.end());
  CAPTURE(highest, lowest);
  CHECK(highest <= -kStrengthDb + kProfileMarginDb);
  CHECK(lowest >= -kStrengthDb - kFloorSlackDb);
  CHECK(settled_after_s(levels, -kStrengthDb + kProfileMarginDb) == Approx(kLevelWindowS));
  // The statistics: the noise estimate is the profile in every frame.
  CHECK(d.mean_noise_dbfs() == Approx(profile.level_dbfs()).margin(1e-9));
  CHECK(std::abs(d.energy_change_db() + kStrengthDb) <= kProfileMarginDb);

  // Refusals: no profile, another rate (same FFT size at 48 kHz), another FFT size (96 kHz).
  DenoiseSettings s;
  CHECK_THROWS_AS(Denoiser(1, kRate, s, NoiseSource::kProfile), rz::UsageError);
  const NoiseProfile empty;
  CHECK_THROWS_AS(Denoiser(1, kRate, s, NoiseSource::kProfile, &empty), rz::UsageError);
  const NoiseProfile at48 = profile_of(rz::test::white_noise(0.05, 48000, 1, 33), 1, 48000);
  REQUIRE(at48.fft_size == kFft);
  CHECK_THROWS_AS(Denoiser(1, kRate, s, NoiseSource::kProfile, &at48), rz::UsageError);
  CHECK_THROWS_WITH(Denoiser(1, kRate, s, NoiseSource::kProfile, &at48),
                    Catch::Contains("another sample rate"));
  CHECK_NOTHROW(Denoiser(1, 48000, s, NoiseSource::kProfile, &at48));
  const NoiseProfile at96 = profile_of(rz::test::white_noise(0.05, 96000, 1, 34), 1, 96000);
  CHECK_THROWS_AS(Denoiser(1, kRate, s, NoiseSource::kProfile, &at96), rz::UsageError);
  // A profile may serve another channel count (it is a channel mean).
  CHECK_NOTHROW(Denoiser(2, kRate, s, NoiseSource::kProfile, &profile));
}

TEST_CASE("denoise: a steady tone 20 dB over white noise keeps its level, the noise goes",
          "[unit][denoise]") {
  // Profile mode (a tone that never stops is, to a minimum tracker, noise; the blind tracker
  // leaves it alone only below low_cap_hz, tested above). 1 kHz, amplitude 0.1 (power 5e-3)
  // over noise of power 5e-5: per bin the tone stands ~45 dB over the noise, so the gain on its
  // main lobe is 1 within 1e-4, and the sidelobes the gain may cut hold < 0.1 % of its power;
  // the noise's share of the 2 s projection is ~5e-5 relative. 0.1 dB is ample (measured
  // -0.0004 dB).
  constexpr double kToneTolDb = 0.1;
  // The rest, noise: as in profile mode on noise alone (measured -9.56 dB).
  constexpr double kNoiseMarginDb = 1.0;
  constexpr double kFloorSlackDb = 0.1;
  constexpr double kTone = 0.1, kFreq = 1000;
  const double sigma = kTone / std::sqrt(2.0) / 10;  // 20 dB under the tone
  constexpr int64_t kFrames = 4 * kRate;
  const auto tone = rz::test::sine(kFreq, kTone, kRate, kFrames);
  const auto noise = rz::test::white_noise(sigma, kFrames, 1, 3);
  const auto x = add(tone, noise);
  const NoiseProfile profile = profile_of(rz::test::white_noise(sigma, kRate, 1, 4));
  Denoiser d(1, kRate, DenoiseSettings{}, NoiseSource::kProfile, &profile);
  const auto y = run(d, x);
  const int64_t lag = static_cast<int64_t>(d.latency_frames());
  const int64_t begin = 2 * kRate, end = 4 * kRate;  // 2000 whole cycles
  const double amplitude = rz::test::tone_amplitude(y, begin, end, kFreq, kRate);
  CAPTURE(db_amplitude(amplitude / kTone));
  CHECK(std::abs(db_amplitude(amplitude / kTone)) <= kToneTolDb);
  // Residual: the output less the fitted tone (projection on sin and cos), against the noise.
  double s = 0, c = 0;
  for (int64_t i = begin; i < end; ++i) {
    const double w = 2 * M_PI * kFreq * static_cast<double>(i) / kRate;
    s += y[i] * std::sin(w);
    c += y[i] * std::cos(w);
  }
  s *= 2.0 / static_cast<double>(end - begin);
  c *= 2.0 / static_cast<double>(end - begin);
  double residual = 0, in_noise = 0;
  for (int64_t i = begin; i < end; ++i) {
    const double w = 2 * M_PI * kFreq * static_cast<double>(i) / kRate;
    const double r = y[i] - s * std::sin(w) - c * std::cos(w);
    residual += r * r;
    in_noise += double(noise[i - lag]) * noise[i - lag];
  }
  const double noise_db = db_power(residual / in_noise);
  CAPTURE(noise_db);
  CHECK(noise_db <= -kStrengthDb + kNoiseMarginDb);
  CHECK(noise_db >= -kStrengthDb - kFloorSlackDb);
}

namespace {
// Output power over input power of `noise` alone through `d`, over its second half, dB.
double noise_out_db(Denoiser& d, const std::vector<float>& noise) {
  const auto y = run(d, noise);
  const int64_t lag = static_cast<int64_t>(d.latency_frames());
  const int64_t n = static_cast<int64_t>(noise.size());
  double out = 0, in = 0;
  for (int64_t i = n / 2; i < n; ++i) {
    out += double(y[i]) * y[i];
    in += double(noise[i - lag]) * noise[i - lag];
  }
  return db_power(out / in);
}
}  // namespace

TEST_CASE("denoise: the noise band depth takes noise alone deeper, a tone keeps its level",
          "[unit][denoise]") {
  // Measured: profile mode -9.81 dB plain, -14.99 dB at 20 dB of depth; blind -8.10 / -8.84 dB;
  // the tone -0.0004 dB. Noise alone leaves its output mostly in the bins a peak of the
  // periodogram lifts over the floor (their gain is the LSA's, not the floor), so 20 dB of floor
  // takes the whole off by about 5 dB. Profile mode: each bin's long-term power sits at its
  // estimate (over-noise ~0 dB: the whole depth), at least kProfileExtraDb more. Blind: the
  // tracker reads noise alone ~2.8 dB low (test above), a bin gets the depth only when its
  // 3 s mean falls within 3 dB of that, so the extra is small but there: kBlindExtraLowDb ..
  // kBlindExtraHighDb. The tone: its bins stand 45 dB over the noise and keep the LSA's gain
  // (kToneTolDb as in the steady-tone test above).
  constexpr double kProfileExtraDb = 3.0;
  constexpr double kBlindExtraLowDb = 0.2, kBlindExtraHighDb = 3.0;
  constexpr double kToneTolDb = 0.1;
  constexpr double kDepthDb = 20;
  constexpr double kSigma = 0.05;
  constexpr int64_t kFrames = 8 * kRate;  // long past the 3 s long-term means
  const auto noise = rz::test::white_noise(kSigma, kFrames, 1, 21);
  DenoiseSettings deep;
  deep.noise_band_depth_db = kDepthDb;
  SECTION("profile mode: the estimate is the noise's mean") {
    const NoiseProfile profile = profile_of(rz::test::white_noise(kSigma, kRate, 1, 22));
    Denoiser plain(1, kRate, DenoiseSettings{}, NoiseSource::kProfile, &profile);
    Denoiser deeper(1, kRate, deep, NoiseSource::kProfile, &profile);
    const double plain_db = noise_out_db(plain, noise), deep_db = noise_out_db(deeper, noise);
    CAPTURE(plain_db, deep_db);
    CHECK(deep_db <= plain_db - kProfileExtraDb);
    CHECK(deep_db >= -kStrengthDb - kDepthDb);
  }
  SECTION("blind: the tracker reads noise alone about 2.8 dB low") {
    Denoiser plain(1, kRate, DenoiseSettings{}, NoiseSource::kBlind);
    Denoiser deeper(1, kRate, deep, NoiseSource::kBlind);
    const double plain_db = noise_out_db(plain, noise), deep_db = noise_out_db(deeper, noise);
    CAPTURE(plain_db, deep_db);
    CHECK(deep_db <= plain_db - kBlindExtraLowDb);
    CHECK(deep_db >= plain_db - kBlindExtraHighDb);
  }
  SECTION("a steady tone 20 dB over the noise keeps its level") {
    constexpr double kTone = 0.1, kFreq = 1000;
    const auto x = add(rz::test::sine(kFreq, kTone, kRate, kFrames),
                       rz::test::white_noise(kTone / std::sqrt(2.0) / 10, kFrames, 1, 23));
    const NoiseProfile profile =
        profile_of(rz::test::white_noise(kTone / std::sqrt(2.0) / 10, kRate, 1, 24));
    Denoiser d(1, kRate, deep, NoiseSource::kProfile, &profile);
    const auto y = run(d, x);
    const double amplitude = rz::test::tone_amplitude(y, kFrames / 2, kFrames, kFreq, kRate);
    CAPTURE(db_amplitude(amplitude / kTone));
    CHECK(std::abs(db_amplitude(amplitude / kTone)) <= kToneTolDb);
  }
}

// ---------------------------------------------------------------------------------------------
// The first-pass analysis

TEST_CASE("denoise: the analyser finds the crowd-only start and estimates the SNR",
          "[unit][denoise]") {
  // 3 s of crowd-like noise (RMS 0.01, -40 dBFS), then 10 s of a melody over the same noise.
  // The analysis defines the SNR as the whole input's mean square over the noise's, measured here
  // on the signals themselves.
  // floor_snr_db: the quietest 0.5 s block is noise only. A block's mean square of noise of
  // bandwidth B = 2.7 kHz spreads by 1 / sqrt(B T) = 0.027 (0.12 dB), and the quietest of six
  // sits ~1.3 of that low, so floor_snr_db reads ~0.15 dB high (measured +0.14, +0.15 dB):
  // allow -0.1 .. +0.4 dB.
  constexpr double kFloorSnrLowDb = -0.1, kFloorSnrHighDb = 0.4;
  // snr_db = max(tracker, floor): the tracker's minimum sits ~2.8 dB below the noise (tracker
  // test above), so its SNR reads that much high and wins (measured +2.70 and +2.76 dB).
  // The header calls both noise figures upper bounds of the noise; for the tracker on
  // noise-only bins it is not.
  constexpr double kTrackerBiasLowDb = 2.0, kTrackerBiasHighDb = 3.5;
  // The auto profile is the mean spectrum of the noise-only blocks, the first ~3 s: its level is
  // that of the noise there (the blocks' frames cover it, edges aside; measured within 0.01 dB)
  // and the level NoiseProfiler measures on it.
  constexpr double kAutoLevelTolDb = 0.05;
  // signal_dbfs averages whole frames' Hann-weighted mean squares: the whole input's mean square
  // up to the weighting of the first and last frames (measured 0.012 and 0.014 dB).
  constexpr double kEdgeTolDb = 0.05;
  constexpr double kNoiseRms = 0.01;
  for (double melody_rms : {0.1, 0.03}) {
    INFO("melody rms " << melody_rms);
    const auto noise = crowd_noise(kNoiseRms, 13 * kRate, 21);
    const auto music = melody(melody_rms, 10 * kRate);
    auto x = noise;
    for (int64_t i = 0; i < 10 * kRate; ++i) x[3 * kRate + i] += music[i];
    NoiseAnalyzer analyzer(1, kRate);
    // In two unequal pieces: the analysis streams.
    analyzer.add(x.data(), 12345);
    analyzer.add(x.data() + 12345, x.size() - 12345);
    const NoiseAnalysis a = analyzer.finish();
    const double true_snr = db_power(mean_square(x) / mean_square(noise));
    CAPTURE(true_snr, a.snr_db, a.tracker_snr_db, a.floor_snr_db, a.noise_only_s, a.signal_dbfs,
            db_power(mean_square(x)));
    CHECK(std::abs(a.signal_dbfs - db_power(mean_square(x))) <= kEdgeTolDb);
    CHECK(a.floor_snr_db - true_snr >= kFloorSnrLowDb);
    CHECK(a.floor_snr_db - true_snr <= kFloorSnrHighDb);
    CHECK(a.snr_db == std::max(a.tracker_snr_db, a.floor_snr_db));
    CHECK(a.snr_db - true_snr >= kTrackerBiasLowDb);
    CHECK(a.snr_db - true_snr <= kTrackerBiasHighDb);
    REQUIRE(a.found_noise_only);
    // At least 1 s; at most the 3 s of noise plus the block straddling the melody's (silent)
    // start. Measured 2.995 s: six blocks of 43 hops.
    CHECK(a.noise_only_s >= 1.0);
    CHECK(a.noise_only_s <= 3.0 + NoiseAnalyzer::kBlockSeconds);
    REQUIRE_FALSE(a.auto_profile.empty());
    CHECK(a.auto_profile.fft_size == kFft);
    CHECK(a.auto_profile.sample_rate_hz == kRate);
    const std::vector<float> start(noise.begin(), noise.begin() + 3 * kRate);
    const double start_db = db_power(mean_square(start));
    CAPTURE(a.auto_profile.level_dbfs(), start_db, profile_of(start).level_dbfs());
    CHECK(std::abs(a.auto_profile.level_dbfs() - start_db) <= kAutoLevelTolDb);
    CHECK(std::abs(a.auto_profile.level_dbfs() - profile_of(start).level_dbfs()) <=
          kAutoLevelTolDb);
    CHECK(a.to_json().at("auto_profile_dbfs").get<double>() == a.auto_profile.level_dbfs());
  }
}

TEST_CASE("denoise: the analyser reads a clean melody as clean and silence as 120 dB",
          "[unit][denoise]") {
  // A clean melody of pure tones: each pitch's bins are free of it for 1.75 s in every 2 s, longer
  // than the tracker's window, so their minimum falls ~50 dB under the notes; the first note
  // (220 Hz), which has no history before it, is below the bass guard (measured 48.5 dB). A
  // tone that never stops reads as noise (0.00 dB measured on a 440 Hz sine): neither the
  // tracker nor the quietest block can tell it from a noise floor.
  constexpr double kCleanSnrDb = 30.0;
  // Every 0.5 s block holds two whole notes: the quietest is as loud as the mean (measured
  // 0.01 dB), so the SNR here comes from the tracker, and no block looks like a noise floor.
  constexpr double kFloorSnrTolDb = 0.5;
  {
    const auto x = melody(0.1, 10 * kRate);
    NoiseAnalyzer analyzer(1, kRate);
    analyzer.add(x.data(), x.size());
    const NoiseAnalysis a = analyzer.finish();
    CAPTURE(a.snr_db, a.tracker_snr_db, a.floor_snr_db);
    CHECK(a.snr_db >= kCleanSnrDb);
    CHECK(std::abs(a.floor_snr_db) <= kFloorSnrTolDb);
    CHECK_FALSE(a.found_noise_only);
    CHECK(a.auto_profile.empty());
    CHECK_FALSE(a.to_json().contains("auto_profile_dbfs"));
  }
  // Digital silence: nothing to estimate, nothing to remove.
  std::vector<float> silence(2 * 5 * kRate, 0.0f);
  NoiseAnalyzer analyzer(2, kRate);
  analyzer.add(silence.data(), silence.size() / 2);
  const NoiseAnalysis a = analyzer.finish();
  CHECK(a.snr_db == 120.0);
  CHECK(a.tracker_snr_db == 120.0);
  CHECK(a.floor_snr_db == 120.0);
  CHECK(a.signal_dbfs == -200.0);
  CHECK_FALSE(a.found_noise_only);
  NoiseAnalyzer unused(1, kRate);
  CHECK(unused.finish().snr_db == 120.0);
  // ... and the denoiser passes it as exact zeros in both modes.
  const NoiseProfile profile = profile_of(rz::test::white_noise(0.05, kRate, 1, 35));
  for (NoiseSource source : {NoiseSource::kBlind, NoiseSource::kProfile}) {
    Denoiser d(2, kRate, DenoiseSettings{}, source, &profile);
    const auto y = run(d, silence);
    CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
    CHECK(d.energy_change_db() == 0.0);
  }
}

TEST_CASE("denoise: the floor's valleys tell a held chord from the same chord under a crowd",
          "[unit][denoise]") {
  // rz-enhance reduces blind noise with full confidence up to kCrowdValleyFullDb (5 dB) of floor
  // valley depth and with none from kCrowdValleyNoneDb (6.5 dB) (enhance.cpp): a held, clean chord
  // must read above the second (its floor is its own partials, with silence between them) and
  // the same chord under a crowd 5 dB under it below the first (the crowd fills the valleys).
  constexpr double kFullDb = 5.0, kNoneDb = 6.5;
  // A major chord (A3, C#4, E4) of 12 harmonics each at 1/h, with a slow 0.3 Hz tremolo, 10 s.
  std::vector<float> chord(static_cast<size_t>(10 * kRate));
  for (size_t i = 0; i < chord.size(); ++i) {
    const double t = static_cast<double>(i) / kRate;
    double v = 0;
    for (double f0 : {220.0, 277.18, 329.63})
      for (int h = 1; h <= 12; ++h) v += std::sin(2 * M_PI * f0 * h * t + h) / h;
    chord[i] = static_cast<float>(v * (1.0 + 0.3 * std::sin(2 * M_PI * 0.3 * t)));
  }
  chord = with_rms(std::move(chord), 0.1);
  auto noisy =
      crowd_noise(0.1 * std::pow(10.0, -5.0 / 20.0), static_cast<int64_t>(chord.size()), 7);
  for (size_t i = 0; i < chord.size(); ++i) noisy[i] += chord[i];
  auto valley = [](const std::vector<float>& x) {
    NoiseAnalyzer analyzer(1, kRate);
    analyzer.add(x.data(), x.size());
    const NoiseAnalysis a = analyzer.finish();
    CHECK(a.to_json().at("floor_valley_db").get<double>() == a.floor_valley_db);
    return a.floor_valley_db;
  };
  const double clean_db = valley(chord), noisy_db = valley(noisy);
  CAPTURE(clean_db, noisy_db);
  CHECK(clean_db > kNoneDb);
  CHECK(noisy_db < kFullDb);
  // Digital silence reads 0 (no frame to take a floor from).
  CHECK(valley(std::vector<float>(static_cast<size_t>(2 * kRate), 0.0f)) == 0.0);
}

// ---------------------------------------------------------------------------------------------
// Settings

TEST_CASE("denoise: validate() rejects each bad setting, naming it and its range",
          "[unit][denoise]") {
  REQUIRE_NOTHROW(DenoiseSettings{}.validate());
  struct Case {
    void (*set)(DenoiseSettings&);
    const char* message;
  };
  const Case cases[] = {
      {[](DenoiseSettings& s) { s.strength_db = -1; }, "strength_db '-1.00': use 0..40 dB"},
      {[](DenoiseSettings& s) { s.strength_db = 40.5; }, "strength_db"},
      {[](DenoiseSettings& s) { s.strength_db = NAN; }, "strength_db"},
      {[](DenoiseSettings& s) { s.smoothing = 0.49; }, "smoothing '0.49': use 0.5..0.995"},
      {[](DenoiseSettings& s) { s.smoothing = 0.999; }, "smoothing"},
      {[](DenoiseSettings& s) { s.smoothing = NAN; }, "smoothing"},
      {[](DenoiseSettings& s) { s.tracker_window_s = 0.4; },
       "tracker_window_s '0.40': use 0.5..10 s"},
      {[](DenoiseSettings& s) { s.tracker_window_s = 11; }, "tracker_window_s"},
      {[](DenoiseSettings& s) { s.low_cap_hz = -1; }, "low_cap_hz '-1.00': use 0..1000 Hz"},
      {[](DenoiseSettings& s) { s.low_cap_hz = 1001; }, "low_cap_hz"},
      {[](DenoiseSettings& s) { s.low_cap_hz = NAN; }, "low_cap_hz"},
      {[](DenoiseSettings& s) { s.noise_band_depth_db = -1; },
       "noise_band_depth_db '-1.00': use 0..40 dB"},
      {[](DenoiseSettings& s) { s.noise_band_depth_db = 41; }, "noise_band_depth_db"},
      {[](DenoiseSettings& s) { s.noise_band_depth_db = NAN; }, "noise_band_depth_db"},
  };
  for (const Case& c : cases) {
    DenoiseSettings s;
    c.set(s);
    INFO(c.message);
    REQUIRE_THROWS_AS(s.validate(), rz::UsageError);
    REQUIRE_THROWS_WITH(s.validate(), Catch::Contains(c.message));
    REQUIRE_THROWS_AS(Denoiser(1, kRate, s, NoiseSource::kBlind), rz::UsageError);
    REQUIRE_THROWS_AS(NoiseAnalyzer(1, kRate, s), rz::UsageError);
  }
  // The edges are accepted.
  DenoiseSettings edges;
  edges.strength_db = 40;
  edges.smoothing = 0.995;
  edges.tracker_window_s = 10;
  edges.low_cap_hz = 1000;
  edges.noise_band_depth_db = 40;
  REQUIRE_NOTHROW(edges.validate());
  const auto j = edges.to_json();
  CHECK(j.at("strength_db").get<double>() == 40);
  CHECK(j.at("low_cap_hz").get<double>() == 1000);
  // The stream's own checks.
  REQUIRE_THROWS_WITH(Denoiser(0, kRate, DenoiseSettings{}, NoiseSource::kBlind),
                      Catch::Contains("channel"));
  REQUIRE_THROWS_WITH(Denoiser(1, 1000, DenoiseSettings{}, NoiseSource::kBlind),
                      Catch::Contains("sample rate"));
  REQUIRE_THROWS_AS(NoiseProfiler(1, 0), rz::UsageError);
  REQUIRE_THROWS_AS(NoiseAnalyzer(0, kRate), rz::UsageError);
}
