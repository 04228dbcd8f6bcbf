// The streaming STFT: ring buffers per channel, Hann-windowed KissFFT frames, overlap-add.
#include "rz/dsp/stft.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "rz/error.hpp"

namespace rz::dsp {

StftAnalysis::StftAnalysis(int channels, int fft_size, int hop, std::vector<float> window,
                           Start start)
    : channels_(channels), n_(fft_size), hop_(hop), fft_(fft_size), window_(std::move(window)) {
  if (channels < 1) throw UsageError("stft: bad channel count " + std::to_string(channels));
  if (hop < 1 || hop > fft_size) throw UsageError("stft: bad hop " + std::to_string(hop));
  if (window_.size() != static_cast<size_t>(fft_size))
    throw UsageError("stft: the window must have fft_size values");
  ring_.assign(static_cast<size_t>(channels) * n_, 0.0f);
  first_pos_ = static_cast<size_t>(n_ - hop_);
  start_pos_ = start == Start::kPadded ? first_pos_ : 0;
  pos_ = start_pos_;
  frame_.resize(static_cast<size_t>(n_));
  spectra_.resize(static_cast<size_t>(channels) * bins());
}

void StftAnalysis::transform() {
  for (int c = 0; c < channels_; ++c) {
    const float* r = samples(c);
    for (int j = 0; j < n_; ++j) frame_[j] = r[j] * window_[j];
    fft_.forward(frame_.data(), spectrum(c));
  }
  ++frames_;
}

void StftAnalysis::shift() {
  for (int c = 0; c < channels_; ++c) {
    float* r = &ring_[static_cast<size_t>(c) * n_];
    std::memmove(r, r + hop_, sizeof(float) * (n_ - hop_));
  }
  pos_ = first_pos_;
}

StftSynthesis::StftSynthesis(int channels, int fft_size, int hop, std::vector<float> window,
                             float scale)
    : n_(fft_size), hop_(hop), fft_(fft_size), window_(std::move(window)), scale_(scale) {
  if (channels < 1) throw UsageError("stft: bad channel count " + std::to_string(channels));
  if (hop < 1 || hop > fft_size) throw UsageError("stft: bad hop " + std::to_string(hop));
  if (window_.size() != static_cast<size_t>(fft_size))
    throw UsageError("stft: the window must have fft_size values");
  acc_.assign(static_cast<size_t>(channels) * n_, 0.0f);
  frame_.resize(static_cast<size_t>(n_));
}

void StftSynthesis::add(int c, const std::complex<float>* spectrum, float* out, size_t stride) {
  fft_.inverse(spectrum, frame_.data());
  float* a = &acc_[static_cast<size_t>(c) * n_];
  for (int j = 0; j < n_; ++j) a[j] += frame_[j] * window_[j] * scale_;
  for (int j = 0; j < hop_; ++j) out[static_cast<size_t>(j) * stride] = a[j];
  std::memmove(a, a + hop_, sizeof(float) * (n_ - hop_));
  std::fill(a + (n_ - hop_), a + n_, 0.0f);
}

float StftSynthesis::ola_scale(const std::vector<float>& window, int hop) {
  double sum_sq = 0;
  for (size_t j = 0; j < window.size(); j += static_cast<size_t>(hop))
    sum_sq += double(window[j]) * window[j];
  return static_cast<float>(1.0 / sum_sq);
}

}  // namespace rz::dsp
