// First-pass noise analysis of a stem for the denoiser's decisions (denoise.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>

#include "rz/dsp/noise_profile.hpp"

namespace rz::dsp {

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
// - floor_valley_db: how deep the valleys of the floor spectrum are. The floor is the
//   kFloorPercentile level of each bin over the frames that are not digital silence. The depth
//   is taken over 200 Hz .. 5 kHz: for each bin, the median of the floor over +-kValleyHalfBins
//   bins minus the second lowest value there, averaged over the bins. A crowd, or any broadband
//   noise, fills the floor between the partials of the notes, so the valleys stay shallow. The
//   floor of a clean recording is its own held notes and their reverberation, so the valleys run
//   down towards silence. Measured on the tuning part of the corpus: at most 4.54 dB on every
//   phone capture at 0, 5 and 10 dB SNR; 4.7 to 7.0 dB on clean choirs, string quartets, an
//   organ and full mixes. The noise decision uses it (enhance.cpp). A file that is digital
//   silence throughout reads 0.
struct NoiseAnalysis {
  double snr_db = 0;
  double tracker_snr_db = 0;
  double floor_snr_db = 0;
  double signal_dbfs = -200;
  bool found_noise_only = false;
  double noise_only_s = 0;
  double floor_valley_db = 0;
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
  // floor_valley_db: the floor is this percentile of each bin's frame levels, with a valley
  // judged over +-kValleyHalfBins bins (+-215 Hz at 44.1 kHz: at least two partials of any note
  // above 215 Hz) from kValleyLowHz to kValleyHighHz.
  static constexpr double kFloorPercentile = 0.1;
  static constexpr int kValleyHalfBins = 10;
  static constexpr double kValleyLowHz = 200.0;
  static constexpr double kValleyHighHz = 5000.0;
  NoiseAnalyzer(int channels, double sample_rate_hz, const DenoiseSettings& settings = {});
  ~NoiseAnalyzer();
  void add(const float* interleaved, size_t frames);
  NoiseAnalysis finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rz::dsp
