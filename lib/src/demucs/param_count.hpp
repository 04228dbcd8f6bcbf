// Parameter counting for HTDemucsConfig::parameter_count(), private to lib/src/demucs: the
// helpers every module's count uses, and the counts that one file makes for another (each
// module's count sits next to its constructor).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "rz/demucs/htdemucs_config.hpp"
#include "rz/demucs/layers.hpp"

namespace rz::demucs {

// Counts are long double: its mantissa (64 bits on x86, 113 on aarch64) holds every integer below
// 2^64 exactly and its range holds any product of a few saturated widths (< 2^63 each), so a
// count never overflows and every count below 2^63 is exact. Each module's count sits next to
// its constructor; the modules of torch::nn it uses are counted here.
using Count = long double;

// `v` truncated towards zero like a cast, saturated at the int64_t range (NaN: 0).
inline int64_t saturate(Count v) {
  const Count limit = std::ldexp(Count{1}, 63);
  if (std::isnan(v)) return 0;
  if (v >= limit) return std::numeric_limits<int64_t>::max();
  if (v <= -limit) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// a * b, saturated (exact below 2^63: both fit in the mantissa and so does the product).
inline int64_t saturating_mul(int64_t a, int64_t b) { return saturate(Count(a) * Count(b)); }

// Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d with bias and `taps` kernel elements.
inline Count conv_params(Count cin, Count cout, Count taps) { return cin * cout * taps + cout; }
// Linear with bias.
inline Count linear_params(Count in, Count out) { return in * out + out; }
// GroupNorm or LayerNorm over `channels`: affine weight and bias.
inline Count norm_params(Count channels) { return 2 * channels; }

// Hidden widths that Python computes as int(float): DConv's int(channels / compress) and the
// transformer's int(dim * t_hidden_scale). Shared by the constructors and the counts; the
// saturation only matters for values that the parameter budget refuses.
inline int64_t dconv_hidden(int64_t channels, double compress) {
  return saturate(static_cast<double>(channels) / compress);
}
inline int64_t ff_hidden(int64_t dim, double scale) {
  return saturate(static_cast<double>(dim) * scale);
}

// HEncLayerImpl's and HDecLayerImpl's parameters (layers.cpp).
Count henc_params(const LayerSpec& s);
Count hdec_params(const LayerSpec& s);
// CrossTransformerEncoderImpl's parameters (transformer.cpp).
Count crosstransformer_params(const HTDemucsConfig& cfg, int64_t dim);

}  // namespace rz::demucs
