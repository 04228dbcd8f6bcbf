// Linear-phase high-pass design by frequency sampling, and overlap-save FFT convolution.
#include "rz/dsp/fir.hpp"

#include <algorithm>
#include <cmath>

#include "rz/error.hpp"

namespace rz::dsp {

std::vector<float> linear_phase_highpass(double rate, double freq_hz, int order) {
  if (!(freq_hz > 0 && freq_hz < 0.45 * rate))
    throw UsageError(describe("bad high-pass corner", fixed(freq_hz), "use 0 .. 0.45 of the sample rate"));
  if (order < 1 || order > 16)
    throw UsageError(describe("bad high-pass order", std::to_string(order), "use 1..16"));
  // Grid: 16 corner periods resolve the Butterworth skirt; the window then smooths the edges.
  size_t n = 256;
  while (static_cast<double>(n) < 16.0 * rate / freq_hz) n *= 2;
  const size_t bins = n / 2 + 1;
  std::vector<std::complex<float>> spectrum(bins);
  for (size_t k = 0; k < bins; ++k) {
    const double f = static_cast<double>(k) * rate / static_cast<double>(n);
    const double mag = f <= 0 ? 0.0 : 1.0 / std::sqrt(1.0 + std::pow(freq_hz / f, 2.0 * order));
    spectrum[k] = std::complex<float>(static_cast<float>(mag), 0.0f);  // zero phase
  }
  RealFft fft(static_cast<int>(n));
  std::vector<float> impulse(n);
  fft.inverse(spectrum.data(), impulse.data());
  // Zero-phase impulse response centred at 0: rotate to the middle, window to n - 1 taps (odd,
  // symmetric about its centre).
  const size_t taps = n - 1;
  const size_t half = taps / 2;
  std::vector<float> h(taps);
  for (size_t i = 0; i <= half; ++i) {
    // Lag half - i before the centre; mirrored exactly (the rounding of the FFT and the window
    // would otherwise leave the two halves a few ulp apart, and the phase no longer exactly linear).
    const size_t lag = half - i;
    const double v = 0.5 * (static_cast<double>(impulse[lag]) + impulse[(n - lag) % n]);
    const double x = 2.0 * M_PI * static_cast<double>(i) / static_cast<double>(taps - 1);
    const double w = 0.42 - 0.5 * std::cos(x) + 0.08 * std::cos(2 * x);  // Blackman
    h[i] = h[taps - 1 - i] = static_cast<float>(v * w);
  }
  return h;
}

FirFilter::FirFilter(int channels, const std::vector<float>& taps)
    : channels_(channels),
      taps_(taps.size()),
      block_(0),
      fft_size_(0),
      latency_(0),
      fft_(2) {
  if (channels < 1) throw UsageError(describe("bad channel count", std::to_string(channels), ">= 1"));
  if (taps.empty()) throw UsageError("FIR filter: no taps");
  size_t p = 1;
  while (p < taps_) p *= 2;
  fft_size_ = 2 * p;
  block_ = fft_size_ - p;  // >= taps - 1 samples of history stay in every frame
  latency_ = block_ + (taps_ - 1) / 2;
  fft_ = RealFft(static_cast<int>(fft_size_));
  std::vector<float> padded(fft_size_, 0.0f);
  std::copy(taps.begin(), taps.end(), padded.begin());
  kernel_.resize(fft_size_ / 2 + 1);
  fft_.forward(padded.data(), kernel_.data());
  input_.assign(static_cast<size_t>(channels_) * fft_size_, 0.0f);
  output_.assign(block_ * static_cast<size_t>(channels_), 0.0f);
  frame_.resize(fft_size_);
  spectrum_.resize(fft_size_ / 2 + 1);
}

void FirFilter::process(const float* in, float* out, size_t frames) {
  // Each block's result is emitted while the next block fills: output frame o carries the
  // convolution at o - block_, which answers the input at o - block_ - (taps - 1) / 2 in the pass
  // band (latency_frames()). The first block_ outputs come from output_'s initial zeros.
  for (size_t i = 0; i < frames; ++i) {
    for (int c = 0; c < channels_; ++c) {
      const float x = in[i * channels_ + c];
      out[i * channels_ + c] = output_[filled_ * channels_ + c];
      input_[static_cast<size_t>(c) * fft_size_ + (fft_size_ - block_) + filled_] = x;
    }
    if (++filled_ == block_) {
      run_block();
      filled_ = 0;
    }
  }
}

void FirFilter::run_block() {
  const size_t history = fft_size_ - block_;
  for (int c = 0; c < channels_; ++c) {
    float* buf = &input_[static_cast<size_t>(c) * fft_size_];
    fft_.forward(buf, spectrum_.data());
    for (size_t k = 0; k < spectrum_.size(); ++k) spectrum_[k] *= kernel_[k];
    fft_.inverse(spectrum_.data(), frame_.data());
    // Overlap-save: the last block_ outputs of the circular convolution are the linear ones.
    for (size_t j = 0; j < block_; ++j) output_[j * channels_ + c] = frame_[history + j];
    std::copy(buf + block_, buf + fft_size_, buf);  // keep the last `history` samples
  }
}

}  // namespace rz::dsp
