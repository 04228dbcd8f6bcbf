// Streaming libsamplerate conversion with rz's error and quality names.
#include "rz/audio/resample.hpp"

#include <samplerate.h>

#include "rz/error.hpp"

namespace rz::audio {

ResampleQuality parse_resample_quality(const std::string& text) {
  if (text == "best") return ResampleQuality::kBest;
  if (text == "medium") return ResampleQuality::kMedium;
  if (text == "fast") return ResampleQuality::kFast;
  throw UsageError(describe("unknown resampling quality", text, "use best, medium or fast"));
}

std::string to_string(ResampleQuality quality) {
  switch (quality) {
    case ResampleQuality::kBest:
      return "best";
    case ResampleQuality::kMedium:
      return "medium";
    case ResampleQuality::kFast:
      return "fast";
  }
  return "?";
}

struct Resampler::State {
  SRC_STATE* src = nullptr;
  ~State() {
    if (src) src_delete(src);
  }
};

Resampler::Resampler(int channels, int from_rate_hz, int to_rate_hz, ResampleQuality quality)
    : channels_(channels),
      ratio_(static_cast<double>(to_rate_hz) / from_rate_hz),
      state_(new State) {
  if (ratio_ == 1.0) return;
  int type = quality == ResampleQuality::kBest     ? SRC_SINC_BEST_QUALITY
             : quality == ResampleQuality::kMedium ? SRC_SINC_MEDIUM_QUALITY
                                                   : SRC_SINC_FASTEST;
  int err = 0;
  state_->src = src_new(type, channels, &err);
  if (!state_->src)
    throw Error("cannot resample", std::to_string(from_rate_hz) + " Hz", src_strerror(err));
}

Resampler::~Resampler() = default;
Resampler::Resampler(Resampler&&) noexcept = default;
Resampler& Resampler::operator=(Resampler&&) noexcept = default;

void Resampler::process(const float* in, size_t frames, bool end_of_input,
                        std::vector<float>& out) {
  const size_t ch = static_cast<size_t>(channels_);
  if (!state_->src) {
    out.insert(out.end(), in, in + frames * ch);
    return;
  }
  SRC_DATA data{};
  data.src_ratio = ratio_;
  data.end_of_input = end_of_input ? 1 : 0;
  // libsamplerate skips its end-of-input padding when data_in is null: never pass null.
  static const float kNoInput[1] = {0.0f};
  const float* cursor = in ? in : kNoInput;
  long remaining = static_cast<long>(frames);
  // Output room for this call; loop until every input frame is consumed (and, at the end, until the
  // filter is drained).
  const long chunk = static_cast<long>(frames * ratio_) + 1024;
  for (;;) {
    size_t base = out.size();
    out.resize(base + static_cast<size_t>(chunk) * ch);
    data.data_in = cursor;
    data.input_frames = remaining;
    data.data_out = out.data() + base;
    data.output_frames = chunk;
    int err = src_process(state_->src, &data);
    if (err) throw Error("cannot resample", "libsamplerate", src_strerror(err));
    out.resize(base + static_cast<size_t>(data.output_frames_gen) * ch);
    cursor += data.input_frames_used * static_cast<long>(ch);
    remaining -= data.input_frames_used;
    if (remaining > 0) continue;
    if (!end_of_input || data.output_frames_gen == 0) break;
  }
}

}  // namespace rz::audio
