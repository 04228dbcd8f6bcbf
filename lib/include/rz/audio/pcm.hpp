// Integer PCM conventions shared by the file writer and the dither: full scale is 2^(bits-1), so a
// code c decodes to c / 2^(bits-1) (libsndfile's reading) and round trips are exact.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rz::audio {

inline double pcm_scale(int bits) { return std::ldexp(1.0, bits - 1); }

// `scaled` (a sample times pcm_scale(bits)) rounded to the nearest code and clamped to the range,
// returned left-justified in int32 as libsndfile's int API takes it (a 16-bit code c as c << 16).
inline int32_t pcm_left_justified(double scaled, int bits) {
  const double full = pcm_scale(bits);
  const double code = std::clamp(std::nearbyint(scaled), -full, full - 1);
  return static_cast<int32_t>(static_cast<int64_t>(code) * (int64_t{1} << (32 - bits)));
}

}  // namespace rz::audio
