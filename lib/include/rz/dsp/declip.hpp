// De-clipping: finds clipped runs (flat tops at the recording's peak, at full scale or below it,
// and the rounded tops of a phone's soft limiter) and reconstructs them by constrained
// autoregressive interpolation.
//
// Detection (ClipDetector, one streaming pass, memory independent of the length), per polarity
// (positive and negative tops are judged apart, as a phone's gain after the clipper may leave
// them asymmetric):
// - Hard clipping: runs of at least min_run_frames identical samples louder than -20 dBFS, kept
//   in 0.01 dB bins; those within level_tolerance_db of the polarity's peak are clipping when
//   there are at least min_runs of them. The level is the smallest such plateau value, exactly as
//   it appears in the signal. These are the plateau rules of rz::metrics::Analyzer (analysis.hpp:
//   3 identical samples, -20 dBFS floor, 0.05 dB of the peak), applied per polarity.
// - Soft limiting (only where no hard clipping was found for that polarity): samples within
//   soft_margin_db of the polarity's peak that lie in runs of at least min_run_frames such
//   samples, when they make up at least soft_min_ratio of all samples, form at least min_runs
//   runs, and the near-peak samples are not those of one steady smooth crest: a smooth crest (a
//   steady sine) spends time within a depth of its top in proportion to sqrt(depth), so the
//   samples within the margin, over those within 5 times the margin, must exceed 1.3 times that
//   square root (flattened tops: a tanh knee on a tone driven 10 dB gives 1.6 times it) or fall
//   below it by 1.3 times (a ceiling over crests of many heights: music under a tanh knee gives
//   0.4 to 0.5 times; a steady sine gives exactly 1). Clean music has too few samples near its
//   peak to count. The level is then the peak less soft_margin_db: everything at or beyond it is
//   unreliable.
// A sample is clipped (unreliable) when x >= positive_level or x <= negative_level.
//
// Reconstruction (Declipper), per channel: clipped samples closer than ar_order reliable samples
// are merged into one cluster (a cluster that would span more than max_run_s is cut at a gap, and
// the pieces solved in order); each cluster is restored by Janssen's alternation of AR fit and
// least-squares interpolation (Janssen, Veldhuis and Vries, "Adaptive interpolation of
// discrete-time signals that can be modeled as autoregressive processes", IEEE Trans. ASSP 34(2),
// 1986), with the clipping constraints (the constrained AR family evaluated in Zaviska et al., "A
// survey and an extensive evaluation of popular audio declipping methods", IEEE JSTSP 15(1), 2021;
// Harvilla and Stern, "Least squares signal declipping for robust speech recognition",
// Interspeech 2014), `iterations` times:
// - an AR(ar_order) model is fitted on the neighbourhood, context_s on both sides, with the
//   cluster's current estimate (the clipped values at first): Hann-windowed autocorrelation,
//   Levinson-Durbin;
// - the clipped samples u minimise the energy of the prediction error sum_t (sum_k a_k x_{t-k})^2
//   over the cluster with its known neighbours fixed (a banded system, Cholesky), subject to the
//   clipping constraints: each restored sample keeps the sign of its run and is at least as large
//   in magnitude as the observed one. The constraints are kept by an active set: samples whose
//   solution violates them are held at the observed value and the rest solved again, until none
//   does. Clipped samples of the next piece of a cut cluster are estimated along but not written.
// Single runs longer than max_run_s are left as they are (skipped_runs()). The default order
// (112) is chosen for music; a pure tone is a line spectrum that a high order over-fits when most
// of each period is clipped (a low order, e.g. 16, restores it).
// Output: unclipped samples pass through bit-identical (delayed by latency_frames()); restored
// samples are x + intensity * (u - x), so they stay consistent with the clipping at any
// intensity. Restored peaks may exceed 1.0 (full scale): the stems are float, the master stage
// limits later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "rz/dsp/clip_detect.hpp"
#include "rz/dsp/processor.hpp"

namespace rz::dsp {

class Declipper final : public Processor {
 public:
  // Throws UsageError for bad settings, channels < 1, a sample rate outside 8000..768000 Hz or an
  // intensity outside 0..1. With clip.found false the block is a pass-through with no latency.
  Declipper(int channels, int sample_rate_hz, const ClipReport& clip,
            const DeclipSettings& settings = {}, double intensity = 1.0);
  ~Declipper() override;
  Declipper(Declipper&&) noexcept;
  Declipper& operator=(Declipper&&) noexcept;

  void process(const float* in, float* out, size_t frames) override;
  // round(max_run_s * rate) + max(ar_order + 1, round(context_s * rate)): the lookahead a
  // cluster needs to be complete and have its right context. 0 when clip.found is false.
  size_t latency_frames() const override;
  int channels() const override;

  // Statistics over the output so far (clusters whose reconstruction has been written).
  int64_t restored_samples() const;  // clipped samples replaced (all channels)
  int64_t restored_runs() const;     // clusters of runs reconstructed
  // Clusters left as they were: a single run longer than max_run_s, or (rarely) a silent context
  // or a system that could not be factorised.
  int64_t skipped_runs() const;
  // Largest restored magnitude re the clip level of its polarity, in dB (>= 0); -inf while
  // nothing has been restored.
  double max_restored_peak_db() const;
  // {restored_samples, restored_runs, skipped_runs, max_restored_peak_db (json_level)}.
  nlohmann::json statistics() const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rz::dsp
