// rz-enhance's measurements of a stem, read in one pass before deciding (levels, spread, long-term
// spectrum, band balances, the noise analysis), and the long-term spectrum the before/after
// comparison (compare.hpp) shares with them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "rz/dsp/denoise.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/reverb_time.hpp"
#include "rz/enhance/chain.hpp"
#include "rz/progress.hpp"

namespace rz::enhance {

// Long-term spectrum: 4096-point frames (10.8 Hz bins at 44.1 kHz resolve the bass), half overlap.
inline constexpr int kLtasFft = 4096;
inline constexpr double kSilentDbfs = -120.0;  // a stem this quiet has nothing to repair

// Levels in dB of a power and of an amplitude, floored at -300 dB (1e-30, 1e-15).
inline double db10(double p) { return 10.0 * std::log10(std::max(p, 1e-30)); }
inline double db20(double a) { return 20.0 * std::log10(std::max(a, 1e-15)); }
// A block's number parameter and its "enabled" switch (ChainParams).
inline double num(const nlohmann::json& b, const char* key) { return b.at(key).get<double>(); }
inline bool on(const nlohmann::json& b) { return b.at("enabled").get<bool>(); }

// The band a stem kind should own (Hz): where its energy must not go missing.
std::pair<double, double> owned_band(StemKind k);

// Channel-mean long-term power spectrum (PowerSpectrumStream per channel).
class Ltas {
 public:
  Ltas(int channels, int n) : channels_(channels), sum_(static_cast<size_t>(n / 2 + 1), 0.0) {
    for (int c = 0; c < channels; ++c) streams_.emplace_back(n, n / 2);
  }
  void add(const float* x, size_t frames) {
    for (int c = 0; c < channels_; ++c)
      streams_[c].push(x + c, frames, static_cast<size_t>(channels_), [&](const float* p) {
        for (size_t k = 0; k < sum_.size(); ++k) sum_[k] += p[k];
        ++spectra_;
      });
  }
  // Mean square per bin (one-sided, so bins sum to the signal's mean square).
  std::vector<double> mean_square() const {
    std::vector<double> ms(sum_.size(), 0.0);
    if (spectra_ == 0) return ms;
    const double scale = streams_.front().power_scale() * static_cast<double>(spectra_);
    for (size_t k = 0; k < ms.size(); ++k)
      ms[k] = (k == 0 || k + 1 == ms.size() ? 1.0 : 2.0) * sum_[k] / scale;
    return ms;
  }
  int fft_size() const { return static_cast<int>(sum_.size() - 1) * 2; }

 private:
  int channels_;
  std::vector<dsp::PowerSpectrumStream> streams_;
  std::vector<double> sum_;
  int64_t spectra_ = 0;
};

// Sum of the mean squares `ms` (of an n-point spectrum at `rate`) over lo <= f < hi.
inline double band_sum(const std::vector<double>& ms, int n, double rate, double lo, double hi) {
  double s = 0;
  for (size_t k = 0; k < ms.size(); ++k) {
    const double f = static_cast<double>(k) * rate / n;
    if (f >= lo && f < hi) s += ms[k];
  }
  return s;
}

struct Measurements {
  double rms_dbfs = -200, peak_dbfs = -200, crest_db = 0, spread_db = 0, integrated_lufs = -200;
  double centroid_hz = 0, rolloff_hz = 0;
  double low_energy_db = -200, mud_excess_db = 0, low_balance_db = 0, sibilance_db = -200;
  // Rumble evidence: the band below the high-pass corner re the whole stem, and its lower half
  // re its upper half (rumble, wind and handling noise rise towards DC; music falls below its
  // lowest fundamentals).
  double low_share_db = -200, low_shape_db = -200;
  // The capture's reverberation (dsp::ReverbTimeEstimator) and how strongly it says "a room"
  // (dsp::reverberation_confidence): the evidence the de-mudder needs.
  dsp::ReverbTime reverb;
  double reverb_confidence = 0;
  double demud_median_db = -200, deess_median_db = -200, peak_median_db = -200;
  double owned_band_ms = 0;  // mean square in the band the stem should own
  double bandwidth_hz = 0;   // metrics::estimate_bandwidth_hz on the long-term spectrum
  bool band_limited = false;
  dsp::NoiseAnalysis noise;
  bool noise_measured = false;
  nlohmann::json to_json() const;
};

// Reads `file` once and measures what the decisions of `chain` need; `band` is the band the stem
// owns. Progress reports `stage`.
Measurements measure(const std::filesystem::path& file, const ChainParams& chain,
                     const std::pair<double, double>& band, const std::string& stage,
                     const Progress& progress);

}  // namespace rz::enhance
