// Harmonic exciter: adds saturation harmonics of the highs, generated oversampled so none alias.
#pragma once

#include <cstddef>
#include <memory>

#include "rz/dsp/processor.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

struct ExciterSettings {
  // Lower edge of the excited band: the -3 dB point of both high-passes, in Hz (500..16000, and
  // below Exciter::kPassEdge times the sample rate).
  double freq_hz = 3000.0;
  // Gain into the saturator, in dB (0..36). The curve is normalised to unit slope at 0, so the
  // drive sets how early it bends, not the level.
  double drive_db = 12.0;
  // Linear gain of the generated signal added to the dry signal (0..1). 0 passes the input
  // through, delayed by latency_frames(), bit for bit.
  double mix = 0.1;
  // Oversampling factor of the saturator: 2, 4 or 8.
  int oversample = 4;
  // Bend of the positive half over the negative one (0..0.9): 0 is an odd curve (odd harmonics
  // only); larger values add even harmonics.
  double asymmetry = 0.1;

  // Throws UsageError naming the first bad field and its range.
  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<ExciterSettings>& fields();
  void validate() const;
};

// Per channel, the band above freq_hz goes through
//   4th-order Butterworth high-pass at freq_hz (bilinear, -3 dB at freq_hz)
//   -> upsampling by `oversample` (cascade of linear-phase half-band FIR stages)
//   -> g(x) = f(x) - x with f(x) = T / (d (1 + a T)), T = tanh(d x), d = 10^(drive_db/20),
//      a = asymmetry: only what the curve adds is kept (harmonics and intermodulation, and the
//      component at the input frequencies by which f compresses them)
//   -> low-pass at the original Nyquist band edge and decimation (the same half-band stages),
//      so that harmonics above the original Nyquist are removed instead of folding back
//   -> the same 4th-order Butterworth high-pass at freq_hz (removes intermodulation below the
//      band and the DC of the even terms)
//   -> times mix, added to the input delayed by latency_frames().
// The half-band stages are flat to within 10^(-kStopbandDb/20) up to kPassEdge times the sample
// rate and attenuate by at least kStopbandDb from (1 - kPassEdge) times it, so nothing folds below
// kPassEdge times the sample rate by more than that, except harmonics that lie above (oversample -
// kPassEdge) times the sample rate: they fold at the oversampled rate, before any filter. With a
// 5 kHz tone at -6 dBFS and 12 dB drive these reach -97 dB (asymmetry 0) to -90 dB (0.3) re the
// tone at 2x, and stay below the filters' leaks at 4x and 8x. Between kPassEdge and 0.5 of the
// sample rate lies the transition band, where harmonics are attenuated and may fold back in part.
class Exciter : public Processor {
 public:
  // Upper edge of the flat, alias-free band, as a fraction of the sample rate (19.8 kHz at 44.1).
  static constexpr double kPassEdge = 0.45;
  // Stopband attenuation of every half-band stage, in dB.
  static constexpr double kStopbandDb = 100.0;

  // Throws UsageError for bad settings (see ExciterSettings), channels < 1, or a sample rate that
  // is not in 8000..768000 Hz.
  Exciter(int channels, double sample_rate_hz, const ExciterSettings& settings);
  ~Exciter() override;
  Exciter(Exciter&&) noexcept;
  Exciter& operator=(Exciter&&) noexcept;

  void process(const float* in, float* out, size_t frames) override;
  // Delay of the linear-phase resampling chain, which the dry signal gets too: 67, 74 and 77
  // frames at 2x, 4x and 8x, whatever the sample rate. The high-passes add no constant delay.
  size_t latency_frames() const override { return latency_frames_; }
  int channels() const override { return channels_; }

  // Energy of everything added so far relative to the energy of the input so far, in dB (sums
  // over all channels and frames); -inf while nothing has been added.
  double added_energy_db() const;
  // {added_energy_db (json_level)}.
  nlohmann::json statistics() const override;

 private:
  struct State;
  int channels_;
  size_t latency_frames_;
  std::unique_ptr<State> state_;
};

}  // namespace rz::dsp
