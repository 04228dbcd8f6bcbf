// Linear convolution and cross-correlation delay by FFT, on whole mono signals in memory.
//
// Units: lengths and lags in frames; samples float32. Both functions hold their inputs, one
// padded copy and its spectrum in memory: meant for offline work (simulation, alignment) on
// signals of minutes, not for streaming.
#pragma once

#include <cstdint>
#include <vector>

namespace rz::dsp {

// y = x * h, the full linear convolution: y[n] = sum_k h[k] x[n - k], y.size() = x.size() +
// h.size() - 1 (empty when either is empty). Overlap-add with FFT blocks of at least 2 h.size()
// (a power of two), so the cost is O((x + h) log h). Float32 FFTs: each output carries a rounding
// error of about 1e-6 of sqrt(sum x^2 * sum h^2) (see tests/unit/test_convolve.cpp).
std::vector<float> fft_convolve(const std::vector<float>& x, const std::vector<float>& h);

// The lag d in [-max_lag, max_lag] that maximises the cross-correlation r(d) = sum_i x[i] y[i + d]
// (y lags x by d frames when d > 0), found by FFTs of size >= x + y + max_lag. Ties go to the
// smallest |d|; 0 when no lag correlates positively (either signal silent or empty).
int64_t find_delay(const std::vector<float>& x, const std::vector<float>& y, int64_t max_lag);

}  // namespace rz::dsp
