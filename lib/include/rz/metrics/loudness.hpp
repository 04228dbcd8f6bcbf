// EBU R 128 / ITU-R BS.1770 loudness and true peak over libebur128.
//
// Units: LUFS for absolute loudness, LU for loudness range, dBTP for true peak, dBFS for sample
// peak. Quantities that are undefined (silence) read -infinity. Mono input is measured as dual mono
// (played on both speakers), the convention of streaming platforms.
//
// libebur128 does the K-weighting, the block energies and the peaks. Integrated loudness and
// loudness range are gated here from those block energies: libebur128 gates them either from a
// list of every block, which grows with the recording (about 0.3 kB per second and meter, 4 MB
// for 3 hours), or from a histogram of 0.1 LU bins, which moves a steady tone's -22.99 LUFS to
// -22.95. The bins here are 0.01 LU wide and keep the exact sum of their blocks' energies, so
// memory is constant (about 0.4 MB per meter) and the results are libebur128's exact ones but
// for blocks within 0.01 LU of a relative gate (integrated loudness) and the two percentiles,
// read to 0.01 LU (range).
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "rz/dsp/units.hpp"

namespace rz::metrics {

class LoudnessMeter {
 public:
  enum Feature : unsigned {
    kIntegrated = 1u << 0,
    kRange = 1u << 1,
    kTruePeak = 1u << 2,
    kSamplePeak = 1u << 3,
    kMaxima = 1u << 4,  // max momentary (400 ms) and short-term (3 s) loudness
    kAll = 0x1Fu,
    // Not in kAll: the momentary and short-term loudness at every 100 ms step from the first
    // (momentary_series(), short_term_series(); memory grows with the length, 8 bytes a step).
    // Until a block is full, it reads as if silence came before the start (as libebur128 does).
    kSeries = 1u << 5,
  };
  LoudnessMeter(int channels, int sample_rate_hz, unsigned features = kAll);
  ~LoudnessMeter();
  LoudnessMeter(const LoudnessMeter&) = delete;  // a worker may hold `this`
  LoudnessMeter& operator=(const LoudnessMeter&) = delete;

  void add(const float* interleaved, size_t frames);
  // Like add(), but measures a copy of the block on a worker thread while the caller goes on (the
  // 4x true-peak interpolator makes this meter the costliest stage of a pass). The next add or
  // add_async, and every getter, waits for it.
  void add_async(const float* interleaved, size_t frames);

  double integrated_lufs() const;
  double range_lu() const;
  double true_peak_dbtp() const;    // max over channels
  double sample_peak_dbfs() const;  // max over channels
  double max_momentary_lufs() const {
    wait();
    return max_momentary_;
  }
  double max_short_term_lufs() const {
    wait();
    return max_short_term_;
  }
  // kSeries: LUFS at each completed 100 ms step (-inf where silent or undefined).
  const std::vector<float>& momentary_series() const {
    wait();
    return momentary_series_;
  }
  const std::vector<float>& short_term_series() const {
    wait();
    return short_term_series_;
  }

 private:
  int channels_;
  int sample_rate_hz_;
  unsigned features_;
  struct State;
  std::unique_ptr<State> state_;
  size_t step_frames_;         // 100 ms as libebur128 counts it: (rate + 5) / 10 frames
  size_t frames_to_boundary_;  // frames until the next 100 ms step
  int64_t steps_ = 0;          // 100 ms steps completed
  double max_momentary_;
  double max_short_term_;
  std::vector<float> momentary_series_, short_term_series_;
  void wait() const;
  void add_now(const float* interleaved, size_t frames);
  void add_windowed_series();
  std::vector<float> async_block_;
  mutable std::future<void> job_;
};

// The value at the end of every `n` steps of a 100 ms series (indices n-1, 2n-1, ...): a
// short-term series read every n / 10 s.
std::vector<float> every_nth_step(const std::vector<float>& series, size_t n);

// 20 log10 and 10 log10, -inf for 0; json_level: -inf -> -200, +inf -> +200, NaN -> 0
// (dsp/units.hpp).
inline double to_db(double linear_amplitude) { return dsp::amplitude_to_db(linear_amplitude); }
using dsp::json_level;
using dsp::power_to_db;

}  // namespace rz::metrics
