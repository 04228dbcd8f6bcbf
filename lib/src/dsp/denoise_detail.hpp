// Internals shared by the noise profiler and tracker, the denoiser and the noise analysis: the
// STFT framing they have in common, level floors and argument checks. Not installed.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "rz/dsp/stft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp::detail {

// The squared periodic Hann window summed over hops of a quarter frame is 1.5 everywhere.
inline constexpr double kHannSquaredOverlap = 1.5;
inline constexpr int kHopDivisor = 4;
// Powers below this (per bin, |X|^2 scale) are digital silence: no noise to estimate or remove.
inline constexpr double kTinyPower = 1e-20;
// Blocks quieter than this are digital silence and say nothing about the noise floor.
inline constexpr double kSilentBlockDbfs = -120.0;
inline constexpr double kMinAutoSeconds = 1.0;

// Levels of the noise code are floored at kTinyPower (-200 dB): empty bands and blocks of digital
// silence compare as very quiet rather than as -infinity.
inline double to_db(double power) { return power_to_db(power, kTinyPower); }

// n * sum(w^2) of the periodic Hann window: turns sum_k weight(k) |X_k|^2 into a mean square.
inline double hann_power_scale(int n) { return static_cast<double>(n) * (3.0 * n / 8.0); }

inline double bins_mean_square(const std::vector<double>& power, int n) {
  double sum = 0;
  const size_t last = power.size() - 1;
  for (size_t k = 0; k < power.size(); ++k) sum += (k == 0 || k == last ? 1.0 : 2.0) * power[k];
  return sum / hann_power_scale(n);
}

inline void check_rate(double sample_rate_hz) {
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 768000))
    throw UsageError(describe("bad sample rate", fixed(sample_rate_hz, 0), "use 8000..768000 Hz"));
}

inline void check_channels(int channels) {
  if (channels < 1)
    throw UsageError(describe("bad channel count", std::to_string(channels), ">= 1"));
}

// One STFT analysis for the denoiser and the analysis passes: every hop (n / kHopDivisor), the
// Hann-windowed spectra of the last n samples of each channel (StftAnalysis, Start::kPadded: zeros
// before the start) and their channel-mean power per bin, the scale of the noise estimates.
class StftFramer {
 public:
  StftFramer(int channels, int n)
      : stft_(channels, n, n / kHopDivisor, hann_window(n)),
        power_(static_cast<size_t>(n / 2 + 1)) {}

  // Appends `frames` interleaved frames; at each hop calls on_frame(power), with spectrum(c)
  // holding that frame's spectra (which on_frame may modify).
  template <typename Fn>
  void push(const float* x, size_t frames, Fn&& on_frame) {
    stft_.push(x, frames, [&] {
      std::fill(power_.begin(), power_.end(), 0.0);
      for (int c = 0; c < stft_.channels(); ++c) {
        const std::complex<float>* X = stft_.spectrum(c);
        for (size_t k = 0; k < power_.size(); ++k) power_[k] += std::norm(X[k]);
      }
      for (double& p : power_) p /= stft_.channels();
      on_frame(power_);
    });
  }
  std::complex<float>* spectrum(int c) { return stft_.spectrum(c); }
  int hop() const { return stft_.hop(); }
  int bins() const { return stft_.bins(); }

 private:
  StftAnalysis stft_;
  std::vector<double> power_;
};

}  // namespace rz::dsp::detail
