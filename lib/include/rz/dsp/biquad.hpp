// Biquad filters after the RBJ Audio EQ Cookbook, run per channel on interleaved audio.
#pragma once

#include <cstddef>
#include <vector>

namespace rz::dsp {

struct BiquadCoeffs {
  double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;  // a0 normalised to 1

  static BiquadCoeffs highpass(double sample_rate_hz, double freq_hz,
                               double q = 0.7071067811865476);
  static BiquadCoeffs lowpass(double sample_rate_hz, double freq_hz, double q = 0.7071067811865476);
  // Shelves with shelf slope S = 1 (the cookbook's steepest monotonic shelf).
  static BiquadCoeffs low_shelf(double sample_rate_hz, double freq_hz, double gain_db);
  static BiquadCoeffs high_shelf(double sample_rate_hz, double freq_hz, double gain_db);
  static BiquadCoeffs peaking(double sample_rate_hz, double freq_hz, double q, double gain_db);
  // Band-pass with constant 0 dB peak gain: |H| = 1 and phase 0 at freq_hz, zeros at DC and
  // Nyquist, -3 dB where |W - 1/W| = 1/q with W = tan(pi f / fs) / tan(pi freq_hz / fs).
  static BiquadCoeffs bandpass(double sample_rate_hz, double freq_hz, double q);

  // One transposed-direct-form-II step: returns the output for `in` and updates the state z[0..1].
  double step(double in, double* z) const {
    const double out = b0 * in + z[0];
    z[0] = b1 * in - a1 * out + z[1];
    z[1] = b2 * in - a2 * out;
    return out;
  }

  // Magnitude response in dB at freq_hz.
  double magnitude_db(double sample_rate_hz, double freq_hz) const;
};

// Butterworth low- and high-passes of even `order` (2 to 16) as order/2 cookbook sections with
// Q_k = 1 / (2 cos((2k - 1) pi / (2 order))): the bilinear transform of the analog prototype
// prewarped at freq_hz, so the cascade is -3.01 dB at freq_hz exactly and maximally flat.
// Throws UsageError for an odd or out-of-range order or a corner outside (0, Nyquist).
std::vector<BiquadCoeffs> butterworth_lowpass(double sample_rate_hz, double freq_hz, int order);
std::vector<BiquadCoeffs> butterworth_highpass(double sample_rate_hz, double freq_hz, int order);

// A chain of biquads applied in place to interleaved audio, state kept per channel across calls
// (transposed direct form II in double precision).
class BiquadChain {
 public:
  explicit BiquadChain(int channels) : channels_(channels) {}
  void add(const BiquadCoeffs& c);
  bool empty() const { return stages_.empty(); }
  void process(float* interleaved, size_t frames);

 private:
  int channels_;
  std::vector<BiquadCoeffs> stages_;
  std::vector<double> state_;  // 2 per stage per channel
};

}  // namespace rz::dsp
