// STFT noise reduction for music: a noise estimate that tracks a changing crowd without taking
// sustained bass for noise, and a decision-directed log-spectral-amplitude gain.
//
// Frames: periodic Hann, kFftSize 2048 at 44.1 kHz (46 ms; scaled to the nearest power of two at
// other rates), hop a quarter of that; analysis and synthesis windows, overlap-added and divided by
// the constant 1.5 the squared window sums to, so unit gain reproduces the input (float rounding).
// One gain per time-frequency bin is shared by all channels (computed from the channel-mean power),
// so the stereo image is kept.
//
// Noise estimate lambda(k, t), power per bin on the same scale as |X|^2:
// - kProfile: a fixed spectrum measured from a noise sample (NoiseProfile).
// - kBlind: minimum statistics (Martin 2001): the per-bin power smoothed over time (one pole,
//   kTrackerSmoothing), its minimum over the last tracker_window_s (8 sub-windows), with no bias
//   factor, and at most 3 dB over the median of its +-4 neighbouring bins (a tone guard: a crowd's
//   spectrum is smooth, a note held longer than the window is a peak two or three bins wide).
//   The minimum of a noise-only periodogram sits below its mean (by 2.6 dB on the crowd
//   recording here), so the estimate leans low on purpose: on music the minimum is inflated by the
//   music's own floor, which is what makes classic trackers remove music. Below low_cap_hz the
//   estimate may not exceed the median estimate over [low_cap_hz, 1.5 low_cap_hz] times
//   (f / low_cap_hz)^2: crowd, room and handling noise (talk, cheering, HVAC after the phone's own
//   high-pass) fall off below the voice range, while the music's bass is always there; measured on
//   the recordings in ../shared/audio, uncapped trackers overestimate the noise below 200 Hz by
//   4-13 dB (the tracker alone, window 1.5 s).
// Gain: Ephraim & Malah (1985) log-spectral amplitude estimator with the decision-directed a-priori
// SNR xi = a G_prev^2 gamma_prev + (1 - a) max(gamma - 1, 0), a = smoothing, xi >= kMinPrioriSnr,
// G = xi / (1 + xi) exp(E1(v) / 2), v = xi gamma / (1 + xi), limited to [10^(-strength_db/20), 1].
// The decision-directed xi changes slowly where the gain is low, which is what keeps isolated bins
// from flickering into "musical noise".
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "rz/dsp/processor.hpp"
#include "rz/dsp/stft.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

// FFT size used at `sample_rate_hz` (2048 at 44.1/48 kHz).
int denoise_fft_size(double sample_rate_hz);

// A noise spectrum: mean power per bin of the denoiser's STFT (channel mean).
struct NoiseProfile {
  double sample_rate_hz = 0;
  int fft_size = 0;
  std::vector<double> power;  // fft_size / 2 + 1 bins
  double duration_s = 0;      // audio it was measured on
  bool empty() const { return power.empty(); }
  // Mean square per sample of the noise this profile describes (sum over bins, Parseval).
  double mean_square() const;
  // Level of the profile in dBFS (10 log10 mean_square()).
  double level_dbfs() const;
  // Mean square carried by bin k (one-sided: bins 1 .. n/2-1 count twice), and by the bins whose
  // frequency lies in [lo_hz, hi_hz).
  double bin_mean_square(size_t k) const;
  double band_mean_square(double lo_hz, double hi_hz) const;
};

// Measures a NoiseProfile from interleaved audio (a noise sample).
class NoiseProfiler {
 public:
  NoiseProfiler(int channels, double sample_rate_hz);
  ~NoiseProfiler();
  void add(const float* interleaved, size_t frames);
  // Throws InputError when fewer than kMinProfileSeconds of audio were added.
  NoiseProfile finish() const;
  static constexpr double kMinProfileSeconds = 0.5;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

enum class NoiseSource { kBlind, kProfile };

struct DenoiseSettings {
  double strength_db = 10.0;      // deepest attenuation of any bin, dB (0 .. 40)
  double smoothing = 0.95;        // decision-directed weight a (0.5 .. 0.995)
  double tracker_window_s = 1.5;  // minimum-statistics window, s (0.5 .. 10)
  double low_cap_hz = 300.0;      // bass guard corner for the blind tracker, Hz (0 = off; .. 1000)
  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<DenoiseSettings>& fields();
  void validate() const;
  nlohmann::json to_json() const;
};

// Minimum-statistics tracker on power spectra (exposed for tests and for analysis passes).
class NoiseTracker {
 public:
  static constexpr double kTrackerSmoothing = 0.9;  // one-pole smoothing of the periodogram
  static constexpr int kSubWindows = 8;
  // Tone guard: the estimate stays within kToneGuardRatio (3 dB) of the median of its
  // +-kToneGuardBins neighbours.
  static constexpr int kToneGuardBins = 4;
  static constexpr double kToneGuardRatio = 2.0;
  NoiseTracker(int bins, double frames_per_second, const DenoiseSettings& settings, int fft_size,
               double sample_rate_hz);
  // Feeds one frame's power per bin; returns the noise estimate per bin (valid until next call).
  const std::vector<double>& update(const double* power);

 private:
  int bins_;
  int sub_length_;  // frames per sub-window
  int cap_bin_ = 0;
  std::vector<double> smooth_;
  std::vector<double> sub_min_;  // [kSubWindows][bins] ring of finished sub-window minima
  std::vector<double> current_;  // minimum of the sub-window in progress
  std::vector<double> estimate_;
  std::vector<double> guarded_;     // scratch of the tone guard
  std::vector<double> neighbours_;  // scratch of the tone guard's median
  int filled_subs_ = 0;
  int sub_pos_ = 0;
  int in_sub_ = 0;
  int64_t frames_ = 0;
};

// Ephraim-Malah LSA gain for a-priori SNR xi and a-posteriori SNR gamma (both linear).
double lsa_gain(double xi, double gamma);
// Exponential integral E1(x), x > 0 (Abramowitz & Stegun 5.1.53 / 5.1.56, |error| < 5e-5 relative).
double expint_e1(double x);

namespace detail {
class StftFramer;  // denoise.cpp
}

class Denoiser : public Processor {
 public:
  static constexpr double kMinPrioriSnr = 0.0031622776601683794;  // -25 dB
  // `profile` is required for NoiseSource::kProfile (same rate; its FFT size must match).
  Denoiser(int channels, double sample_rate_hz, const DenoiseSettings& settings, NoiseSource source,
           const NoiseProfile* profile = nullptr);
  ~Denoiser() override;
  void process(const float* in, float* out, size_t frames) override;
  size_t latency_frames() const override;
  int channels() const override { return channels_; }
  // Mean gain over all processed bins weighted by their power: how much energy was taken (dB,
  // <= 0).
  double energy_change_db() const;
  // Mean over frames of the channel-mean noise estimate's total power, dBFS (-200 if none). In
  // blind mode the first frames, which overlap the silence before the start, pass unchanged
  // without an estimate and are not counted.
  double mean_noise_dbfs() const;
  // Musical-noise indicators of the gain mask: the mean frame-to-frame change of the per-bin gain
  // in dB (bins 100 Hz .. 16 kHz), and the share of bins that are isolated peaks (gain at least
  // 12 dB above the floor while both frequency neighbours and the bin's previous frame sit within
  // 3.5 dB of the floor): the flickering spots heard as "musical noise".
  double gain_flux_db() const;
  double isolated_peak_ratio() const;
  // {energy_change_db, mean_noise_dbfs (json_level), gain_flux_db, isolated_peak_ratio}.
  nlohmann::json statistics() const override;

 private:
  void run_frame(const std::vector<double>& power);
  void update_mask_stats();
  int channels_;
  double rate_;
  DenoiseSettings settings_;
  NoiseSource source_;
  int n_;
  int hop_;
  int bins_;
  std::vector<double> profile_;
  std::unique_ptr<NoiseTracker> tracker_;
  std::unique_ptr<detail::StftFramer> framer_;  // analysis: shared with the analysis passes
  std::vector<float> sample_;                   // the input frame being pushed
  std::unique_ptr<StftSynthesis> synthesis_;
  std::vector<float> ready_;  // [hop][channel] interleaved output of the last frame
  size_t ready_pos_ = 0;
  std::vector<double> prev_clean_;  // G^2 gamma of the previous frame
  double gain_floor_;
  std::vector<double> gain_db_, prev_gain_db_;
  double flux_sum_ = 0;
  int64_t flux_count_ = 0, isolated_ = 0, mask_bins_ = 0;
  double in_energy_ = 0, out_energy_ = 0, noise_sum_ = 0;
  int64_t noise_frames_ = 0;
  int64_t frames_run_ = 0;  // STFT frames run (blind mode)
  double power_scale_;
};

// First-pass analysis of a stem for the noise decisions: an SNR estimate and the crowd-only
// stretches an `auto` profile is learnt from. Memory does not grow with the input's length.
//
// - tracker_snr_db: signal mean square over the blind tracker's mean noise power.
// - floor_snr_db: signal mean square over the mean square of the quietest kBlockSeconds block
//   (blocks of digital silence excluded): an upper bound of the noise (it holds noise plus whatever
//   music plays there), but a crowd has quiet moments of its own, 10-15 dB under its mean here.
// - snr_db = tracker_snr_db, or floor_snr_db when that is at least kSilenceEvidenceDb (a stretch
//   close to silence, such as a clean song's fade-out, rules out a continuous noise above it). The
//   tracker's figure reads high on music (its minimum holds the music's floor) and about 2.8 dB
//   high on noise alone (the minimum of a periodogram, without bias compensation); the decision
//   thresholds (chain.hpp, max_snr_db) were set with that estimate.
// - auto profile: the kKeepBlocks quietest blocks are kept with their spectra. Candidates are those
//   at least kNoiseOnlyBelowMedianDb under the median block whose spectrum stays within 8 dB of
//   the tracker's long-term floor in 90 % of the third-octave bands from 100 Hz to 8 kHz (a quiet
//   passage of music stands out of the floor where its notes are; the crowd does not). Those
//   within kNoiseOnlyRangeDb of the candidates' median level are taken as crowd-only when they
//   add up to 1 s (anchoring on the median, not the quietest, keeps one lull of the crowd from
//   shutting out the crowd at its usual level); their mean spectrum is the profile.
struct NoiseAnalysis {
  double snr_db = 0;
  double tracker_snr_db = 0;
  double floor_snr_db = 0;
  double signal_dbfs = -200;
  bool found_noise_only = false;
  double noise_only_s = 0;
  NoiseProfile auto_profile;  // empty unless found_noise_only
  // Long-term mean of the blind tracker's estimate per bin (same scale as NoiseProfile::power).
  NoiseProfile tracker_floor;
  nlohmann::json to_json() const;
};

class NoiseAnalyzer {
 public:
  static constexpr double kBlockSeconds = 0.5;
  static constexpr int kKeepBlocks = 40;
  static constexpr double kNoiseOnlyRangeDb = 3.0;
  static constexpr double kNoiseOnlyBelowMedianDb = 1.0;
  static constexpr double kSilenceEvidenceDb = 30.0;
  NoiseAnalyzer(int channels, double sample_rate_hz, const DenoiseSettings& settings = {});
  ~NoiseAnalyzer();
  void add(const float* interleaved, size_t frames);
  NoiseAnalysis finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rz::dsp
