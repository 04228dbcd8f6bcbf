// Dynamics blocks: a feed-forward compressor, a transient shaper and a dynamic EQ band.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/processor.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

// Smooth branching ballistics on a gain reduction in dB (the "smooth branching peak detector" of
// Giannoulis, Massberg & Reiss, "Digital Dynamic Range Compressor Design - A Tutorial and
// Analysis", JAES 2012):
//   y[n] = a y[n-1] + (1 - a) x[n],  a = exp(-1 / (attack_s fs))  while x[n] > y[n-1],
//                                    a = exp(-1 / (release_s fs)) otherwise.
// After the target x steps from 0 to X, y = (1 - a^k) X on the k-th frame: 63 % (1 - 1/e) of X
// after attack_ms; a fall is 63 % complete after release_ms likewise. Once the target is 0 and
// y has fallen below kSnapDb, y becomes exactly 0, so the blocks return to exact pass-through.
class ReductionSmoother {
 public:
  // A reduction this small changes a gain by 1.2e-8, under float32 resolution (6e-8).
  static constexpr double kSnapDb = 1e-7;
  ReductionSmoother(double sample_rate_hz, double attack_ms, double release_ms);
  // Advances one frame towards target_db (>= 0) and returns the smoothed reduction in dB.
  double next(double target_db) {
    const double a = target_db > y_ ? attack_ : release_;
    y_ = a * y_ + (1 - a) * target_db;
    if (target_db == 0 && y_ < kSnapDb) y_ = 0;
    return y_;
  }

 private:
  double attack_, release_;
  double y_ = 0;
};

struct CompressorSettings {
  double threshold_db = -18.0;  // dBFS of the detected peak level, -96..0
  double ratio = 2.0;           // 1 (no compression) .. 100
  double knee_db = 6.0;         // full knee width in dB, 0 (hard knee) .. 48
  double attack_ms = 10.0;      // 0.01..1000
  double release_ms = 120.0;    // 1..5000
  double makeup_db = 0.0;       // gain after compression, -24..24
  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<CompressorSettings>& fields();
  void validate() const;  // throws UsageError naming the field and its valid range
};

// The compressor's soft-knee static curve (gain computer) of Giannoulis et al.: the gain change
// in dB (<= 0, before makeup) for an input level L in dBFS, threshold T, ratio R, knee width W:
//   2 (L - T) < -W:      0
//   2 |L - T| <= W:      (1/R - 1) (L - T + W/2)^2 / (2 W)
//   2 (L - T) > W:       (1/R - 1) (L - T)
double compressor_static_gain_db(double level_db, const CompressorSettings& settings);

// Feed-forward, stereo-linked compressor (Giannoulis et al., the log-domain detector after the
// gain computer). Per frame:
//   L = 20 log10(max over channels of |x|)                 (peak detector, linked)
//   r = ReductionSmoother(attack_ms, release_ms).next(-compressor_static_gain_db(L))
//   y = x 10^((makeup_db - r) / 20)                        (the same gain on every channel)
// A level held constant (as |x| of a square wave) gives exactly the static curve's reduction.
// On a tone the detector sees |x| fall between crests, so the reduction settles below the static
// curve at the crest level: by about 11 % of it with attack 10 ms / release 120 ms, about 1 % with
// 1 ms / 500 ms (tests/unit/test_dynamics.cpp). Latency 0.
class Compressor : public Processor {
 public:
  Compressor(int channels, double sample_rate_hz, const CompressorSettings& settings);
  void process(const float* in, float* out, size_t frames) override;
  int channels() const override { return channels_; }

  // Largest smoothed reduction r so far (positive dB, makeup excluded).
  double max_reduction_db() const { return max_reduction_db_; }
  // Mean of r over all frames processed so far (positive dB, 0 before any).
  double mean_reduction_db() const;
  // {max_reduction_db, mean_reduction_db}.
  nlohmann::json statistics() const override;

 private:
  int channels_;
  CompressorSettings settings_;
  double knee_start_;  // linear peak at the knee's lower edge: below it the reduction is 0
  double makeup_;      // linear makeup gain
  ReductionSmoother smoother_;
  double max_reduction_db_ = 0;
  double sum_reduction_db_ = 0;
  int64_t frames_ = 0;
};

struct TransientShaperSettings {
  double attack_gain_db = 0.0;   // gain at an onset from silence (+: emphasise attacks), -24..24
  double sustain_gain_db = 0.0;  // gain on a tail falling at the release rate, -24..24
  double fast_ms = 1.0;          // fast follower's time constant, 0.05..100 and < slow_ms
  double slow_ms = 25.0;         // slow follower's time constant, < release_ms
  double release_ms = 120.0;     // fall of the level envelope, up to 5000
  double hold_ms = 15.0;         // peak hold before the release, 0..100: >= half the longest period
  double max_gain_db = 12.0;     // limit of |gain|, 0..24
  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<TransientShaperSettings>& fields();
  void validate() const;  // throws UsageError naming the field and its valid range
};

// Transient shaper: level-independent gain from the difference of a fast and a slow envelope of
// the linked level. Per frame, with coefficients c(t) = exp(-1 / (t fs)):
//   P[n] = max(max of max_c |x_c| over the last hold_ms, c(release) P[n-1])   (peak envelope)
//   F[n] = c(fast) F[n-1] + (1 - c(fast)) P[n]                               (fast follower)
//   S[n] = c(slow) S[n-1] + (1 - c(slow)) P[n]                               (slow follower)
//   attack measure  A = (1 - S/F) / (1 - (1 - c(slow)) / (1 - c(fast)))  if F > S, else 0
//   sustain measure U = (1 - F/S) / U_max                                 if S > F, else 0
//     U_max = 1 - (1 - c(fast)) (1 - c(slow)/c(release)) / ((1 - c(slow)) (1 - c(fast)/c(release)))
//   gain_db = clamp(attack_gain_db A + sustain_gain_db U, -max_gain_db, max_gain_db)
//   y = x 10^(gain_db / 20)
// A and U lie in [0, 1]: A is 1 on the first frame of a sound starting from silence and decays as
// S catches up with F (about slow_ms); U is 1 once P falls at the release rate (a tail decaying
// at least that fast) and about proportional to the rate of fall for slower tails. On a steady
// tone whose half period is within the hold, P, F and S converge and the gain to 0 dB. The gain
// needs no further smoothing: F and S are one-pole smoothed, so it moves on the fast_ms scale (it
// steps only at the first frame after digital silence, where the signal starts from 0).
// With both gains 0 the output is the input, bit for bit. Latency 0.
class TransientShaper : public Processor {
 public:
  TransientShaper(int channels, double sample_rate_hz, const TransientShaperSettings& settings);
  void process(const float* in, float* out, size_t frames) override;
  int channels() const override { return channels_; }

 private:
  double hold_max(float level);  // sliding maximum over the last hold_frames_ levels
  int channels_;
  TransientShaperSettings settings_;
  double fast_, slow_, release_;       // one-pole coefficients
  double attack_norm_, sustain_norm_;  // 1 / the measures' maxima
  size_t hold_frames_;
  // Monotonic queue (decreasing levels) of the hold window, in a ring of hold_frames_ entries.
  std::vector<float> queue_level_;
  std::vector<int64_t> queue_index_;
  size_t queue_head_ = 0, queue_size_ = 0;
  int64_t index_ = 0;
  double peak_ = 0, fast_env_ = 0, slow_env_ = 0;
};

struct DynamicEqSettings {
  double freq_hz = 6000.0;      // band centre, 20..20000 and below 0.49 of the sample rate
  double q = 2.0;               // band-pass quality (bandwidth freq_hz / q), 0.1..20
  double threshold_db = -30.0;  // band peak level in dBFS above which the band is cut, -96..0
  double ratio = 4.0;           // above 1, up to 100
  double max_cut_db = 6.0;      // deepest cut (positive dB), above 0, up to 48
  double attack_ms = 1.0;       // 0.01..1000
  double release_ms = 80.0;     // 1..5000
  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<DynamicEqSettings>& fields();
  void validate() const;  // throws UsageError naming the field and its valid range
};

// Dynamic EQ band (a cut only), for de-essing (5-8 kHz) and de-mudding (~250 Hz). Per frame:
//   b_c = bandpass(x_c)  (BiquadCoeffs::bandpass(freq_hz, q): 0 dB and phase 0 at freq_hz)
//   L = 20 log10(max over channels of |b_c|)                         (band peak level, linked)
//   cut = ReductionSmoother(attack_ms, release_ms).next(
//             min(max_cut_db, max(0, (L - threshold_db) (1 - 1/ratio))))
//   y_c = x_c + (10^(-cut/20) - 1) b_c
// The response is 1 + (g - 1) H_bp(f) with g = 10^(-cut/20): a bell reaching g at freq_hz and
// returning to 1 away from it, zero-latency and click-free because only g moves (smoothly) while
// the filter's state runs continuously. The cut is never a boost and never deeper than
// max_cut_db. While cut is 0 (band below threshold, release finished) the output is the input,
// bit for bit. On a steady tone the cut settles below the static value at the crest level for
// the reason given at Compressor. Latency 0.
class DynamicEq : public Processor {
 public:
  // A frame counts as cut (active_ratio) when its cut is at least this deep.
  static constexpr double kActiveCutDb = 0.1;
  DynamicEq(int channels, double sample_rate_hz, const DynamicEqSettings& settings);
  void process(const float* in, float* out, size_t frames) override;
  int channels() const override { return channels_; }

  // Deepest smoothed cut so far (positive dB, <= max_cut_db).
  double max_cut_db_applied() const { return max_cut_db_; }
  // Fraction of the frames processed so far whose cut was at least kActiveCutDb (0 before any).
  double active_ratio() const;
  // {max_cut_db (max_cut_db_applied()), active_ratio}.
  nlohmann::json statistics() const override;

 private:
  int channels_;
  DynamicEqSettings settings_;
  BiquadCoeffs bandpass_;
  double threshold_;  // linear band peak at the threshold
  double slope_;      // 1 - 1/ratio
  ReductionSmoother smoother_;
  std::vector<double> state_;  // band-pass state, 2 per channel
  std::vector<double> band_;   // this frame's band-pass output per channel
  double max_cut_db_ = 0;
  int64_t active_frames_ = 0;
  int64_t frames_ = 0;
};

}  // namespace rz::dsp
