// BS-RoFormer and Mel-Band RoFormer (MSST's models/bs_roformer, after lucidrains' BS-RoFormer) as
// libtorch modules whose parameters carry the official names, so that a checkpoint loads by name.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rz/formats/torch_state.hpp"
#include "rz/roformer/config.hpp"

namespace rz::roformer {

// Called with a name and a tensor at the points the parity fixtures record ("stft.out",
// "band_split.in", "band_split.out", "layers.0.time_transformer.out", ..., "istft.in",
// "model.out"; see ../shared/roformer/README.md). Empty: nothing is recorded.
using TapFn = std::function<void(const std::string& name, const torch::Tensor& value)>;

// RMSNorm: x / max(||x||, 1e-12) * sqrt(dim) * gamma over the last axis.
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor gamma;

 private:
  double scale_;
};
TORCH_MODULE(RMSNorm);

// The rotary embedding of one transformer (rotary-embedding-torch, interleaved pairs); its
// inverse frequencies come from the checkpoint (`freqs`).
class RotaryImpl : public torch::nn::Module {
 public:
  explicit RotaryImpl(int64_t dim_head);
  // x (..., n, dim_head) rotated by position 0 .. n - 1 along its second-to-last axis.
  torch::Tensor rotate(const torch::Tensor& x);
  torch::Tensor freqs;
};
TORCH_MODULE(Rotary);

// Attention with rotary q/k and a sigmoid gate per head and token.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t heads, int64_t dim_head);
  torch::Tensor forward(const torch::Tensor& x, const TapFn& tap, const std::string& prefix);

 private:
  int64_t heads_, dim_head_;
  RMSNorm norm_{nullptr};
  torch::nn::Linear to_qkv_{nullptr}, to_gates_{nullptr};
  torch::nn::Sequential to_out_{nullptr};
  Rotary rotary_embed_{nullptr};
};
TORCH_MODULE(Attention);

// A stack of (Attention, FeedForward) layers with residuals, closed by an RMSNorm (Mel-Band) or
// not (BS: one final norm after all blocks instead).
class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(int64_t dim, int64_t depth, int64_t heads, int64_t dim_head, bool norm_output);
  torch::Tensor forward(torch::Tensor x, const TapFn& tap, const std::string& prefix);

 private:
  std::vector<Attention> attn_;
  std::vector<torch::nn::Sequential> ff_;
  RMSNorm norm_{nullptr};
};
TORCH_MODULE(Transformer);

class MaskMlpImpl;  // one band of a mask estimator (model.cpp)

// The whole network: STFT, band split, axial transformers, mask estimators, masking, iSTFT.
class RoformerImpl : public torch::nn::Module {
 public:
  explicit RoformerImpl(const Config& config);
  // audio (batch, channels, frames) -> (batch, stems, channels, frames') with frames' = frames
  // for BS-RoFormer and (1 + frames / hop - 1) * hop for Mel-Band (as the official code, which
  // passes no length to its iSTFT). The stem axis is kept for one stem.
  torch::Tensor forward(const torch::Tensor& audio, const TapFn& tap = {});

  const Config& config() const { return config_; }

 private:
  torch::Tensor band_split(const torch::Tensor& x);
  torch::Tensor estimate_mask(size_t stem, const torch::Tensor& x);

  Config config_;
  std::vector<int64_t> widths_;
  torch::Tensor rows_;           // Mel: freq_indices (int64)
  torch::Tensor bands_per_row_;  // Mel: num_bands_per_freq per stereo row, float
  std::vector<Transformer> time_, freq_;
  RMSNorm final_norm_{nullptr};
  std::vector<torch::nn::Sequential> split_;                      // per band: RMSNorm, Linear
  std::vector<std::vector<std::shared_ptr<MaskMlpImpl>>> masks_;  // per stem, per band
};
TORCH_MODULE(Roformer);

// Builds the network of `config` and loads `state` into it strictly (a missing, unexpected or
// mis-shaped tensor is an InputError naming it, `subject` being the checkpoint), on `device`,
// in eval mode.
Roformer load_roformer(const Config& config, const formats::StateDict& state,
                       const std::string& subject, const torch::Device& device);

}  // namespace rz::roformer
