// Applying HTDemucs to a recording of any length: demucs.apply.apply_model (split into
// overlapping segments, triangular overlap-add, random shifts, bags weighted per source) as a
// stream, so memory stays flat however long the input is.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rz/demucs/htdemucs.hpp"
#include "rz/demucs/model_store.hpp"

namespace rz::demucs {

// Python's `random` module (MT19937 seeded with init_by_array, as random.seed(int) does), so
// that --seed N draws the same shift offsets as the official code after random.seed(N).
class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);
  uint32_t getrandbits(int k);   // 1 <= k <= 32
  int64_t randbelow(int64_t n);  // random._randbelow_with_getrandbits
  int64_t randint(int64_t a, int64_t b) { return a + randbelow(b - a + 1); }

 private:
  uint32_t next();
  uint32_t mt_[624];
  int index_ = 624;
};

// One model, or a bag of models whose outputs are averaged per source with `weights`.
struct Ensemble {
  std::string name;  // "htdemucs", "tinybag", ...
  std::vector<HTDemucs> members;
  std::vector<std::string> member_names;     // checkpoint names ("955717e8")
  std::vector<std::string> member_sha256;    // hex SHA-256 of each checkpoint file
  std::vector<std::vector<double>> weights;  // [member][source]; all 1 when the bag has none
  std::vector<std::string> sources;
  int sample_rate_hz = 44100;
  int channels = 2;
  double max_segment_s = 0;  // the shortest training segment of the members
};

// Reads every checkpoint of `spec`, checks that the members agree on sources, rate and channels,
// and moves the models to `device`. Throws InputError.
Ensemble load_ensemble(const ModelSpec& spec, const torch::Device& device);

// The most segments one model call takes (--batch).
inline constexpr int kMaxBatch = 256;

struct ApplyOptions {
  int shifts = 1;                   // random time shifts averaged (0: none), as demucs' --shifts
  double overlap = 0.25;            // of the segment, in [0, 1)
  std::optional<double> segment_s;  // default: the model's training segment
  uint64_t seed = 0;                // Python random.seed() value for the shift offsets
  double transition_power = 1.0;    // exponent of the triangular weights, >= 1
  int batch = 1;                    // segments per model call (1 to kMaxBatch)

  // Throws UsageError for out-of-range values, and for a segment longer than the model's.
  // What needs no model (ranges; usage errors come before any work), then what does.
  void validate() const;
  void validate(const Ensemble& model) const;
};

// Reads `frames` frames of the model-rate, model-channel, normalised mix starting at `start`
// (which may be negative or run past the end: those frames are zero) as planar float
// [channel][frame] into `out` (channels * frames).
using ReadFn = std::function<void(int64_t start, int64_t frames, float* out)>;
// Receives the next `frames` output frames in order, planar [source][channel][frame] with
// `stride` floats between two channel rows (rows are frames long).
using SinkFn = std::function<void(const float* planar, int64_t frames, int64_t stride)>;
// Called after every model call with (segments done, segments in all).
using ApplyProgressFn = std::function<void(int64_t done, int64_t total)>;

struct ApplyPlan {
  int64_t segment_frames = 0;
  int64_t stride_frames = 0;
  int64_t forwards = 0;  // segments in all (members x shifts x chunks)
  int64_t batches = 0;   // model calls: batches of up to `batch` segments
  int batch = 1;
  std::vector<std::vector<int64_t>> offsets;  // per member, the shift offsets drawn (empty: none)
};

// Runs `model` over a mix of `length` frames: output frames are produced in order and handed to
// `sink` as soon as every segment and shift that covers them is done, scaled back by
// (out * std + mean) like demucs.api.Separator. Up to `opt.batch` consecutive segments of one
// pass go through the network in one call: each item of a batch is normalised and computed on its
// own, so the batch changes only the order of float sums inside the network's matrix products.
// Returns the plan it followed.
ApplyPlan apply_streaming(Ensemble& model, const ApplyOptions& opt, int64_t length, double mean,
                          double std, const ReadFn& read, const SinkFn& sink,
                          const ApplyProgressFn& progress = {});

}  // namespace rz::demucs
