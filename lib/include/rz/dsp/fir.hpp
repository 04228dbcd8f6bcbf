// Linear-phase FIR filtering by FFT (overlap-save), and a linear-phase high-pass design.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

#include "rz/dsp/fft.hpp"
#include "rz/dsp/processor.hpp"

namespace rz::dsp {

// Taps of a linear-phase (symmetric, odd-length) high-pass whose magnitude follows a Butterworth
// high-pass of `order` with its -3 dB corner at freq_hz: |H(f)|^2 = 1 / (1 + (freq_hz / f)^(2
// order)). Frequency sampling on a grid fine enough for the corner (at least 16 periods of the
// corner frequency), then a Blackman window; the length grows as the corner falls (32767 taps for
// 25 Hz at 44.1 kHz). A pure delay of (taps - 1) / 2 in the pass band: no phase distortion.
std::vector<float> linear_phase_highpass(double sample_rate_hz, double freq_hz, int order);

// Streams a FIR over interleaved audio with FFT convolution (overlap-save, FFT size twice the
// next power of two P of the taps, P new frames per FFT). Delay: latency_frames() = P + (taps -
// 1) / 2 (one block of buffering plus a symmetric FIR's own delay); compensated, the output lines
// up with the input.
class FirFilter : public Processor {
 public:
  FirFilter(int channels, const std::vector<float>& taps);
  void process(const float* in, float* out, size_t frames) override;
  size_t latency_frames() const override { return latency_; }
  int channels() const override { return channels_; }

 private:
  void run_block();
  int channels_;
  size_t taps_;
  size_t block_;  // new samples per FFT (= fft size - taps + 1, rounded to fft/2)
  size_t fft_size_;
  size_t latency_;
  RealFft fft_;
  std::vector<std::complex<float>> kernel_;  // FFT of the taps, scaled
  std::vector<float> input_;                 // [channel][fft_size]: history then new block
  std::vector<float> output_;                // [block][channel] interleaved, ready to emit
  size_t filled_ = 0;                        // new samples in the current block
  std::vector<float> frame_;
  std::vector<std::complex<float>> spectrum_;
};

}  // namespace rz::dsp
