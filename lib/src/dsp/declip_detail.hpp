// Internals shared by the clip detector and the declipper. Not installed.
#pragma once

#include <string>

#include "rz/error.hpp"

namespace rz::dsp::detail {

inline void check_common(int channels, int sample_rate_hz) {
  if (channels < 1)
    throw UsageError(describe("bad declip channels", std::to_string(channels), "use 1 or more"));
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 768000)) {
    throw UsageError(
        describe("bad declip sample rate", std::to_string(sample_rate_hz), "use 8000..768000 Hz"));
  }
}

}  // namespace rz::dsp::detail
