// FFT convolution (overlap-add) and cross-correlation delay over the KissFFT real transform.
#include "rz/dsp/convolve.hpp"

#include <algorithm>
#include <complex>
#include <cstdlib>

#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

// fft_size_at_least(n), refused past 2^30.
size_t pow2_at_least(size_t n) {
  const size_t p = fft_size_at_least(static_cast<double>(n));
  if (p > (size_t{1} << 30))
    throw Error("cannot convolve", std::to_string(n) + " frames", "too long");
  return p;
}

}  // namespace

std::vector<float> fft_convolve(const std::vector<float>& x, const std::vector<float>& h) {
  if (x.empty() || h.empty()) return {};
  const size_t m = h.size();
  // An FFT of at least twice the filter length leaves blocks of at least m + 1 frames whose output
  // (block + m - 1 frames) fits without wrapping; 8192 keeps the per-block overhead small for
  // short filters.
  const size_t n = pow2_at_least(std::max<size_t>(2 * m, 8192));
  const size_t block = n - m + 1;
  const size_t bins = n / 2 + 1;
  RealFft fft(static_cast<int>(n));
  std::vector<float> buf(n, 0.0f);
  std::vector<std::complex<float>> hf(bins), xf(bins);
  std::copy(h.begin(), h.end(), buf.begin());
  fft.forward(buf.data(), hf.data());
  std::vector<float> y(x.size() + m - 1, 0.0f);
  for (size_t start = 0; start < x.size(); start += block) {
    const size_t len = std::min(block, x.size() - start);
    std::fill(buf.begin(), buf.end(), 0.0f);
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(start), len, buf.begin());
    fft.forward(buf.data(), xf.data());
    for (size_t k = 0; k < bins; ++k) xf[k] *= hf[k];
    fft.inverse(xf.data(), buf.data());
    const size_t out_len = std::min(len + m - 1, y.size() - start);
    for (size_t i = 0; i < out_len; ++i) y[start + i] += buf[i];
  }
  return y;
}

int64_t find_delay(const std::vector<float>& x, const std::vector<float>& y, int64_t max_lag) {
  if (x.empty() || y.empty() || max_lag < 0) return 0;
  // Circular cross-correlation r = IFFT(conj(X) Y) of zero-padded signals: with n >= x + y +
  // max_lag no lag in [-max_lag, max_lag] wraps onto another, so r[d mod n] is the linear r(d).
  const size_t n = pow2_at_least(x.size() + y.size() + static_cast<size_t>(max_lag));
  const size_t bins = n / 2 + 1;
  RealFft fft(static_cast<int>(n));
  std::vector<float> buf(n, 0.0f);
  std::vector<std::complex<float>> xf(bins), yf(bins);
  std::copy(x.begin(), x.end(), buf.begin());
  fft.forward(buf.data(), xf.data());
  std::fill(buf.begin(), buf.end(), 0.0f);
  std::copy(y.begin(), y.end(), buf.begin());
  fft.forward(buf.data(), yf.data());
  for (size_t k = 0; k < bins; ++k) yf[k] *= std::conj(xf[k]);
  fft.inverse(yf.data(), buf.data());
  int64_t best = 0;
  float best_r = buf[0];
  const int64_t nn = static_cast<int64_t>(n);
  for (int64_t a = 1; a <= max_lag; ++a) {
    for (int64_t d : {a, -a}) {
      const float r = buf[static_cast<size_t>((d + nn) % nn)];
      if (r > best_r) {
        best_r = r;
        best = d;
      }
    }
  }
  return best_r > 0 ? best : 0;
}

}  // namespace rz::dsp
