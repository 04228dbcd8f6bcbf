// Streaming sample-rate conversion over libsamplerate.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rz::audio {

// libsamplerate's sinc converters. kMedium (121 dB SNR, 90 % bandwidth: flat to 19.8 kHz at
// 44.1 kHz) is the default: phone recordings hold nothing above that and it runs 5x faster than
// kBest (144 dB SNR, 96 % bandwidth).
enum class ResampleQuality { kBest, kMedium, kFast };
ResampleQuality parse_resample_quality(const std::string& text);
std::string to_string(ResampleQuality quality);

class Resampler {
 public:
  Resampler(int channels, int from_rate_hz, int to_rate_hz, ResampleQuality quality);
  ~Resampler();
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;

  // Converts `frames` interleaved input frames; appends output frames to `out`. Call once more with
  // end_of_input = true (frames may be 0) to drain the filter.
  void process(const float* in, size_t frames, bool end_of_input, std::vector<float>& out);
  double ratio() const { return ratio_; }
  bool identity() const { return ratio_ == 1.0; }

 private:
  int channels_;
  double ratio_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rz::audio
