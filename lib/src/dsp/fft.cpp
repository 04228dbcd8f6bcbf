// KissFFT-backed real FFT, windows, and a streaming power-spectrum framer over StftAnalysis.
#include "rz/dsp/fft.hpp"

#include <kissfft/kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "rz/dsp/stft.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

static_assert(sizeof(kiss_fft_cpx) == sizeof(std::complex<float>), "kiss_fft_cpx layout");

struct RealFft::Plans {
  kiss_fftr_cfg forward = nullptr;
  kiss_fftr_cfg inverse = nullptr;
  std::vector<float> scratch;
  ~Plans() {
    kiss_fftr_free(forward);
    kiss_fftr_free(inverse);
  }
};

RealFft::RealFft(int n) : n_(n), plans_(new Plans) {
  if (n < 2 || n % 2) throw Error("bad FFT size", std::to_string(n), "must be even and >= 2");
  plans_->forward = kiss_fftr_alloc(n, 0, nullptr, nullptr);
  plans_->inverse = kiss_fftr_alloc(n, 1, nullptr, nullptr);
  if (!plans_->forward || !plans_->inverse)
    throw Error("cannot plan FFT", std::to_string(n), "out of memory");
  plans_->scratch.resize(static_cast<size_t>(n));
}

RealFft::~RealFft() = default;
RealFft::RealFft(RealFft&&) noexcept = default;
RealFft& RealFft::operator=(RealFft&&) noexcept = default;

void RealFft::forward(const float* in, std::complex<float>* out) {
  kiss_fftr(plans_->forward, in, reinterpret_cast<kiss_fft_cpx*>(out));
}

void RealFft::inverse(const std::complex<float>* in, float* out) {
  kiss_fftri(plans_->inverse, reinterpret_cast<const kiss_fft_cpx*>(in), out);
  const float scale = 1.0f / static_cast<float>(n_);
  for (int i = 0; i < n_; ++i) out[i] *= scale;
}

size_t fft_size_at_least(double samples) {
  size_t p = 2;
  while (static_cast<double>(p) < samples) p *= 2;
  return p;
}

size_t fft_size_nearest(double samples) {
  const size_t hi = fft_size_at_least(samples);
  return hi > 2 && samples * samples < static_cast<double>(hi) * static_cast<double>(hi / 2)
             ? hi / 2
             : hi;
}

std::vector<float> hann_window(int n) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) w[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * i / n));
  return w;
}

double kaiser_window_at(double r, double beta) {
  // Power series of the modified Bessel function I0, summed until the terms stop counting.
  const auto bessel_i0 = [](double x) {
    double sum = 1, term = 1;
    for (int k = 1; k < 50; ++k) {
      term *= (x / (2 * k)) * (x / (2 * k));
      sum += term;
      if (term < 1e-12 * sum) break;
    }
    return sum;
  };
  return bessel_i0(beta * std::sqrt(std::max(0.0, 1 - r * r))) / bessel_i0(beta);
}

PowerSpectrumStream::PowerSpectrumStream(int fft_size, int hop)
    : stft_(std::make_unique<StftAnalysis>(1, fft_size, hop, hann_window(fft_size),
                                           StftAnalysis::Start::kAtZero)),
      power_(static_cast<size_t>(fft_size / 2 + 1)) {
  double sum_sq = 0;
  for (float w : stft_->window()) sum_sq += double(w) * w;
  // Parseval: sum over all n bins of |X|^2 = n * sum(x^2 w^2). With the one-sided spectrum, bins
  // 1..n/2-1 count twice. power_scale turns sum_k |X_k|^2 (one-sided, doubled) into mean(x^2).
  power_scale_ = fft_size * sum_sq;
}

PowerSpectrumStream::~PowerSpectrumStream() = default;
PowerSpectrumStream::PowerSpectrumStream(PowerSpectrumStream&&) noexcept = default;
PowerSpectrumStream& PowerSpectrumStream::operator=(PowerSpectrumStream&&) noexcept = default;

void PowerSpectrumStream::emit(const Callback& on_frame) {
  const std::complex<float>* x = stft_->spectrum(0);
  for (size_t k = 0; k < power_.size(); ++k) power_[k] = std::norm(x[k]);
  on_frame(power_.data());
}

void PowerSpectrumStream::push(const float* x, size_t frames, size_t stride,
                               const Callback& on_frame) {
  for (size_t i = 0; i < frames; ++i) stft_->push(x + i * stride, 1, [&] { emit(on_frame); });
}

void PowerSpectrumStream::flush(const Callback& on_frame) {
  stft_->flush([&] { emit(on_frame); });
}

}  // namespace rz::dsp
