// Real FFT over KissFFT, windows, and a streaming power-spectrum framer (over dsp/stft.hpp).
#pragma once

#include <complex>
#include <functional>
#include <memory>
#include <vector>

namespace rz::dsp {

// Forward/inverse real FFT of even size n. forward(): n reals -> n/2+1 bins, unnormalised.
// inverse(): n/2+1 bins -> n reals, scaled by 1/n so that inverse(forward(x)) == x.
class RealFft {
 public:
  explicit RealFft(int n);
  ~RealFft();
  RealFft(RealFft&&) noexcept;
  RealFft& operator=(RealFft&&) noexcept;
  int size() const { return n_; }
  void forward(const float* in, std::complex<float>* out);
  void inverse(const std::complex<float>* in, float* out);

 private:
  int n_;
  struct Plans;
  std::unique_ptr<Plans> plans_;
};

// The smallest power of two >= `samples` and >= 2 (RealFft's smallest size): the FFT size for a
// frame of that many samples (a duration times a rate may be fractional).
size_t fft_size_at_least(double samples);
// The power of two (>= 2) nearest to `samples` on a log scale: a frame of about a given duration
// at any rate (at 48 kHz a 23 ms frame is 1024 samples, as at 44.1 kHz, where the power of two at
// least that long would double it).
size_t fft_size_nearest(double samples);

// Periodic Hann window (for STFT analysis with 50 % overlap it sums to a constant).
std::vector<float> hann_window(int n);

// Kaiser window at the normalised position r in [-1, 1] (0 at the centre, +-1 at the ends):
// I0(beta sqrt(1 - r^2)) / I0(beta).
double kaiser_window_at(double r, double beta);

class StftAnalysis;  // stft.hpp

// Slices a mono stream into Hann-windowed frames of `fft_size` every `hop` frames and hands each
// frame's power spectrum |X[k]|^2 (fft_size/2+1 bins, unnormalised; see power_scale()) to a
// callback. Frames start at sample 0; flush() zero-pads the last partial frame. (One channel of
// StftAnalysis with Start::kAtZero.)
class PowerSpectrumStream {
 public:
  PowerSpectrumStream(int fft_size, int hop);
  ~PowerSpectrumStream();
  PowerSpectrumStream(PowerSpectrumStream&&) noexcept;
  PowerSpectrumStream& operator=(PowerSpectrumStream&&) noexcept;
  using Callback = std::function<void(const float* power)>;
  // `stride`: distance between consecutive samples of this channel in `x` (interleaved input).
  void push(const float* x, size_t frames, size_t stride, const Callback& on_frame);
  void flush(const Callback& on_frame);
  int bins() const { return static_cast<int>(power_.size()); }
  // Divide power by this to get each bin's share of the signal's mean square (Parseval with the
  // window): sum_k weight(k) * power[k] / power_scale() = sum(x^2 w^2) / sum(w^2), the window-
  // weighted mean square of the frame; weight(k) is 1 for DC and Nyquist, 2 for the others.
  double power_scale() const { return power_scale_; }

 private:
  void emit(const Callback& on_frame);
  std::unique_ptr<StftAnalysis> stft_;
  std::vector<float> power_;
  double power_scale_;
};

}  // namespace rz::dsp
