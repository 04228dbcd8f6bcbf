// LayerScale, DConv (demucs/demucs.py), HEncLayer and HDecLayer (demucs/hdemucs.py) in libtorch.
#include "rz/demucs/layers.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "param_count.hpp"
#include "rz/nn/gemm.hpp"
#include "rz/nn/precision.hpp"

namespace rz::demucs {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

namespace {
// Size of one block of a DConv layer's widest intermediate (2C channels x rows x time).
constexpr int64_t kDConvBlockBytes = 2 << 20;
}  // namespace

LayerScaleImpl::LayerScaleImpl(int64_t channels, bool channel_last) : channel_last_(channel_last) {
  scale = register_parameter("scale", torch::zeros({channels}), false);
}

torch::Tensor LayerScaleImpl::forward(const torch::Tensor& x) {
  return channel_last_ ? scale * x : scale.unsqueeze(1) * x;
}

DConvImpl::DConvImpl(int64_t channels, double compress, int depth) {
  auto list = register_module("layers", torch::nn::ModuleList());
  const int64_t hidden = dconv_hidden(channels, compress);
  const bool dilate = depth > 0;
  for (int64_t d = 0; d < std::abs(int64_t{depth}); ++d) {
    const int64_t dilation = dilate ? (int64_t{1} << d) : 1;
    torch::nn::Sequential seq(
        torch::nn::Conv1d(
            torch::nn::Conv1dOptions(channels, hidden, 3).dilation(dilation).padding(dilation)),
        torch::nn::GroupNorm(1, hidden), torch::nn::GELU(),
        torch::nn::Conv1d(torch::nn::Conv1dOptions(hidden, 2 * channels, 1)),
        torch::nn::GroupNorm(1, 2 * channels), torch::nn::GLU(torch::nn::GLUOptions(1)),
        LayerScale(channels, false));
    list->push_back(seq);
    layers_.push_back(seq);
  }
}

namespace {

// DConvImpl's parameters: per layer Conv1d(C, h, 3), GroupNorm(h), Conv1d(h, 2C, 1),
// GroupNorm(2C) and LayerScale(C), for |depth| layers.
Count dconv_params(int64_t channels, double compress, int depth) {
  const Count c = channels, h = dconv_hidden(channels, compress);
  const Count per_layer =
      conv_params(c, h, 3) + norm_params(h) + conv_params(h, 2 * c, 1) + norm_params(2 * c) + c;
  return per_layer * std::abs(Count(depth));
}

}  // namespace

torch::Tensor DConvImpl::forward(torch::Tensor x) {
  // The Sequential's modules one by one, so that the norms take float input (nn::as_float).
  for (auto& layer : layers_) {
    auto y = layer->ptr(0)->as<torch::nn::Conv1dImpl>()->forward(x);
    y = torch::gelu(layer->ptr(1)->as<torch::nn::GroupNormImpl>()->forward(nn::as_float(y)));
    y = layer->ptr(3)->as<torch::nn::Conv1dImpl>()->forward(y);
    y = torch::glu(layer->ptr(4)->as<torch::nn::GroupNormImpl>()->forward(nn::as_float(y)), 1);
    x = x + layer->ptr(6)->as<LayerScaleImpl>()->forward(y);
  }
  return x;
}

namespace {

// GroupNorm(1, C) applied to every frequency row of (B, C, Fr, T) on its own, as the official
// code does after folding the rows into the batch: statistics over (C, T) per (b, row).
torch::Tensor row_group_norm(const torch::Tensor& x_in, const torch::nn::GroupNormImpl& gn) {
  const torch::Tensor x = nn::as_float(x_in);
  auto [var, mean] = torch::var_mean(x, {1, 3}, /*unbiased=*/false, /*keepdim=*/true);
  auto rstd = torch::rsqrt(var + gn.options.eps());
  auto y = (x - mean).mul_(rstd);
  return y.mul_(gn.weight.view({1, -1, 1, 1})).add_(gn.bias.view({1, -1, 1, 1}));
}

}  // namespace

torch::Tensor DConvImpl::forward_rows(torch::Tensor x) {
  // The same layers as forward() on (B*Fr, C, T), computed in place on (B, C, Fr, T) with no
  // transposed copies (oneDNN runs the folded 1-D form over hundreds of tiny batches at a few
  // GFLOP/s). Each layer is  x + scale * GLU(GN2(W2 * GELU(GN1(conv3(x)))))  per frequency row.
  // The wide GroupNorm GN2 (2C channels) is not run over its 2C-channel input: its per-row mean
  // and variance follow exactly from the first and second moments of the narrow C/8-channel
  // input of the 1x1 convolution W2 (computed in double), and its affine map, the row's
  // normalisation and LayerScale fold into W2 itself. That saves five passes over the largest
  // tensors of the model; the result is the same up to float rounding.
  bool owned = false;  // x is the caller's until the first in-place update
  for (auto& layer : layers_) {
    auto* c1 = layer->ptr(0)->as<torch::nn::Conv1dImpl>();
    auto* n1 = layer->ptr(1)->as<torch::nn::GroupNormImpl>();
    auto* c2 = layer->ptr(3)->as<torch::nn::Conv1dImpl>();
    auto* n2 = layer->ptr(4)->as<torch::nn::GroupNormImpl>();
    auto* ls = layer->ptr(6)->as<LayerScaleImpl>();
    const int64_t d = c1->options.dilation()->at(0);
    const std::vector<int64_t> stride{1, 1}, padding{0, d}, dilation{1, d};
    auto g = torch::conv2d(x, nn::autocast_weight(c1->weight).unsqueeze(2), c1->bias, stride,
                           padding, dilation);
    g = torch::gelu(row_group_norm(g, *n1));  // (B, h, Fr, T), h = C / compress: small

    const int64_t B = g.size(0), h = g.size(1), Fr = g.size(2), T = g.size(3);
    const int64_t C2 = c2->weight.size(0), C = C2 / 2;
    auto gd = g.to(torch::kDouble);
    auto mu = gd.mean(3).permute({0, 2, 1});                                        // (B, Fr, h)
    auto W = c2->weight.squeeze(-1).to(torch::kDouble);                             // (2C, h)
    auto bb = c2->bias.to(torch::kDouble);                                          // (2C)
    auto mean = torch::matmul(mu, W.sum(0)) / static_cast<double>(C2) + bb.mean();  // (B, Fr)
    auto WtW = torch::matmul(W.t(), W);                                             // (h, h)
    // The mean over t of |W g_t|^2 = g_t' W'W g_t, per row: one (h, h) x (h, Fr T) product per
    // batch item. (As the (h, h) second-moment matrices of the B Fr rows it took a batched
    // product that libtorch 1.13 runs one tiny matrix at a time: 6 % of a forward.)
    std::vector<torch::Tensor> quad;
    for (int64_t bi = 0; bi < B; ++bi) {
      auto gb = gd[bi].reshape({h, Fr * T});
      quad.push_back((torch::mm(WtW, gb) * gb).sum(0).view({Fr, T}).mean(1));  // (Fr)
    }
    auto ex2 =
        (torch::stack(quad) + 2.0 * torch::matmul(mu, torch::matmul(W.t(), bb)) + (bb * bb).sum()) /
        static_cast<double>(C2);
    auto var = (ex2 - mean * mean).clamp_min(0.0);
    auto rstd = torch::rsqrt(var + n2->options.eps());  // (B, Fr)

    // Folded 1x1 convolution: out_o = s_o * gamma_o * (rstd * (W_o g + b_o - mean)) + s_o * beta_o
    // with s = LayerScale on the first (value) half of the GLU and 1 on the gate half.
    auto s = torch::cat({ls->scale, torch::ones({C}, ls->scale.options())}).to(torch::kDouble);
    auto gamma = n2->weight.to(torch::kDouble) * s;
    auto beta = n2->bias.to(torch::kDouble) * s;
    auto wf = torch::cat({W * gamma.unsqueeze(1), (gamma * bb).unsqueeze(1), gamma.unsqueeze(1)}, 1)
                  .to(torch::kFloat)
                  .view({C2, h + 2, 1, 1});
    auto rs = rstd.to(torch::kFloat).view({B, 1, Fr, 1});
    auto shift = (-rstd * mean).to(torch::kFloat).view({B, 1, Fr, 1});
    auto gin = torch::cat({g * rs, rs.expand({B, 1, Fr, T}), shift.expand({B, 1, Fr, T})}, 1);
    // The 2C-channel output of the folded 1x1 convolution is made a few rows at a time and
    // consumed at once (GLU and residual add), so it never leaves the cache: as one convolution
    // writing 2C x Fr x T floats it ran at memory speed, 5x slower.
    auto w2d = wf.view({C2, h + 2});
    auto bias = beta.to(torch::kFloat).unsqueeze(1);
    if (!owned) {
      x = x.clone();
      owned = true;
    }
    const int64_t rows_per_block =
        std::max<int64_t>(1, kDConvBlockBytes / (static_cast<int64_t>(sizeof(float)) * C2 * T));
    for (int64_t bi = 0; bi < B; ++bi) {
      for (int64_t r = 0; r < Fr; r += rows_per_block) {
        const int64_t n = std::min(rows_per_block, Fr - r);
        auto u = torch::addmm(bias, w2d, gin[bi].narrow(1, r, n).reshape({h + 2, n * T}));
        x[bi].narrow(1, r, n).addcmul_(u.narrow(0, 0, C).view({C, n, T}),
                                       torch::sigmoid(u.narrow(0, C, C)).view({C, n, T}));
      }
    }
  }
  return x;
}

HEncLayerImpl::HEncLayerImpl(const LayerSpec& s) : spec_(s), pad_(s.pad ? s.kernel_size / 4 : 0) {
  if (s.freq) {
    conv2d_ = register_module(
        "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.chin, s.chout, {s.kernel_size, 1})
                                      .stride({s.stride, 1})
                                      .padding({pad_, 0})));
  } else {
    conv1d_ = register_module(
        "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(s.chin, s.chout, s.kernel_size)
                                      .stride(s.stride)
                                      .padding(pad_)));
  }
  if (s.empty) return;
  if (s.norm) norm1_ = register_module("norm1", torch::nn::GroupNorm(s.norm_groups, s.chout));
  if (s.rewrite) {
    const int64_t k = 1 + 2 * int64_t{s.context};
    if (s.freq)
      rewrite2d_ = register_module(
          "rewrite",
          torch::nn::Conv2d(torch::nn::Conv2dOptions(s.chout, 2 * s.chout, k).padding(s.context)));
    else
      rewrite1d_ = register_module(
          "rewrite",
          torch::nn::Conv1d(torch::nn::Conv1dOptions(s.chout, 2 * s.chout, k).padding(s.context)));
    if (s.norm) norm2_ = register_module("norm2", torch::nn::GroupNorm(s.norm_groups, 2 * s.chout));
  }
  if (s.dconv) dconv_ = register_module("dconv", DConv(s.chout, s.dconv_comp, s.dconv_depth));
}

namespace {

// The rewrite convolution (width -> 2 width, kernel 1 + 2 context over time, squared over
// (freq, time)), its GroupNorm and the DConv that an encoder layer applies to its output and a
// decoder layer to its input, `width` channels wide.
Count rewrite_dconv_params(const LayerSpec& s, int64_t width) {
  const Count w = width, k = 1 + 2 * Count(s.context);
  Count n = 0;
  if (s.rewrite) {
    n += conv_params(w, 2 * w, s.freq ? k * k : k);
    if (s.norm) n += norm_params(2 * w);
  }
  if (s.dconv) n += dconv_params(width, s.dconv_comp, s.dconv_depth);
  return n;
}

}  // namespace

// HEncLayerImpl's parameters, registered as in its constructor above.
Count henc_params(const LayerSpec& s) {
  Count n = conv_params(s.chin, s.chout, Count(s.kernel_size));  // "conv", kernel (K, 1) or K
  if (s.empty) return n;
  if (s.norm) n += norm_params(s.chout);  // norm1
  return n + rewrite_dconv_params(s, s.chout);
}

torch::Tensor HEncLayerImpl::forward(torch::Tensor x, const torch::Tensor& inject) {
  if (!spec_.freq && x.dim() == 4) x = x.view({x.size(0), -1, x.size(3)});
  if (!spec_.freq) {
    const auto le = x.size(-1);
    if (le % spec_.stride != 0)
      x = F::pad(x, F::PadFuncOptions({0, spec_.stride - le % spec_.stride}));
  }
  torch::Tensor y;
  if (spec_.freq && spec_.chin <= 8) {
    // oneDNN runs the first frequency layer (4 input channels, kernel 8x1) about 7x faster in
    // channels-last layout.
    y = conv2d_->forward(x.contiguous(at::MemoryFormat::ChannelsLast)).contiguous();
  } else {
    y = spec_.freq ? conv2d_->forward(x) : conv1d_->forward(x);
  }
  if (spec_.empty) return y;
  if (inject.defined()) {
    TORCH_CHECK(inject.size(-1) == y.size(-1), "HEncLayer: injected length mismatch");
    y = (inject.dim() == 3 && y.dim() == 4) ? y + inject.unsqueeze(2) : y + inject;
  }
  if (norm1_) y = norm1_->forward(nn::as_float(y));
  y = torch::gelu(y);
  if (dconv_) y = spec_.freq ? dconv_->forward_rows(y) : dconv_->forward(y);
  if (spec_.rewrite) {
    auto z = spec_.freq ? rewrite2d_->forward(y) : rewrite1d_->forward(y);
    if (norm2_) z = norm2_->forward(nn::as_float(z));
    return torch::glu(z, 1);
  }
  return y;
}

HDecLayerImpl::HDecLayerImpl(const LayerSpec& s) : spec_(s), pad_(s.pad ? s.kernel_size / 4 : 0) {
  if (s.freq) {
    conv_tr2d_ = register_module(
        "conv_tr", torch::nn::ConvTranspose2d(
                       torch::nn::ConvTranspose2dOptions(s.chin, s.chout, {s.kernel_size, 1})
                           .stride({s.stride, 1})));
  } else {
    conv_tr1d_ = register_module(
        "conv_tr",
        torch::nn::ConvTranspose1d(
            torch::nn::ConvTranspose1dOptions(s.chin, s.chout, s.kernel_size).stride(s.stride)));
  }
  if (s.norm) norm2_ = register_module("norm2", torch::nn::GroupNorm(s.norm_groups, s.chout));
  if (s.empty) return;
  if (s.rewrite) {
    const int64_t k = 1 + 2 * int64_t{s.context};
    if (s.freq)
      rewrite2d_ = register_module(
          "rewrite",
          torch::nn::Conv2d(torch::nn::Conv2dOptions(s.chin, 2 * s.chin, k).padding(s.context)));
    else
      rewrite1d_ = register_module(
          "rewrite",
          torch::nn::Conv1d(torch::nn::Conv1dOptions(s.chin, 2 * s.chin, k).padding(s.context)));
    if (s.norm) norm1_ = register_module("norm1", torch::nn::GroupNorm(s.norm_groups, 2 * s.chin));
  }
  if (s.dconv) dconv_ = register_module("dconv", DConv(s.chin, s.dconv_comp, s.dconv_depth));
}

// HDecLayerImpl's parameters, registered as in its constructor above.
Count hdec_params(const LayerSpec& s) {
  Count n = conv_params(s.chin, s.chout, Count(s.kernel_size));  // "conv_tr", kernel (K, 1) or K
  if (s.norm) n += norm_params(s.chout);                         // norm2
  if (s.empty) return n;
  return n + rewrite_dconv_params(s, s.chin);
}

torch::Tensor HDecLayerImpl::conv_tr_freq(const torch::Tensor& y) {
  // ConvTranspose2d with kernel (K, 1) and stride (S, 1) over the frequency axis, as one matrix
  // product and an overlap-add. libtorch 1.13 runs this layer on a slow im2col path (33 GFLOP/s
  // here against ~200 for a plain matrix product). Falls back when K is not a multiple of S.
  const auto& w = conv_tr2d_->weight;  // (Cin, Cout, K, 1)
  const int64_t K = w.size(2), Sd = spec_.stride;
  if (K % Sd != 0 || y.dim() != 4) return conv_tr2d_->forward(y);
  const int64_t B = y.size(0), Cin = y.size(1), Fr = y.size(2), T = y.size(3);
  const int64_t Cout = w.size(1), G = K / Sd;
  const auto wt = nn::autocast_weight(w).reshape({Cin, Cout * K}).t();
  auto yf = y.reshape({B, Cin, Fr * T});
  std::vector<torch::Tensor> zs;
  for (int64_t b = 0; b < B; ++b) zs.push_back(nn::mm(wt, yf[b]));  // plain GEMMs, not bmm
  auto z = torch::stack(zs).view({B, Cout, G, Sd, Fr, T});
  auto out = torch::zeros({B, Cout, Fr + G - 1, Sd, T}, y.options());
  for (int64_t g = 0; g < G; ++g)
    out.narrow(2, g, Fr).add_(z.select(2, g).permute({0, 1, 3, 2, 4}));
  out = out.view({B, Cout, (Fr + G - 1) * Sd, T});
  if (conv_tr2d_->bias.defined()) out.add_(conv_tr2d_->bias.view({1, Cout, 1, 1}));
  return out;
}

torch::Tensor HDecLayerImpl::conv_tr_time(const torch::Tensor& y) {
  // ConvTranspose1d with kernel K and stride S as a matrix product and an overlap-add (see
  // conv_tr_freq): output frame l * S + s collects tap g * S + s of input frame l - g.
  const auto& w = conv_tr1d_->weight;  // (Cin, Cout, K)
  const int64_t K = w.size(2), Sd = spec_.stride;
  if (K % Sd != 0 || y.dim() != 3) return conv_tr1d_->forward(y);
  const int64_t B = y.size(0), Cin = y.size(1), L = y.size(2);
  const int64_t Cout = w.size(1), G = K / Sd;
  const auto wt = nn::autocast_weight(w).reshape({Cin, Cout * K}).t();
  std::vector<torch::Tensor> zs;
  for (int64_t b = 0; b < B; ++b) zs.push_back(nn::mm(wt, y[b]));  // (Cout*K, L) each
  auto z = torch::stack(zs).view({B, Cout, G, Sd, L});
  auto out = torch::zeros({B, Cout, L + G - 1, Sd}, y.options());
  for (int64_t g = 0; g < G; ++g) out.narrow(2, g, L).add_(z.select(2, g).transpose(2, 3));
  out = out.view({B, Cout, (L + G - 1) * Sd});
  if (conv_tr1d_->bias.defined()) out.add_(conv_tr1d_->bias.view({1, Cout, 1}));
  return out;
}

std::pair<torch::Tensor, torch::Tensor> HDecLayerImpl::forward(torch::Tensor x,
                                                               const torch::Tensor& skip,
                                                               int64_t length) {
  if (spec_.freq && x.dim() == 3) x = x.view({x.size(0), spec_.chin, -1, x.size(2)});
  torch::Tensor y;
  if (!spec_.empty) {
    x = x + skip;
    if (spec_.rewrite) {
      auto r = spec_.freq ? rewrite2d_->forward(x) : rewrite1d_->forward(x);
      if (norm1_) r = norm1_->forward(nn::as_float(r));
      y = torch::glu(r, 1);
    } else {
      y = x;
    }
    if (dconv_) y = spec_.freq ? dconv_->forward_rows(y) : dconv_->forward(y);
  } else {
    y = x;
  }
  torch::Tensor z = spec_.freq ? conv_tr_freq(y) : conv_tr_time(y);
  if (norm2_) z = norm2_->forward(nn::as_float(z));
  if (spec_.freq) {
    if (pad_) z = z.index({"...", Slice(pad_, -pad_), Slice()});
  } else {
    z = z.index({"...", Slice(pad_, pad_ + length)});
    TORCH_CHECK(z.size(-1) == length, "HDecLayer: length mismatch");
  }
  if (!spec_.last) z = torch::gelu(z);
  return {z, y};
}

}  // namespace rz::demucs
