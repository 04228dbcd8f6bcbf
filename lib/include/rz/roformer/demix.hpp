// Applying a RoFormer to a recording of any length: MSST's `demix` ("generic" mode:
// overlapping chunks, reflect padding, linear fades chosen per batch, overlap-add divided by the
// summed window) as a stream, so memory stays flat however long the input is.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "rz/roformer/model.hpp"

namespace rz::roformer {

// The chunking demix follows for `frames` input frames (utils/model_utils.py).
struct DemixPlan {
  int64_t chunk = 0;          // frames per model call
  int64_t step = 0;           // chunk / num_overlap
  int64_t border = 0;         // chunk - step: reflect padding at both ends when `padded`
  int64_t fade = 0;           // chunk / 10: linear fades at the seams
  int64_t batch = 1;          // chunks per model call
  bool padded = false;        // frames > 2 * border and border > 0
  int64_t padded_frames = 0;  // frames + 2 * border when padded, else frames
  int64_t chunks = 0;         // model inputs in all
  int64_t batches = 0;        // model calls in all
};

// Throws UsageError when the settings cannot run (chunk < 1, num_overlap outside 1..chunk,
// batch < 1, and for a Mel-Band model a chunk that is not a multiple of the hop).
DemixPlan plan_demix(const Config& config, int64_t frames);

// Reads `frames` frames of the model-rate, model-channel mix (already normalised when the
// config asks) starting at `start` (0 <= start, start + frames <= the input's frames) as planar
// float [channel][frame] into `out` (channels * frames).
using DemixReadFn = std::function<void(int64_t start, int64_t frames, float* out)>;
// Receives the next `frames` output frames in order, planar [stem][channel][frame] with `stride`
// floats between two channel rows: the model's stems (num_stems of them), before any
// denormalisation.
using DemixSinkFn = std::function<void(const float* planar, int64_t frames, int64_t stride)>;
// Called after every model call with (calls done, calls in all).
using DemixProgressFn = std::function<void(int64_t done, int64_t total)>;

// Runs `model` over an input of `frames` frames, as demix does: every output frame equals
// the official estimate (result / counter, NaN -> 0), handed to `sink` in order as soon as no
// later chunk covers it. Model calls run in `model`'s device; the accumulation runs in fp32 on
// the CPU in chunk order, as the official code's. Returns the plan it followed.
DemixPlan demix_streaming(Roformer& model, int64_t frames, const DemixReadFn& read,
                          const DemixSinkFn& sink, const DemixProgressFn& progress = {});

// The stems inference writes, in order: the model's stems (Config::model_stems()), then
// "instrumental" (the input minus the target) when the config names a target instrument.
std::vector<std::string> output_stems(const Config& config);

// inference.normalize: the mean and population standard deviation of the channel mean of the
// whole input (utils/audio_utils.normalize_audio), accumulated in double, rounded to float.
class InputStats {
 public:
  void add(const float* planar, int64_t frames, int channels);  // planar [channel][frame]
  float mean() const;
  float std() const;

 private:
  double sum_ = 0, sum2_ = 0;
  int64_t n_ = 0;
};

// inference.py around demix for one recording: normalisation ((x - mean) / std, when `norm`
// is given), demix, denormalisation (est * std + mean), and the residual stem of a
// target-instrument model (input minus the denormalised target; inference.py subtracts before
// denormalising, which gives the same stem only without normalisation: see the README). `read`
// gives the input as it is (not normalised); `sink` receives output_stems(config) planar.
DemixPlan infer_streaming(Roformer& model, int64_t frames, const InputStats* norm,
                          const DemixReadFn& read, const DemixSinkFn& sink,
                          const DemixProgressFn& progress = {});

}  // namespace rz::roformer
