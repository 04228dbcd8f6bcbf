// The streaming interface every enhancement block implements: interleaved float frames in, the
// same number out, a fixed latency.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

namespace rz::dsp {

class Processor {
 public:
  virtual ~Processor() = default;
  // Processes `frames` interleaved frames of channels() channels. `in` and `out` may be the same
  // buffer. Output frame i is the response to input frame i - latency_frames() (the first
  // latency_frames() outputs answer the silence before the start).
  virtual void process(const float* in, float* out, size_t frames) = 0;
  // Constant delay of the output behind the input, in frames (0 for the IIR blocks).
  virtual size_t latency_frames() const { return 0; }
  virtual int channels() const = 0;
  // What the block did over everything it processed so far, for the manifest: a JSON object of
  // named measurements (levels in dB, null for none), or null for a block that reports nothing.
  virtual nlohmann::json statistics() const { return nullptr; }
};

}  // namespace rz::dsp
