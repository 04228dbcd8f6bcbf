// Unit tests of rz::metrics::Analyzer: levels, clipping, noise floor and SNR, bandwidth, stereo.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "test_support.hpp"

namespace {

using rz::metrics::Analysis;
using rz::metrics::AnalysisOptions;
using rz::metrics::Analyzer;

constexpr int kRate = 48000;

// Acceptance criterion for the noise-floor / SNR estimate of a tone in white noise.
constexpr double kSnrTolDb = 3.0;
// Acceptance criterion for the bandwidth cutoff of low-passed noise, relative to the filter's fc.
constexpr double kCutoffRelTol = 0.10;
// rz-restore regenerates the highs from the detected cutoff, so its issue asks more of the same
// estimate: within 5 % of the filter's corner for band-limited noise.
constexpr double kRestoreCutoffRelTol = 0.05;
// Time-domain statistics are double sums of float samples; a sine's mean over whole cycles is zero
// up to the float rounding of each sample (6e-8 relative), far below 1e-6 over 10^5 samples.
constexpr double kMeanTol = 1e-6;
// Levels of float samples that are exactly representable (0.5, 1.0): exact up to log10 rounding.
constexpr double kExactDb = 1e-9;
// Mean square of a sampled sine over whole cycles is A^2/2 up to float rounding of the samples.
constexpr double kSineRmsDb = 1e-4;
// Pearson correlation of two independent Gaussian noises over N = 144000 frames has standard
// deviation 1/sqrt(N) = 0.0026; 0.02 is over 7 standard deviations.
constexpr double kIndependentCorrelation = 0.02;
// Side/(mid+side) energy of independent equal-power channels is 0.5 with the same relative spread.
constexpr double kIndependentWidth = 0.02;
// Anti-phase or identical channels: correlation +/-1 up to float rounding.
constexpr double kExactCorrelation = 1e-6;

// printf-style text for INFO messages.
template <typename... Args>
std::string formatted(const char* format, Args... args) {
  char text[512];
  std::snprintf(text, sizeof text, format, args...);
  return text;
}

Analysis analyse(const std::vector<float>& x, int channels, const AnalysisOptions& opt = {},
                 size_t block = 0, int rate = kRate) {
  Analyzer a(rate, channels, opt);
  const size_t frames = x.size() / static_cast<size_t>(channels);
  if (block == 0) block = frames;
  for (size_t pos = 0; pos < frames; pos += block) {
    a.add(x.data() + pos * channels, std::min(block, frames - pos));
  }
  return a.finish();
}

// A 1 kHz tone of amplitude 0.5 plus white noise whose power is `snr_db` below the tone's.
std::vector<float> tone_in_noise(double snr_db, int channels, double seconds) {
  constexpr double kAmplitude = 0.5;
  const auto frames = static_cast<int64_t>(seconds * kRate);
  const double tone_power = kAmplitude * kAmplitude / 2;
  const double sigma = std::sqrt(tone_power / std::pow(10.0, snr_db / 10.0));
  auto x = rz::test::sine(1000.0, kAmplitude, kRate, frames, channels);
  const auto n = rz::test::white_noise(sigma, frames, channels, 1234);
  for (size_t i = 0; i < x.size(); ++i) x[i] += n[i];
  return x;
}

// White noise low-passed by `cascades` 8th-order Butterworth filters at fc, over a noise floor
// 80 dB down so that the stop band is not digital zero.
std::vector<float> lowpassed_noise(double fc, int cascades, double seconds) {
  const auto frames = static_cast<int64_t>(seconds * kRate);
  auto x = rz::test::white_noise(0.1, frames, 1, 99);
  rz::dsp::BiquadChain chain(1);
  // Butterworth pole-pair Qs of order 8: 1 / (2 cos(theta_k)), theta_k = (2k - 1) pi / 16.
  const double qs[] = {0.5098, 0.6013, 0.9000, 2.5629};
  for (int c = 0; c < cascades; ++c) {
    for (double q : qs) chain.add(rz::dsp::BiquadCoeffs::lowpass(kRate, fc, q));
  }
  chain.process(x.data(), static_cast<size_t>(frames));
  const auto floor = rz::test::white_noise(1e-5, frames, 1, 100);
  for (size_t i = 0; i < x.size(); ++i) x[i] += floor[i];
  return x;
}

}  // namespace

TEST_CASE("analysis: SNR of a 1 kHz tone in white noise at 0, 10, 20, 30 dB", "[unit][analysis]") {
  for (int channels : {1, 2}) {
    for (double snr : {0.0, 10.0, 20.0, 30.0}) {
      INFO(channels << " channel(s), SNR " << snr << " dB");
      const Analysis a = analyse(tone_in_noise(snr, channels, 5.0), channels);
      CHECK(a.snr_db == Approx(snr).margin(kSnrTolDb));
      // The floor is the noise's mean square (sigma^2): 10 log10(0.125) - snr dBFS.
      CHECK(a.noise_floor_dbfs == Approx(10 * std::log10(0.125) - snr).margin(kSnrTolDb));
    }
  }
}

TEST_CASE("analysis: bandwidth of noise low-passed by an 8th-order Butterworth",
          "[unit][analysis][bandwidth]") {
  for (double fc : {4000.0, 8000.0, 11000.0}) {
    INFO("fc " << fc << " Hz");
    const Analysis a = analyse(lowpassed_noise(fc, 1, 5.0), 1);
    CHECK(a.band_limited);
    CHECK(a.bandwidth_hz == Approx(fc).epsilon(kCutoffRelTol));
  }
}

TEST_CASE("analysis: the cutoff rz-restore works from is within 5 % for low-passed noise",
          "[unit][analysis][bandwidth]") {
  for (int cascades : {1, 2}) {  // 8th and 16th order
    for (double fc : {4000.0, 8000.0, 11000.0, 16000.0}) {
      INFO("order " << 8 * cascades << ", fc " << fc << " Hz");
      // The estimate is the -3 dB corner: fc for one 8th-order Butterworth; for two in cascade
      // |H|^2 = 1 / (1 + r^16)^2 = 1/2 at r = (sqrt 2 - 1)^(1/16) = 0.9465.
      const double corner = fc * std::pow(std::sqrt(2.0) - 1.0, (cascades - 1) / 16.0);
      const Analysis a = analyse(lowpassed_noise(fc, cascades, 5.0), 1);
      CHECK(a.band_limited);
      CHECK(a.bandwidth_hz == Approx(corner).epsilon(kRestoreCutoffRelTol));
    }
  }
}

TEST_CASE("analysis: bandwidth of noise low-passed by a 16th-order Butterworth",
          "[unit][analysis][bandwidth]") {
  // Two 8th-order cascades: -6 dB at fc, 96 dB per octave.
  for (double fc : {4000.0, 8000.0, 11000.0}) {
    INFO("fc " << fc << " Hz");
    const Analysis a = analyse(lowpassed_noise(fc, 2, 5.0), 1);
    CHECK(a.band_limited);
    CHECK(a.bandwidth_hz == Approx(fc).epsilon(kCutoffRelTol));
  }
}

TEST_CASE("analysis: full-band white noise is not band limited", "[unit][analysis][bandwidth]") {
  const Analysis a = analyse(rz::test::white_noise(0.1, 5 * kRate, 2, 5), 2);
  CHECK_FALSE(a.band_limited);
  CHECK(a.bandwidth_hz == kRate / 2.0);
}

TEST_CASE("analysis: a steady tone over full-band noise is not a band limit",
          "[unit][analysis][bandwidth]") {
  // The SNR test signal: white noise reaches Nyquist, so the recording is full band whatever tone
  // rides on it.
  for (double snr : {10.0, 20.0}) {
    INFO("SNR " << snr << " dB");
    const Analysis a = analyse(tone_in_noise(snr, 1, 5.0), 1);
    CHECK_FALSE(a.band_limited);
    CHECK(a.bandwidth_hz == kRate / 2.0);
  }
}

// Low cut (recorder's high-pass). The corner is read off a 2048-point long-term spectrum (21.5 Hz
// bins at 44.1 kHz, 23.4 Hz at 48 kHz) on programme whose own level varies by 10 dB and more from
// bin to bin below 200 Hz: the estimate is coarse. Measured on real programme high-passed 4th
// order at 100 and 150 Hz it lay at 0.66 (drums at 150 Hz) to 1.38 corners; the contract is a
// factor 1.6 either way.
constexpr double kLowCutFactor = 1.6;

std::vector<float> highpassed(std::vector<float> x, int channels, double fc, int rate) {
  rz::dsp::BiquadChain chain(channels);
  for (const auto& s : rz::dsp::butterworth_highpass(rate, fc, 4)) chain.add(s);
  chain.process(x.data(), x.size() / channels);
  return x;
}

TEST_CASE("analysis: low cut of white noise high-passed 4th order", "[unit][analysis][lowcut]") {
  const auto noise = rz::test::white_noise(0.1, 5 * kRate, 1, 21);
  const Analysis full = analyse(noise, 1);
  CHECK_FALSE(full.low_band_limited);
  CHECK(full.low_cutoff_hz == 0.0);
  for (double fc : {100.0, 150.0, 200.0}) {
    const Analysis a = analyse(highpassed(noise, 1, fc, kRate), 1);
    INFO("fc " << fc << " Hz: estimate " << a.low_cutoff_hz);
    CHECK(a.low_band_limited);
    CHECK(a.low_cutoff_hz > fc / kLowCutFactor);
    CHECK(a.low_cutoff_hz < fc * kLowCutFactor);
    const auto j = a.to_json();
    CHECK(j.at("low_band_limited") == true);
    CHECK(j.at("low_cutoff_hz") == a.low_cutoff_hz);
  }
}

TEST_CASE("analysis: low cut of real programme, full band and high-passed at 100 and 150 Hz",
          "[unit][analysis][lowcut]") {
  // Quiet or absent bass is not a low cut: the song (vocals and acoustic guitar) has little below
  // 80 Hz, the bass stem nothing below its lowest note (41 Hz). (The vocals and "other" stems of
  // the MUSDB track do read as low-cut, near 240 and 250 Hz: they hold nothing below that at all.)
  const char* files[] = {"audio/stems/musdb7-80srock/bass.wav",
                         "audio/stems/musdb7-80srock/drums.wav",
                         "audio/stems/musdb7-80srock/mixture.wav",
                         "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"};
  constexpr double kExcerptS = 20.0;  // of the long ones, from 10 s on
  for (const char* file : files) {
    int rate = 0, channels = 0;
    auto x = rz::test::read_all(rz::test::require_shared(file), &rate, &channels);
    const size_t frames = x.size() / channels, excerpt = static_cast<size_t>(kExcerptS * rate);
    if (frames > 2 * excerpt) {
      x = std::vector<float>(x.begin() + excerpt / 2 * channels,
                             x.begin() + (excerpt / 2 + excerpt) * channels);
    }
    const Analysis full = analyse(x, channels, {}, 0, rate);
    INFO(file << ": full band estimate " << full.low_cutoff_hz);
    CHECK_FALSE(full.low_band_limited);
    for (double fc : {100.0, 150.0}) {
      const Analysis a = analyse(highpassed(x, channels, fc, rate), channels, {}, 0, rate);
      INFO("high-passed at " << fc << " Hz: estimate " << a.low_cutoff_hz);
      INFO(formatted("lowcut %s fc %.0f: estimate %.1f Hz", file, fc, a.low_cutoff_hz));
      CHECK(a.low_band_limited);
      CHECK(a.low_cutoff_hz > fc / kLowCutFactor);
      CHECK(a.low_cutoff_hz < fc * kLowCutFactor);
    }
  }
}

TEST_CASE("analysis: estimate_bandwidth_hz on a brick-wall spectrum",
          "[unit][analysis][bandwidth]") {
  // A flat spectrum with a 100 dB step at fc: the cutoff is the step.
  constexpr int kFft = 2048;
  for (double fc : {4000.0, 8000.0, 11000.0, 16000.0}) {
    INFO("fc " << fc);
    std::vector<double> ltas(kFft / 2 + 1);
    for (size_t k = 0; k < ltas.size(); ++k)
      ltas[k] = k * double(kRate) / kFft <= fc ? 1e-4 : 1e-14;
    bool limited = false;
    const double bw = rz::metrics::estimate_bandwidth_hz(ltas, kFft, kRate, &limited);
    CHECK(limited);
    CHECK(bw == Approx(fc).epsilon(kCutoffRelTol));
  }
  std::vector<double> flat(kFft / 2 + 1, 1e-4);
  bool limited = true;
  CHECK(rz::metrics::estimate_bandwidth_hz(flat, kFft, kRate, &limited) == kRate / 2.0);
  CHECK_FALSE(limited);
}

TEST_CASE("analysis: a resonance the spectrum climbs back from is programme, not a band limit",
          "[unit][analysis][bandwidth]") {
  // Castanets: a ring at 2.0-2.4 kHz, 40 dB less up to 4.5 kHz, and sound again from 5 kHz (20 dB
  // over the dip). The cliff after the ring is not a band limit; a low-pass at 8 kHz above it is.
  constexpr int kFft = 2048;
  for (bool lowpassed : {false, true}) {
    INFO((lowpassed ? "low-passed at 8 kHz" : "full band"));
    std::vector<double> ltas(kFft / 2 + 1);
    for (size_t k = 0; k < ltas.size(); ++k) {
      const double f = k * double(kRate) / kFft;
      ltas[k] = f < 2000 ? 1e-6 : f <= 2400 ? 1e-4 : f < 5000 ? 1e-8 : 1e-6;
      if (lowpassed && f > 8000) ltas[k] = 1e-14;
    }
    bool limited = false;
    const double bw = rz::metrics::estimate_bandwidth_hz(ltas, kFft, kRate, &limited);
    CHECK(limited == lowpassed);
    CHECK(bw == Approx(lowpassed ? 8000.0 : kRate / 2.0).epsilon(kCutoffRelTol));
  }
}

TEST_CASE("analysis: clipping of a sine driven into a hard clip", "[unit][analysis]") {
  // 1 kHz at 48 kHz: 48 samples per cycle, sample i at 7.5 i degrees. Driven to amplitude 2 and
  // clipped at +/-1, |x| >= 0.999 where |sin| >= 0.4995, i.e. 30..150 degrees: samples 4..20 and
  // 28..44 of each cycle, two runs of 17 samples.
  constexpr int kCycles = 1000;
  auto x = rz::test::sine(1000.0, 2.0, kRate, 48 * kCycles, 2);
  for (float& v : x) v = std::max(-1.0f, std::min(1.0f, v));
  const Analysis a = analyse(x, 2, {}, 1000);  // blocks that split runs: state carries over
  CHECK(a.clipped_samples == 2 * 34 * kCycles);
  CHECK(a.clipped_ratio == Approx(34.0 / 48.0).margin(kMeanTol));
  CHECK(a.clipped_runs == 2 * 2 * kCycles);  // two runs per cycle per channel
  CHECK(a.longest_clipped_run == 17);
  CHECK(a.peak_dbfs == Approx(0.0).margin(kExactDb));

  // Unclipped: none.
  const Analysis clean = analyse(rz::test::sine(1000.0, 0.9, kRate, 48 * kCycles, 2), 2);
  CHECK(clean.clipped_samples == 0);
  CHECK(clean.clipped_ratio == 0.0);
  CHECK(clean.clipped_runs == 0);
  CHECK(clean.longest_clipped_run == 0);
}

TEST_CASE("analysis: a clipped run needs min_clip_run samples", "[unit][analysis]") {
  std::vector<float> x(10000, 0.1f);
  x[100] = 1.0f;                    // 1 sample: counted, no run
  x[200] = x[201] = -1.0f;          // 2 samples: counted, no run
  x[300] = x[301] = x[302] = 1.0f;  // 3 samples: one run
  // 10 samples just past the threshold, not equal to each other (so not a flat top either).
  for (int i = 400; i < 410; ++i) x[i] = (i % 2) ? -0.9995f : -0.9996f;
  const Analysis a = analyse(x, 1);
  CHECK(a.clipped_samples == 1 + 2 + 3 + 10);
  CHECK(a.clipped_runs == 2);
  CHECK(a.longest_clipped_run == 10);
  AnalysisOptions strict;
  strict.min_clip_run = 1;
  strict.clip_threshold = 0.9999;
  const Analysis b = analyse(x, 1, strict);
  CHECK(b.clipped_samples == 1 + 2 + 3);  // -0.9995 is under the stricter threshold
  CHECK(b.clipped_runs == 3);
}

TEST_CASE("analysis: flat tops below full scale are clipping", "[unit][analysis]") {
  // A 100 Hz sine at 0.5 driven 6 dB into a clipper at 0.5 (a phone clipping before full scale),
  // against the same sine unclipped at 0.5.
  constexpr double kClip = 0.5;
  auto hot = rz::test::sine(100.0, 2 * kClip, kRate, kRate, 1);
  int64_t expected = 0;
  for (float& v : hot) {
    if (std::fabs(v) >= kClip) {
      v = static_cast<float>(v > 0 ? kClip : -kClip);
      ++expected;
    }
  }
  const Analysis a = analyse(hot, 1);
  // Every clipped sample sits in a flat run (a third of each half cycle).
  CHECK(a.clipped_samples == expected);
  CHECK(a.clipped_runs == 2 * 100);  // one flat top per half cycle, 100 cycles
  CHECK(a.clip_level_dbfs == Approx(20 * std::log10(kClip)).margin(1e-4));
  const Analysis clean = analyse(rz::test::sine(100.0, kClip, kRate, kRate, 1), 1);
  CHECK(clean.clipped_samples == 0);
  CHECK(clean.clip_level_dbfs < -199);  // "none"
}

TEST_CASE("analysis: levels and DC offset of a known sine", "[unit][analysis]") {
  // 1 kHz, amplitude 0.5 (a sample lands on the crest: 7.5 degrees * 12 = 90), plus DC on the left.
  constexpr int64_t kFrames = 2 * kRate;
  auto x = rz::test::sine(1000.0, 0.5, kRate, kFrames, 2);
  for (int64_t i = 0; i < kFrames; ++i) x[2 * i] += 0.125f;
  const Analysis a = analyse(x, 2, {}, 4801);
  CHECK(a.frames == kFrames);
  CHECK(a.channels == 2);
  CHECK(a.sample_rate_hz == kRate);
  CHECK(a.duration_s == Approx(2.0).margin(kMeanTol));
  REQUIRE(a.dc_offset.size() == 2);
  CHECK(a.dc_offset[0] == Approx(0.125).margin(kMeanTol));
  CHECK(a.dc_offset[1] == Approx(0.0).margin(kMeanTol));
  CHECK(a.peak_dbfs == Approx(20 * std::log10(0.625)).margin(kExactDb));  // left: 0.5 + 0.125
  // Mean square: (0.125 + 0.125^2 + 0.125) / 2 over the two channels.
  const double mean_square = (0.125 + 0.125 * 0.125 + 0.125) / 2;
  CHECK(a.rms_dbfs == Approx(10 * std::log10(mean_square)).margin(kSineRmsDb));
  CHECK(a.crest_db == Approx(a.peak_dbfs - a.rms_dbfs).margin(kExactDb));
  CHECK(a.nonfinite_samples == 0);

  const Analysis mono = analyse(rz::test::sine(1000.0, 0.5, kRate, kFrames, 1), 1);
  CHECK(mono.peak_dbfs == Approx(20 * std::log10(0.5)).margin(kExactDb));
  CHECK(mono.rms_dbfs == Approx(10 * std::log10(0.125)).margin(kSineRmsDb));
  CHECK(mono.crest_db == Approx(10 * std::log10(2.0)).margin(kSineRmsDb));
  CHECK(mono.mono);
}

TEST_CASE("analysis: stereo image", "[unit][analysis]") {
  constexpr int64_t kFrames = 3 * kRate;
  SECTION("identical channels are mono") {
    const Analysis a = analyse(rz::test::white_noise(0.1, kFrames, 1, 3), 1);
    auto mono = rz::test::white_noise(0.1, kFrames, 1, 3);
    std::vector<float> x(2 * kFrames);
    for (int64_t i = 0; i < kFrames; ++i) x[2 * i] = x[2 * i + 1] = mono[i];
    const Analysis b = analyse(x, 2);
    CHECK(b.mono);
    CHECK(b.stereo_correlation == Approx(1.0).margin(kExactCorrelation));
    CHECK(b.stereo_width == Approx(0.0).margin(kExactCorrelation));
    CHECK(a.mono);
  }
  SECTION("independent channels are uncorrelated and half side") {
    const Analysis a = analyse(rz::test::white_noise(0.1, kFrames, 2, 4), 2);
    CHECK_FALSE(a.mono);
    CHECK(a.stereo_correlation == Approx(0.0).margin(kIndependentCorrelation));
    CHECK(a.stereo_width == Approx(0.5).margin(kIndependentWidth));
  }
  SECTION("anti-phase channels correlate at -1") {
    auto mono = rz::test::white_noise(0.1, kFrames, 1, 5);
    std::vector<float> x(2 * kFrames);
    for (int64_t i = 0; i < kFrames; ++i) {
      x[2 * i] = mono[i];
      x[2 * i + 1] = -mono[i];
    }
    const Analysis a = analyse(x, 2);
    CHECK_FALSE(a.mono);
    CHECK(a.stereo_correlation == Approx(-1.0).margin(kExactCorrelation));
    CHECK(a.stereo_width == Approx(1.0).margin(kExactCorrelation));
  }
}

TEST_CASE("analysis: non-finite samples are counted and measured as zero", "[unit][analysis]") {
  auto x = rz::test::sine(1000.0, 0.5, kRate, kRate, 2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  x[10] = nan;
  x[11] = inf;
  x[5001] = -inf;
  x[77777] = nan;
  const Analysis a = analyse(x, 2, {}, 1000);
  CHECK(a.nonfinite_samples == 4);
  CHECK(std::isfinite(a.peak_dbfs));
  CHECK(std::isfinite(a.rms_dbfs));
  CHECK(std::isfinite(a.integrated_lufs));
  CHECK(std::isfinite(a.true_peak_dbtp));
  CHECK(std::isfinite(a.snr_db));
  CHECK(a.peak_dbfs == Approx(20 * std::log10(0.5)).margin(kExactDb));
  CHECK(a.clipped_samples == 0);
  // The JSON form holds only numbers.
  const auto j = a.to_json();
  CHECK(j.at("nonfinite_samples").get<int64_t>() == 4);
  CHECK(j.at("peak_dbfs").is_number());
}

TEST_CASE("analysis: loudness fields come from the EBU meter", "[unit][analysis]") {
  // EBU Tech 3341 case 1 signal (1 kHz, -23 dBFS, stereo): -23.0 LUFS within the spec's 0.1 LU.
  constexpr double kEbu3341Lu = 0.1;
  const double amplitude = std::pow(10.0, -23.0 / 20.0);
  const auto x = rz::test::sine(1000.0, amplitude, kRate, 10 * kRate, 2);
  AnalysisOptions opt;
  opt.spectral = false;
  const Analysis a = analyse(x, 2, opt);
  CHECK(a.integrated_lufs == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(a.max_momentary_lufs == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(a.max_short_term_lufs == Approx(-23.0).margin(kEbu3341Lu));
  CHECK(a.loudness_range_lu == Approx(0.0).margin(kEbu3341Lu));
  CHECK(a.true_peak_dbtp >= a.peak_dbfs);
  CHECK_FALSE(a.band_limited);  // no spectral analysis: reported full band
  CHECK(a.bandwidth_hz == kRate / 2.0);
}

TEST_CASE("analysis: spectral centroid and rolloff of a pure tone", "[unit][analysis]") {
  const Analysis a = analyse(rz::test::sine(3000.0, 0.5, kRate, 3 * kRate, 1), 1);
  // All the energy sits within a Hann main lobe (+/- 2 bins of 23.4 Hz) of 3 kHz.
  constexpr double kMainLobeHz = 2 * kRate / 2048.0;
  CHECK(a.spectral_centroid_hz == Approx(3000.0).margin(kMainLobeHz));
  CHECK(a.spectral_rolloff_hz == Approx(3000.0).margin(kMainLobeHz));
}

TEST_CASE("analysis: the band under the cutoff re the loudest bin (rz-restore's evidence)",
          "[unit][analysis][bandwidth]") {
  // Flat to the cutoff: the band under it is the loudest level there is (0 dB). A spectrum that
  // falls 12 dB per octave from 100 Hz reaches a cutoff at 8 kHz 6.3 octaves down: about -76 dB
  // re its loudest bin (the 100 Hz one; the band under the cut is centred near 6.6 kHz).
  constexpr int kFft = 2048;
  constexpr double kFc = 8000.0;
  std::vector<double> flat(kFft / 2 + 1), falling(kFft / 2 + 1);
  for (size_t k = 0; k < flat.size(); ++k) {
    const double f = k * double(kRate) / kFft;
    flat[k] = f <= kFc ? 1e-4 : 1e-14;
    falling[k] = f <= kFc ? 1e-4 * std::pow(std::max(f, 100.0) / 100.0, -4.0) : 1e-20;
  }
  CHECK(rz::metrics::band_below_cut_re_peak_db(flat, kFft, kRate, kFc) == Approx(0.0).margin(1e-9));
  const double steep = rz::metrics::band_below_cut_re_peak_db(falling, kFft, kRate, kFc);
  INFO("falling 12 dB/octave: " << steep << " dB");
  CHECK(steep < -70.0);
  CHECK(steep > -80.0);
  // No band (a cutoff under two bins) reads 0.
  CHECK(rz::metrics::band_below_cut_re_peak_db(flat, kFft, kRate, 10.0) == 0.0);
}

TEST_CASE("analysis: a steady noise floor fills the band over a low cut, a tone does not",
          "[unit][analysis][lowcut]") {
  // White noise high-passed 4th order at 150 Hz: the floor is the signal, so its share of the band
  // over the cut is about 0 dB. The same noise gated on and off every 0.25 s (programme that comes
  // and goes) leaves the floor far under the mean.
  const auto frames = static_cast<int64_t>(8.0 * kRate);
  auto steady = rz::test::white_noise(0.1, frames, 1, 7);
  rz::dsp::BiquadChain hp(1);
  for (const auto& c : rz::dsp::butterworth_highpass(kRate, 150.0, 4)) hp.add(c);
  hp.process(steady.data(), static_cast<size_t>(frames));
  auto gated = steady;
  const auto period = static_cast<int64_t>(0.5 * kRate);
  for (int64_t i = 0; i < frames; ++i)
    if (i % period >= period / 2) gated[i] *= 1e-3f;
  const Analysis a = analyse(steady, 1), b = analyse(gated, 1);
  INFO(formatted("steady: low cut %.0f Hz share %.1f dB; gated: low cut %.0f Hz share %.1f dB",
                 a.low_cutoff_hz, a.low_floor_share_db, b.low_cutoff_hz, b.low_floor_share_db));
  REQUIRE(a.low_band_limited);
  REQUIRE(b.low_band_limited);
  CHECK(a.low_floor_share_db > -2.0);
  CHECK(b.low_floor_share_db < -20.0);
}
