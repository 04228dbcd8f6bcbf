// One-pass streaming analysis of a recording: level, loudness, clipping, noise floor and SNR,
// bandwidth cutoff, low cut, spectral shape and stereo image. Memory does not grow with the
// input's length.
//
// Method notes (also in rz-ingest(1)):
// - Spectra: Hann-windowed 2048-point STFT (hop 1024) of every channel, powers averaged over
//   channels. Frames of digital silence are skipped.
// - Noise floor: per frequency bin, the 10th percentile of the frame powers over time (a
//   minimum-statistics estimate kept as a per-bin histogram of 0.25 dB steps), corrected for the
//   bias of that percentile on a periodogram (exponentially distributed: x 1/0.1054), then
//   median-filtered across 33 bins (~700 Hz) so that steady tones do not count as noise.
//   noise_floor_dbfs = 10 log10 of the noise's mean square; snr_db = 10 log10((total - noise) /
//   noise), the mean square of the whole recording against that floor.
// - Bandwidth cutoff: on the long-term average spectrum (dB, smoothed over 7 bins), the frequency
//   f >= 2 kHz with the largest drop from [f/1.25, f/1.05] to [1.05 f, 1.25 f] within the lowest
//   stretch where that drop exceeds 15 dB (a resampler's edge higher up does not count); no such
//   stretch means full band (cutoff = Nyquist). From the steepest point near f the estimate walks
//   down the filter skirt while the slope over the 1/24 octave below is steeper than
//   -24 dB/octave; where it stops is the corner.
// - Low cut (a recorder's high-pass, phones: 2nd to 4th order at 80-200 Hz): on the same long-term
//   spectrum, unsmoothed, the skirt's top is the highest f in 60..400 Hz where the level rises by
//   at least 8 dB over each of the octaves [f/4, f/2] and [f/2, f] and by 20 dB over both. A top
//   below 90 Hz is the programme's own (a clean bass stem falls that steeply below its lowest
//   note, topping out at 86 Hz) and no low cut. low_cutoff_hz = top / 1.25 (on flat programme a
//   4th-order Butterworth tops out at 1.6 corners, a 2nd-order one at 1.1). Precision: the bins
//   are 21.5 Hz wide at 44.1 kHz (23.4 Hz at 48 kHz) and programme varies by 10 dB and more from
//   bin to bin below 200 Hz; on real recordings high-passed 4th order at 100 and 150 Hz the
//   estimate lay at 0.66 to 1.38 corners. Material with nothing at all below a few hundred Hz (an
//   isolated vocal stem) reads as low-cut too.
// - Band under the cutoff (evidence for rz-restore's highs): where a cutoff was found, the mean
//   per-bin power of [cutoff / sqrt 2, cutoff / 1.05] of the long-term spectrum re its loudest bin,
//   in dB (below_cut_re_peak_db). A programme whose band under the cut lies 50 dB under its
//   loudest bin carried next to nothing there, so whatever it had above the cut lay lower still.
// - Steady floor over the low cut (evidence for rz-restore's sub-bass): where a low cut was found,
//   the median over the bins of [low_cutoff_hz, 2.5 low_cutoff_hz] of the noise floor (the bias-
//   corrected 10th percentile, before the median across frequency) re the mean power, dB
//   (low_floor_share_db). A live capture's audience and room keep that band filled all the time
//   (about -1 to +2 dB on the phone captures of the tuning corpus); programme alone comes and goes
//   there (-4 dB for dense songs and an organ, -12 to -33 dB for a drum loop, a cello, a bass).
// - Clipping: a sample is clipped when |x| >= clip_threshold (0.999 full scale); a clipped run is
//   at least min_clip_run consecutive clipped samples in one channel. Clipping below full scale
//   shows as flat tops: runs of min_clip_run (at least 3) identical samples within 0.05 dB of the
//   recording's peak (and louder than -20 dBFS). Whichever rule finds more clipped samples is
//   reported, with the level it found them at (clip_level_dbfs).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace rz::metrics {

struct AnalysisOptions {
  double clip_threshold = 0.999;  // linear, |x| at or above counts as clipped
  int min_clip_run = 3;           // consecutive clipped samples that make a clipped run
  bool spectral = true;           // noise floor, SNR, bandwidth, centroid (the costly part)
};

struct Analysis {
  int sample_rate_hz = 0;
  int channels = 0;
  int64_t frames = 0;
  double duration_s = 0;
  double peak_dbfs = 0;
  double true_peak_dbtp = 0;
  double rms_dbfs = 0;  // 10 log10(mean square), full-scale square wave = 0 dBFS
  double crest_db = 0;  // peak_dbfs - rms_dbfs
  double integrated_lufs = 0;
  double loudness_range_lu = 0;
  double max_short_term_lufs = 0;
  double max_momentary_lufs = 0;
  std::vector<double> dc_offset;  // per channel, linear mean
  int64_t nonfinite_samples = 0;
  int64_t clipped_samples = 0;
  double clipped_ratio = 0;  // clipped_samples / (frames * channels)
  int64_t clipped_runs = 0;
  int64_t longest_clipped_run = 0;  // frames
  double clip_level_dbfs = 0;       // level of the clipping found; -inf (-200 in JSON) when none
  double noise_floor_dbfs = 0;
  double snr_db = 0;
  bool spectral = false;    // the fields below up to spectral_rolloff_hz were measured
  double bandwidth_hz = 0;  // estimated cutoff; Nyquist when full band
  bool band_limited = false;
  double below_cut_re_peak_db = 0;  // band under the cutoff re the loudest bin; 0 when full band
  double low_cutoff_hz = 0;         // estimated corner of a recorder's high-pass; 0 when none
  bool low_band_limited = false;
  double low_floor_share_db = 0;  // steady floor re the mean over the low cut; 0 when no cut
  double spectral_centroid_hz = 0;
  double spectral_rolloff_hz = 0;  // 85 % of the energy lies below
  bool mono = false;               // one channel, or channels identical (correlation > 0.9999)
  double stereo_correlation = 1;   // Pearson correlation of the first two channels
  double stereo_width = 0;         // side / (mid + side) energy: 0 mono, 0.5 uncorrelated

  nlohmann::json to_json() const;
};

class Analyzer {
 public:
  Analyzer(int sample_rate_hz, int channels, const AnalysisOptions& options = {});
  ~Analyzer();
  Analyzer(Analyzer&&) noexcept;
  Analyzer& operator=(Analyzer&&) noexcept;
  void add(const float* interleaved, size_t frames);
  Analysis finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Spectral estimates from a long-term average spectrum and per-bin noise powers, exposed for tests
// and for the enhancement chain.
// `ltas` and `noise` hold mean powers per bin of an STFT of `fft_size` at `sample_rate_hz`.
double estimate_bandwidth_hz(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                             bool* band_limited);
// The corner of a high-pass (a phone's low cut) in the same spectrum; 0 and *band_limited false
// when the low end shows none. Precision: the spectrum's bins (21.5 Hz for 2048 points at
// 44.1 kHz) and the programme's own slope near the corner; see the method notes above.
double estimate_low_cutoff_hz(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                              bool* band_limited);
// The mean power per bin of [cutoff_hz / sqrt 2, cutoff_hz / 1.05] re the loudest bin of `ltas`
// (DC excluded), dB; 0 when either is empty or silent.
double band_below_cut_re_peak_db(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                                 double cutoff_hz);

}  // namespace rz::metrics
