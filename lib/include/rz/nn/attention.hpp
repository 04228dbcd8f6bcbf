// Multi-head attention as torch.nn.MultiheadAttention computes it, as a libtorch module whose
// parameters carry torch's names (in_proj_weight, in_proj_bias, out_proj.{weight,bias}).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace rz::nn {

// nn.MultiheadAttention (batch_first, no masks) with its packed in-projection.
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& kv);
  torch::Tensor in_proj_weight, in_proj_bias;

 private:
  int64_t dim_, heads_;
  torch::nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(MultiheadAttention);

}  // namespace rz::nn
