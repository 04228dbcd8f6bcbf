// Noise spectra for the denoiser (denoise.hpp): a profile measured from a noise sample, the
// denoiser's settings, and the minimum-statistics tracker that estimates the noise blind (the
// method is described at the top of denoise.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

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

struct DenoiseSettings {
  double strength_db = 10.0;      // deepest attenuation of any bin, dB (0 .. 40), but see below
  double smoothing = 0.95;        // decision-directed weight a (0.5 .. 0.995)
  double tracker_window_s = 1.5;  // minimum-statistics window, s (0.5 .. 10)
  double low_cap_hz = 300.0;      // bass guard corner for the blind tracker, Hz (0 = off; .. 1000)
  // Further depth, dB (0 .. 40), in the bins whose long-term power is within a few dB of the
  // noise estimate's (where the stem holds nothing but the noise): see denoise.hpp.
  double noise_band_depth_db = 0.0;
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

}  // namespace rz::dsp
