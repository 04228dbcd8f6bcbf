// Multi-head attention (torch.nn.MultiheadAttention, batch first, no masks) in libtorch.
#include "rz/nn/attention.hpp"

#include <torch/version.h>

#include <algorithm>
#include <cmath>

#include "rz/nn/gemm.hpp"
#include "rz/nn/precision.hpp"

namespace rz::nn {

namespace {
// Size of one block of attention scores of one head (queries x keys, fp32): bounds the memory
// of the largest attention (2688 x 2688 per head for htdemucs) while keeping each matrix product
// large enough to run at the BLAS rate (measured: 256 to 2688 query rows all within 2 %).
constexpr int64_t kAttentionBlockBytes = 8 << 20;
}  // namespace

std::optional<torch::Tensor> fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  // The CPU keeps the loops measured on it (rz/nn/gemm.hpp's products): libtorch 2's CPU kernel
  // has not been measured against them on the 2-core machine, which runs libtorch 1.13.
  if (!q.device().is_cpu())
    return at::scaled_dot_product_attention(q, k, v);  // scale 1 / sqrt(d): the default
#else
  (void)q, (void)k, (void)v;
#endif
  return std::nullopt;
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim, int64_t heads)
    : dim_(dim), heads_(heads) {
  // Parameters as torch's (requiring grad): autocast_weight caches its cast of such tensors only.
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * dim}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& q_in,
                                              const torch::Tensor& kv_in) {
  // q_in: (B, T, C); kv_in: (B, S, C). Same arithmetic as torch's multi_head_attention_forward:
  // projections, q scaled by 1/sqrt(head_dim), softmax(q k^T) v, output projection.
  const auto B = q_in.size(0), T = q_in.size(1), S = kv_in.size(1);
  const auto dh = dim_ / heads_;
  auto w = autocast_weight(in_proj_weight).chunk(3, 0);  // one cast per PrecisionScope
  auto b = in_proj_bias.chunk(3, 0);
  auto q = nn::linear(q_in, w[0], b[0]);
  auto k = nn::linear(kv_in, w[1], b[1]);
  auto v = nn::linear(kv_in, w[2], b[2]);
  auto heads = [&](const torch::Tensor& t, int64_t L) {  // (B, L, C) -> (B, heads, L, dh)
    return t.view({B, L, heads_, dh}).transpose(1, 2);
  };
  if (auto o = fused_attention(heads(q, T), heads(k, S), heads(v, S)))
    return nn::linear(o->transpose(1, 2).reshape({B, T, dim_}), *out_proj_);
  q.div_(std::sqrt(static_cast<double>(dh)));
  // One head at a time as plain matrix products (nn::linear, rz/nn/gemm.hpp): libtorch 1.13's
  // CPU bmm splits batches over threads and runs each product single-threaded, about 5x slower
  // here. Queries go in blocks so that a block's scores (block x S) stay small; each row is
  // computed whole, so the arithmetic is unchanged.
  const int64_t block =
      std::max<int64_t>(64, kAttentionBlockBytes / (static_cast<int64_t>(sizeof(float)) * S));
  auto out = torch::empty({B, T, dim_}, q.options());
  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t h = 0; h < heads_; ++h) {
      auto qh = q[bi].narrow(1, h * dh, dh);                     // (T, dh), row stride C
      auto kh = k[bi].narrow(1, h * dh, dh).contiguous();        // (S, dh)
      auto vh_t = v[bi].narrow(1, h * dh, dh).t().contiguous();  // (dh, S)
      auto oh = out[bi].narrow(1, h * dh, dh);
      for (int64_t start = 0; start < T; start += block) {
        const int64_t n = std::min(block, T - start);
        auto scores = nn::linear(qh.narrow(0, start, n), kh);  // (n, S) = q k^T
        torch::Tensor attn = torch::softmax(scores, -1);
        oh.narrow(0, start, n).copy_(nn::linear(attn, vh_t));  // (n, dh) = attn v
      }
    }
  }
  return nn::linear(out, *out_proj_);
}

}  // namespace rz::nn
