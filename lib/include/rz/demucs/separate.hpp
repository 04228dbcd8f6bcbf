// rz-separate's library side: split one stem of a stem directory into sources with HTDemucs,
// streaming, cached, recorded in the manifest.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/demucs/apply.hpp"
#include "rz/demucs/tensor_memory.hpp"
#include "rz/nn/precision.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::demucs {

struct SeparateOptions {
  std::string model = "htdemucs";   // official name, local name or path (.th / .yaml)
  std::filesystem::path model_dir;  // empty: default_model_dir()
  ApplyOptions apply;               // shifts, overlap, segment, seed
  std::string two_stems;            // "vocals": write vocals and no_vocals
  std::string input_stem;           // empty: "mix", or the only stem of the directory
  std::string device = "auto";      // auto (CUDA, then MPS, then CPU), cpu, cuda, mps
  int threads = 0;                  // intra-op threads on CPU; 0: every core
  // Segments (RoFormer: chunks) per model call; 0: the default, default_batch() for HTDemucs and
  // the config's inference.batch_size for a RoFormer.
  int batch = 0;
  nn::Precision precision = nn::Precision::kFp32;  // --precision
  bool use_cache = true;
  std::filesystem::path cache_dir;  // empty: default_cache_dir()
  // RoFormer (MSST) models only:
  std::filesystem::path model_config;  // its YAML; empty: the .yaml beside the .ckpt
  std::string model_type;              // bs_roformer / mel_band_roformer; empty: recorded or told
  bool overlap_given = false;          // --overlap was given: it sets num_overlap = 1 / (1 - o)
  bool shifts_given = false;           // --shifts was given (RoFormers take none)

  // Throws UsageError for a bad device name or thread count.
  void validate() const;
};

// The device `name` asks for. "auto" takes CUDA, then MPS, then the CPU, and adds a warning
// when it falls back to the CPU; an explicit device that is absent is a UsageError.
torch::Device resolve_device(const std::string& name, std::vector<std::string>* warnings);

// HTDemucs' segments per model call when --batch is not given: on the CPU 1 (a batch gains
// nothing there: one 7.8 s segment already keeps the matrix products large, bench/separate.sh
// --batch measures it); on CUDA as many as half the device's free memory holds at
// kCudaBytesPerSegment each, 1 to kMaxDefaultBatch; elsewhere 1.
int default_batch(const torch::Device& device);

// GPU memory one 7.8 s segment of an htdemucs forward needs, with room for the caching
// allocator's rounding: the official code peaks at 0.56 GB allocated at batch 1 (issue 15, H200).
inline constexpr double kCudaBytesPerSegment = 1.0e9;
inline constexpr int kMaxDefaultBatch = 16;

// "libtorch 1.13.1; devices: cpu" (with cuda/mps when this build and machine have them).
std::string torch_description();

// notes: worth telling at default verbosity (cache use).
struct SeparateReport : stage::StageReport {
  std::vector<std::string> stems;
  bool cache_hit = false;
  std::string device;
  int threads = 0;
  double audio_s = 0;
  double separate_s = 0;            // wall time of model loading + inference (0 on a cache hit)
  double load_s = 0;                // of which model building and weight loading
  TensorMemoryStats tensor_memory;  // the tensor arena's counters after the separation
};

// The stem names whose content is unwanted (their manifest role is stems::kRoleRemoved): crowd,
// noise, reverb; and the residual ("instrumental") of a model whose target is the clean part
// (dry, noreverb).
bool is_removed_stem(const std::string& name, const std::string& target_instrument);

// Separates `in` into a new stem directory at `output` (refused if it exists unless `force`).
// Output stems are float32 WAV at the model's rate and channel count, as long as the input,
// never clipped. `options.model` is an HTDemucs model or bag, or a RoFormer (MSST .ckpt + YAML:
// rz/roformer, run as MSST's inference.py runs it). Stems of the input whose role is removed are
// carried into the output unchanged (a clash with a separated stem's name is an InputError). Throws
// InputError (bad input, missing weights: the message says how to get them), UsageError (bad
// options), IoError.
SeparateReport separate(const stems::StemDir& in, const std::filesystem::path& output, bool force,
                        const SeparateOptions& options, const nlohmann::json& provenance,
                        const Progress& progress);

}  // namespace rz::demucs
