// The cross-domain transformer of HTDemucs (demucs/transformer.py) as libtorch modules:
// MyTransformerEncoderLayer / CrossTransformerEncoderLayer and CrossTransformerEncoder.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "rz/demucs/htdemucs_config.hpp"
#include "rz/demucs/layers.hpp"
#include "rz/nn/attention.hpp"

namespace rz::demucs {

// MyTransformerEncoderLayer (self-attention) or CrossTransformerEncoderLayer (cross-attention).
class TransformerLayerImpl : public torch::nn::Module {
 public:
  TransformerLayerImpl(const HTDemucsConfig& cfg, int64_t dim, bool cross);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& other);

 private:
  torch::Tensor ff(const torch::Tensor& x);
  bool cross_, norm_first_, gelu_;
  rz::nn::MultiheadAttention attn_{nullptr};
  torch::nn::Linear linear1_{nullptr}, linear2_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
  torch::nn::GroupNorm norm_out_{nullptr};
  LayerScale gamma1_{nullptr}, gamma2_{nullptr};
};
TORCH_MODULE(TransformerLayer);

class CrossTransformerEncoderImpl : public torch::nn::Module {
 public:
  CrossTransformerEncoderImpl(const HTDemucsConfig& cfg, int64_t dim);
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor x, torch::Tensor xt,
                                                  const TraceFn& trace);

 private:
  HTDemucsConfig cfg_;
  torch::nn::LayerNorm norm_in_{nullptr}, norm_in_t_{nullptr};
  std::vector<TransformerLayer> layers_, layers_t_;
};
TORCH_MODULE(CrossTransformerEncoder);

}  // namespace rz::demucs
