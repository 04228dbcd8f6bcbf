// Multi-head attention as torch.nn.MultiheadAttention computes it, as a libtorch module whose
// parameters carry torch's names (in_proj_weight, in_proj_bias, out_proj.{weight,bias}).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace rz::nn {

// softmax(q k^T / sqrt(d)) v for q (..., L, d), k and v (..., S, d), by libtorch 2.x's fused
// scaled_dot_product_attention (flash or memory-efficient kernels, no L x S scores in memory)
// when the tensors are on a GPU; nullopt on the CPU and on libtorch 1.x, where the networks run
// their own measured loops. The same arithmetic up to float rounding and the kernels' order.
std::optional<torch::Tensor> fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v);

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
