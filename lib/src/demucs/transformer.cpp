// The cross-domain transformer of HTDemucs (demucs/transformer.py) in libtorch.
#include "rz/demucs/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "param_count.hpp"
#include "rz/nn/gemm.hpp"
#include "rz/nn/precision.hpp"

namespace rz::demucs {

using torch::indexing::None;
using torch::indexing::Slice;

namespace {

// rz::nn::MultiheadAttentionImpl's parameters: packed in-projection (3 dim x dim and 3 dim) and
// out_proj.
Count attention_params(Count dim) { return 3 * dim * dim + 3 * dim + linear_params(dim, dim); }

}  // namespace

TransformerLayerImpl::TransformerLayerImpl(const HTDemucsConfig& cfg, int64_t dim, bool cross)
    : cross_(cross), norm_first_(cfg.t_norm_first), gelu_(cfg.t_gelu) {
  attn_ = register_module(cross ? "cross_attn" : "self_attn",
                          rz::nn::MultiheadAttention(dim, cfg.t_heads));
  const int64_t hidden = ff_hidden(dim, cfg.t_hidden_scale);
  linear1_ = register_module("linear1", torch::nn::Linear(dim, hidden));
  linear2_ = register_module("linear2", torch::nn::Linear(hidden, dim));
  auto ln = [&](const char* name) {
    return register_module(name,
                           torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
  };
  norm1_ = ln("norm1");
  norm2_ = ln("norm2");
  if (cross) norm3_ = ln("norm3");
  if (cfg.t_norm_first && cfg.t_norm_out)
    norm_out_ = register_module("norm_out", torch::nn::GroupNorm(1, dim));
  if (cfg.t_layer_scale) {
    gamma1_ = register_module("gamma_1", LayerScale(dim, true));
    gamma2_ = register_module("gamma_2", LayerScale(dim, true));
  }
}

namespace {

// TransformerLayerImpl's parameters, registered as in its constructor above.
Count transformer_layer_params(const HTDemucsConfig& cfg, int64_t dim, bool cross) {
  const Count d = dim, hidden = ff_hidden(dim, cfg.t_hidden_scale);
  Count n = attention_params(d) + linear_params(d, hidden) + linear_params(hidden, d);
  n += norm_params(d) * (cross ? 3 : 2);                        // norm1, norm2 (, norm3)
  if (cfg.t_norm_first && cfg.t_norm_out) n += norm_params(d);  // norm_out
  if (cfg.t_layer_scale) n += 2 * d;                            // gamma_1, gamma_2
  return n;
}

// Whether layer i of the cross transformer attends to the other branch: classic (self-attention)
// and cross layers alternate, starting with a classic one unless t_cross_first. Depends on the
// parity of i only.
bool is_cross_layer(const HTDemucsConfig& cfg, int64_t i) {
  return i % 2 != (cfg.t_cross_first ? 1 : 0);
}

}  // namespace

torch::Tensor TransformerLayerImpl::ff(const torch::Tensor& x) {
  auto h = nn::linear(x, *linear1_);
  h = gelu_ ? torch::gelu(h) : torch::relu(h);
  return nn::linear(h, *linear2_);
}

torch::Tensor TransformerLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& other) {
  auto g1 = [&](const torch::Tensor& t) { return gamma1_ ? gamma1_->forward(t) : t; };
  auto g2 = [&](const torch::Tensor& t) { return gamma2_ ? gamma2_->forward(t) : t; };
  torch::Tensor y;
  if (norm_first_) {
    if (cross_) {
      y = x + g1(attn_->forward(norm1_->forward(nn::as_float(x)),
                                norm2_->forward(nn::as_float(other))));
      y = y + g2(ff(norm3_->forward(nn::as_float(y))));
    } else {
      auto n = norm1_->forward(nn::as_float(x));
      y = x + g1(attn_->forward(n, n));
      y = y + g2(ff(norm2_->forward(nn::as_float(y))));
    }
    if (norm_out_) y = norm_out_->forward(nn::as_float(y.transpose(1, 2))).transpose(1, 2);
  } else {
    y = norm1_->forward(nn::as_float(x + g1(attn_->forward(x, cross_ ? other : x))));
    y = norm2_->forward(nn::as_float(y + g2(ff(y))));
  }
  return y;
}

namespace {

// transformer.create_sin_embedding, as (1, T, C) (batch first).
torch::Tensor sin_embedding(int64_t length, int64_t dim, double max_period) {
  auto pos = torch::arange(length, torch::kLong).view({-1, 1, 1});
  const int64_t half = dim / 2;
  auto adim = torch::arange(half, torch::kLong).view({1, 1, -1});
  auto phase = pos / torch::pow(max_period, adim / static_cast<double>(half - 1));
  return torch::cat({torch::cos(phase), torch::sin(phase)}, -1).permute({1, 0, 2});
}

// transformer.create_2d_sin_embedding: (1, d_model, height, width).
torch::Tensor sin_embedding_2d(int64_t d_model, int64_t height, int64_t width, double max_period) {
  auto pe = torch::zeros({d_model, height, width});
  const int64_t d = d_model / 2;
  auto div_term = torch::exp(torch::arange(0.0, static_cast<double>(d), 2.0, torch::kFloat) *
                             -(std::log(max_period) / static_cast<double>(d)));
  auto pos_w = torch::arange(0.0, static_cast<double>(width), torch::kFloat).unsqueeze(1);
  auto pos_h = torch::arange(0.0, static_cast<double>(height), torch::kFloat).unsqueeze(1);
  pe.index_put_({Slice(0, d, 2)},
                torch::sin(pos_w * div_term).transpose(0, 1).unsqueeze(1).repeat({1, height, 1}));
  pe.index_put_({Slice(1, d, 2)},
                torch::cos(pos_w * div_term).transpose(0, 1).unsqueeze(1).repeat({1, height, 1}));
  pe.index_put_({Slice(d, None, 2)},
                torch::sin(pos_h * div_term).transpose(0, 1).unsqueeze(2).repeat({1, 1, width}));
  pe.index_put_({Slice(d + 1, None, 2)},
                torch::cos(pos_h * div_term).transpose(0, 1).unsqueeze(2).repeat({1, 1, width}));
  return pe.unsqueeze(0);
}

}  // namespace

CrossTransformerEncoderImpl::CrossTransformerEncoderImpl(const HTDemucsConfig& cfg, int64_t dim)
    : cfg_(cfg) {
  if (cfg.t_norm_in) {
    norm_in_ = register_module("norm_in", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    norm_in_t_ =
        register_module("norm_in_t", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  }
  auto list = register_module("layers", torch::nn::ModuleList());
  auto list_t = register_module("layers_t", torch::nn::ModuleList());
  for (int i = 0; i < cfg.t_layers; ++i) {
    const bool cross = is_cross_layer(cfg, i);
    layers_.push_back(TransformerLayer(cfg, dim, cross));
    layers_t_.push_back(TransformerLayer(cfg, dim, cross));
    list->push_back(layers_.back());
    list_t->push_back(layers_t_.back());
  }
}

// CrossTransformerEncoderImpl's parameters: the norms and t_layers layers in each branch, counted
// by kind (is_cross_layer goes by parity) rather than one by one, so the time does not grow with
// t_layers.
Count crosstransformer_params(const HTDemucsConfig& cfg, int64_t dim) {
  Count n = cfg.t_norm_in ? 2 * norm_params(dim) : 0;  // norm_in, norm_in_t
  const int64_t layers = std::max(cfg.t_layers, 0);
  const int64_t even = (layers + 1) / 2, odd = layers / 2;
  n += 2 * Count(even) * transformer_layer_params(cfg, dim, is_cross_layer(cfg, 0));
  n += 2 * Count(odd) * transformer_layer_params(cfg, dim, is_cross_layer(cfg, 1));
  return n;
}

std::pair<torch::Tensor, torch::Tensor> CrossTransformerEncoderImpl::forward(torch::Tensor x,
                                                                             torch::Tensor xt,
                                                                             const TraceFn& trace) {
  const auto B = x.size(0), C = x.size(1), Fr = x.size(2), T1 = x.size(3);
  auto pos2d = sin_embedding_2d(C, Fr, T1, cfg_.t_max_period).to(x.device());
  pos2d = pos2d.permute({0, 3, 2, 1}).reshape({1, T1 * Fr, C});  // b c fr t1 -> b (t1 fr) c
  x = x.permute({0, 3, 2, 1}).reshape({B, T1 * Fr, C});
  if (norm_in_) x = norm_in_->forward(nn::as_float(x));
  x = x + cfg_.t_weight_pos_embed * pos2d;

  const auto T2 = xt.size(2);
  xt = xt.permute({0, 2, 1});  // b c t2 -> b t2 c
  auto pos1d = sin_embedding(T2, C, cfg_.t_max_period).to(x.device());
  if (norm_in_t_) xt = norm_in_t_->forward(nn::as_float(xt));
  xt = xt + cfg_.t_weight_pos_embed * pos1d;

  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!is_cross_layer(cfg_, static_cast<int64_t>(i))) {
      x = layers_[i]->forward(x, {});
      xt = layers_t_[i]->forward(xt, {});
    } else {
      auto old_x = x;
      x = layers_[i]->forward(x, xt);
      xt = layers_t_[i]->forward(xt, old_x);
    }
    if (trace) {
      trace("crosstransformer.layers." + std::to_string(i) + ".out", x);
      trace("crosstransformer.layers_t." + std::to_string(i) + ".out", xt);
    }
  }
  x = x.reshape({B, T1, Fr, C}).permute({0, 3, 2, 1});  // b (t1 fr) c -> b c fr t1
  xt = xt.permute({0, 2, 1});
  return {x.contiguous(), xt.contiguous()};
}

}  // namespace rz::demucs
