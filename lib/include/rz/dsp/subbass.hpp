// Sub-bass restoration below a phone's low cut: re-synthesis of the fundamental of bass notes whose
// fundamental the recorder's high-pass removed while their harmonics above it remain.
//
// "Reveal, don't fabricate": a fundamental is synthesized only where the harmonics present prove
// it (at least two partials of one harmonic series, with its fundamental below low_cut_hz), never
// below a fundamental that is already there (the fundamental taken is the highest one that
// explains the partials), and the block is meant to be built only when the analysis found a low
// cut (metrics::Analysis::low_band_limited).
//
// Method (per analysis frame of kFftSize frames every kHopFrames, centred on frame m * kHopFrames):
// - Pitch: Hann-windowed FFT of the channel mean. Partials are the local maxima in
//   [search_low_hz, search_high_hz] at least kPeakProminenceDb above the lowest bin within 3 bins
//   on either side, kPeakOverMedianDb above the median of the 17 bins around it (a noise
//   periodogram exceeds that in 2e-5 of its bins) and within kPeakRangeDb of the strongest, their
//   frequencies refined by parabolic interpolation of the log power. Every partial p divided by h =
//   1, 2, ... is a candidate fundamental in [kMinF0Hz, search_high_hz]; a candidate explains a
//   partial within kHarmonicTolerance (relative) of one of its multiples. f0 is the highest
//   candidate that explains at least kMinExplained of the partials' energy with at least two
//   partials of different harmonic numbers (the harmonic sieve of Goldstein / Terhardt's virtual
//   pitch, with the highest-candidate rule against subharmonic errors), refined by least squares
//   over the partials it explains. A frame synthesizes only when f0 < low_cut_hz and f0 >=
//   kMinF0Hz, and, when the pair used below starts at harmonic kDyadHarmonic or higher, harmonic
//   k + 2 is a partial too (by the same tests, wherever it lies, also above search_high_hz).
// - Partials measured per channel: the complex amplitude of harmonic k at exactly k f0 by a
//   Hann-windowed single-frequency DFT over the frame (phase referenced to the frame centre),
//   divided by the phone's assumed high-pass response H (Butterworth of low_cut_order at
//   low_cut_hz, the bilinear design of dsp::butterworth_highpass, evaluated in complex form) to
//   undo both its attenuation and its phase shift. The pair (k, k + 1) used is the lowest pair of
//   explained harmonics where |H(k f0)| is at most kMaxCompensationDb below unity (so that noise
//   is not amplified by more than that). k = 1 when the fundamental is still there, attenuated
//   (a 73 Hz note behind a 100 Hz cut): it is then brought back to its level, not duplicated.
// - Phase: with the waveform model x = sum_k A_k cos(k w t + k phi0 + beta) (one shape phase beta
//   for all harmonics: cosine- or sine-phase sawtooth and square waves, plucked strings near their
//   attack), phi_k = k phi0 + beta, so the fundamental's phase phi_1 = phi0 + beta = k phi_k -
//   (k - 1) phi_{k+1}: no octave ambiguity, coherent with the harmonics present.
// - Amplitude: the power law A_j = C j^-p through A_k and A_{k+1}, p clamped to [0, 2] (p = 1 is a
//   sawtooth), extrapolated to j = 1. What the input still holds at f0 (measured the same way,
//   uncompensated) is subtracted as a phasor, so the output's component at f0 becomes the target,
//   and nothing is added when the input already holds at least the target. The added amplitude is
//   limited so that its power is at most max_added_db above the power of the note's harmonics in
//   [low_cut_hz, search_high_hz] measured in that channel, then scaled by intensity.
// - Synthesis: per frame and channel the added sinusoid at f0 with that phasor, weighted by a
//   periodic Hann window of 2 kHopFrames centred on the frame (the windows sum to 1, and
//   successive frames' sinusoids agree in phase because both are measured on the signal), then a
//   Butterworth low-pass of low_cut_order at low_cut_hz so the added part stays below the cut;
//   its response at f0 is divided out of the phasor beforehand, so the fundamental keeps its
//   amplitude and phase.
// - Output: input delayed by latency_frames() plus the added part (intensity 0: the delayed input,
//   bit for bit).
// Per channel the added signal comes from that channel's own partials, so each channel gets the
// weight its own low band has.
// Limits: the recorder's filter order is assumed (low_cut_order), not measured, and the detected
// corner is coarse (see metrics::estimate_low_cutoff_hz); a wrong model biases the restored level
// and phase. Notes shorter than about two hops (93 ms) are smeared by the analysis frame.
//
// Statistics: added_energy_db(): energy of everything added re the energy of the input, all
// channels, in dB (-inf while nothing was added); active_ratio(): share of the non-silent
// analysis frames that synthesized; mean_f0_hz(): mean f0 over those frames (0 when none);
// contradicted_ratio(): share of the frames with a note under the cut whose fundamental was
// stronger than the cut allows (kMaxExcessOverCutDb), so added nothing.
// dyad_ratio(): share of the non-silent analysis frames whose f0 under the cut rested on a pair of
// partials that a chord could equally make (kDyadHarmonic), so added nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>

#include "rz/dsp/processor.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

struct SubBassSettings {
  // The low cuts the block handles: below 40 Hz nothing of a bass note is missing; above 400 Hz
  // the cut is not a phone's high-pass but a thin stem.
  static constexpr double kMinLowCutHz = 40.0;
  static constexpr double kMaxLowCutHz = 400.0;
  // The recorder's high-pass corner (its -3 dB point) in Hz, as detected by the analysis
  // (metrics::Analysis::low_cutoff_hz). Required: kMinLowCutHz..kMaxLowCutHz, above kMinF0Hz.
  double low_cut_hz = 0;
  // Assumed order of the recorder's high-pass (even, 2..8): its response is divided out of the
  // partials' levels and phases. Phones use 2nd to 4th order.
  int low_cut_order = 4;
  // Band searched for partials: search_low_hz (kMinF0Hz..low_cut_hz) to search_high_hz
  // (1.5 low_cut_hz .. an eighth of the sample rate). Partials below the cut count too (attenuated,
  // they are still there); the fundamental is synthesized only where it lies below low_cut_hz.
  double search_low_hz = 50;
  double search_high_hz = 200;
  // Limit of the added power re the power of the note's harmonics in [low_cut_hz,
  // search_high_hz], per frame and channel, in dB (-20..20). A sawtooth-like note (A_k ~ 1/k) at
  // 41 Hz behind a 100 Hz cut needs 8.5 dB; bass notes whose fundamental dominates need more, and
  // are held below their original level by the difference.
  double max_added_db = 6;

  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<SubBassSettings>& fields();
  // Throws UsageError naming the first bad field and its range.
  void validate(int sample_rate_hz) const;
  nlohmann::json to_json() const;
};

class SubBassSynth final : public Processor {
 public:
  static constexpr int kFftSize = 8192;    // analysis frame (186 ms at 44.1 kHz)
  static constexpr int kHopFrames = 2048;  // hop, and half the synthesis window
  static constexpr double kMinF0Hz = 30.0;
  static constexpr double kPeakProminenceDb = 6.0;
  static constexpr double kPeakRangeDb = 40.0;
  static constexpr double kPeakOverMedianDb = 12.0;
  static constexpr double kHarmonicTolerance = 0.03;
  static constexpr double kMinExplained = 0.85;
  static constexpr double kMaxCompensationDb = 12.0;
  // Evidence of the cut, per note: what the input holds at f0 may exceed what the assumed
  // high-pass would have let through of the extrapolated fundamental (|H(f0)| times the target)
  // by at most this much. A stronger fundamental was not cut: the instrument's own is weak (a
  // cello's or a timpani's lowest notes), and the frame adds nothing. The margin covers the
  // corner's imprecision (0.7 to 1.4 corners: up to 6 dB at 4th order) and a 2nd-order high-pass
  // where 4th order is assumed (up to 18 dB two octaves below the corner).
  static constexpr double kMaxExcessOverCutDb = 20.0;
  // Evidence of one note, not a chord: two partials as harmonics k and k + 1 with k >= 3 stand a
  // fourth or less apart (4:3, 5:4, 6:5, ...), which two notes of a chord do as often. A marimba's
  // C3 and E3 (131 and 165 Hz) read as harmonics 4 and 5 of a 33 Hz note that nobody played, and
  // the block added it under a phone's cut (issue 13's phone-e2e bench: -0.37 dB SI-SDR against
  // the early sound at 10 dB crowd SNR). From this harmonic number on, harmonic k + 2 must be
  // there too, as a bass note's partials are. A root-position major triad still reads as
  // harmonics 4, 5, 6, and a mix whose bass keeps only two partials above the cut is left as it
  // is. 3 rather than 4, since a fourth is as common between two notes as a third; the tuning
  // material splits (the bench's ragtime piano at 10 dB: -0.149 -> -0.130 dB with 3, unchanged
  // with 4; test_subbass's high-passed MUSDB mix: 4.05 dB of its low band restored with 3, 4.17
  // with 4 as without). The validation marimba, where the case was found, is not a held-out
  // measurement of it.
  static constexpr int kDyadHarmonic = 3;

  // Throws UsageError for bad settings, channels < 1, a sample rate outside 8000..192000 Hz, or
  // intensity outside [0, 1].
  SubBassSynth(int channels, int sample_rate_hz, const SubBassSettings& settings,
               double intensity = 1.0);
  ~SubBassSynth() override;
  SubBassSynth(SubBassSynth&&) noexcept;
  SubBassSynth& operator=(SubBassSynth&&) noexcept;

  void process(const float* in, float* out, size_t frames) override;
  // kFftSize / 2 + kHopFrames = 6144 frames (139 ms at 44.1 kHz): half a frame of look-ahead for
  // the analysis plus half a synthesis window.
  size_t latency_frames() const override { return kFftSize / 2 + kHopFrames; }
  int channels() const override { return channels_; }

  double added_energy_db() const;
  double active_ratio() const;
  double contradicted_ratio() const;
  double dyad_ratio() const;
  double mean_f0_hz() const;
  // {added_energy_db (json_level), active_ratio, mean_f0_hz, contradicted_ratio, dyad_ratio}.
  nlohmann::json statistics() const override;

 private:
  struct State;
  int channels_;
  std::unique_ptr<State> state_;
};

}  // namespace rz::dsp
