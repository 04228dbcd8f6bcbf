// BS-RoFormer / Mel-Band RoFormer on libtorch, after MSST's models/bs_roformer/{bs_roformer,
// mel_band_roformer,attend}.py and rotary-embedding-torch 0.8.9 (facts in
// ../shared/roformer/PORTING-NOTES.md). Same arithmetic as the official forward: torch's own
// STFT and iSTFT, the stems' masks applied as complex products, fp32 throughout.
#include "rz/roformer/model.hpp"

#include <algorithm>
#include <cmath>

#include "rz/error.hpp"
#include "rz/nn/attention.hpp"
#include "rz/nn/gemm.hpp"
#include "rz/nn/state_dict.hpp"
#include "rz/roformer/bands.hpp"

namespace rz::roformer {

namespace {

// The attention scores of one slice of sequences (slice x heads x n x n, fp32) stay below this:
// the time transformer of a full-size model attends over 801 frames in 60 bands x batch
// sequences, 1.2 GB of scores per chunk if done at once. Slicing changes no arithmetic.
constexpr int64_t kAttentionScoreBytes = int64_t{64} << 20;
// From this many tokens on, attention runs one (sequence, head) at a time (see
// AttentionImpl::forward); measured on 2 cores: 801 tokens 19 GFLOP/s by mm against 5 by bmm,
// 60 tokens 4.0 s by mm calls against 0.85 s batched.
constexpr int64_t kLoopAttentionTokens = 256;

void tap_if(const TapFn& tap, const std::string& name, const torch::Tensor& t) {
  if (tap) tap(name, t);
}

// A Sequential's modules in order, its Linears through nn::linear (rz/nn/gemm.hpp).
torch::Tensor run_sequential(torch::nn::Sequential& seq, torch::Tensor x) {
  for (auto& m : *seq) {
    if (const auto* lin = m.ptr()->as<torch::nn::LinearImpl>())
      x = nn::linear(x, *lin);
    else
      x = m.forward(x);
  }
  return x;
}

}  // namespace

// One band of a mask estimator, named like the official `to_freqs.{b}`: `0` is MSST's
// MLP(dim, dim_out, hidden, depth) with Tanh between its Linears, then the GLU (`1`, no
// parameters) takes the first half of the output times the sigmoid of the second.
class MaskMlpImpl : public torch::nn::Module {
 public:
  MaskMlpImpl(int64_t dim, int64_t dim_out, int64_t hidden, int64_t linears) {
    int64_t in = dim;
    for (int64_t i = 0; i < linears; ++i) {
      const bool last = i == linears - 1;
      const int64_t out = last ? dim_out : hidden;
      mlp_->push_back(torch::nn::Linear(in, out));
      if (!last) mlp_->push_back(torch::nn::Tanh());
      in = out;
    }
    register_module("0", mlp_);
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::glu(run_sequential(mlp_, x), -1); }

 private:
  torch::nn::Sequential mlp_;
};

RMSNormImpl::RMSNormImpl(int64_t dim) : scale_(std::sqrt(static_cast<double>(dim))) {
  gamma = register_parameter("gamma", torch::ones({dim}), false);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // F.normalize(x, dim=-1) * scale * gamma: x / max(||x||_2, 1e-12), then the two products in
  // that order.
  auto n = x.norm(2, -1, true).clamp_min(1e-12).expand_as(x);
  return (x / n) * scale_ * gamma;
}

RotaryImpl::RotaryImpl(int64_t dim_head) {
  freqs = register_parameter("freqs", torch::zeros({dim_head / 2}), false);
}

torch::Tensor RotaryImpl::rotate(const torch::Tensor& x) {
  const int64_t n = x.size(-2);
  // Angles position * inv_freq in fp32, each used for one interleaved pair [2i, 2i + 1].
  auto pos = torch::arange(n, freqs.options());
  auto angles = torch::outer(pos, freqs).repeat_interleave(2, -1);  // (n, dim_head)
  auto cos = angles.cos(), sin = angles.sin();
  // rotate_half: (x0, x1) -> (-x1, x0) per pair.
  auto pairs = x.unflatten(-1, {-1, 2});
  auto rotated = torch::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
  return x * cos + rotated * sin;
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads, int64_t dim_head)
    : heads_(heads), dim_head_(dim_head) {
  const int64_t inner = heads * dim_head;
  // Registered in the official order so that named_parameters() lists them as the state dict.
  rotary_embed_ = register_module("rotary_embed", Rotary(dim_head));
  norm_ = register_module("norm", RMSNorm(dim));
  to_qkv_ = register_module(
      "to_qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * inner).bias(false)));
  to_gates_ = register_module("to_gates", torch::nn::Linear(dim, heads));
  to_out_ = register_module(
      "to_out",
      torch::nn::Sequential(torch::nn::Linear(torch::nn::LinearOptions(inner, dim).bias(false))));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_in, const TapFn& tap,
                                     const std::string& prefix) {
  const int64_t B = x_in.size(0), N = x_in.size(1);
  auto x = norm_(x_in);
  // 'b n (qkv h d) -> qkv b h n d'
  auto qkv = nn::linear(x, *to_qkv_).view({B, N, 3, heads_, dim_head_}).permute({2, 0, 3, 1, 4});
  auto q = rotary_embed_->rotate(qkv[0]);
  auto k = rotary_embed_->rotate(qkv[1]);
  auto v = qkv[2];
  // softmax(q k^T / sqrt(dim_head)) v. Long sequences (the time axis: 801 frames per chunk)
  // one (sequence, head) at a time as plain matrix products (nn::linear, rz/nn/gemm.hpp):
  // libtorch 1.13's CPU bmm ran them at a quarter of mm's rate here (5 against 19 GFLOP/s,
  // 801 x 64 x 801 on 2 cores). Short ones (the band axis: 60 or 62 bands) in batched slices
  // whose scores stay small, where a loop would cost more in calls than it saves.
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim_head_));
  torch::Tensor out;
  if (auto fused = nn::fused_attention(q, k, v)) {
    out = *fused;
  } else if (N >= kLoopAttentionTokens && q.device().is_cpu()) {
    out = torch::empty({B, heads_, N, dim_head_}, q.options());
    auto qs = q * scale;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < heads_; ++h) {
        auto scores = nn::linear(qs[b][h], k[b][h]).softmax(-1);  // q k^T
        out[b][h].copy_(nn::linear(scores, v[b][h].t().contiguous()));
      }
  } else {
    out = torch::empty({B, heads_, N, dim_head_}, q.options());
    const int64_t per_seq = heads_ * N * N * static_cast<int64_t>(sizeof(float));
    const int64_t slice =
        std::max<int64_t>(1, kAttentionScoreBytes / std::max<int64_t>(1, per_seq));
    for (int64_t s = 0; s < B; s += slice) {
      const int64_t n = std::min(slice, B - s);
      auto qs = q.narrow(0, s, n), ks = k.narrow(0, s, n), vs = v.narrow(0, s, n);
      auto scores = torch::matmul(qs * scale, ks.transpose(-2, -1)).softmax(-1);
      out.narrow(0, s, n).copy_(torch::matmul(scores, vs));
    }
  }
  tap_if(tap, prefix + ".attend.out", out);
  auto gates = to_gates_(x);
  tap_if(tap, prefix + ".to_gates.out", gates);
  out = out * gates.permute({0, 2, 1}).unsqueeze(-1).sigmoid();
  out = out.permute({0, 2, 1, 3}).reshape({B, N, heads_ * dim_head_});  // 'b h n d -> b n (h d)'
  return run_sequential(to_out_, out);
}

TransformerImpl::TransformerImpl(int64_t dim, int64_t depth, int64_t heads, int64_t dim_head,
                                 bool norm_output) {
  auto layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    auto pair = torch::nn::ModuleList();
    attn_.push_back(Attention(dim, heads, dim_head));
    // FeedForward: net = RMSNorm, Linear(dim, 4 dim), GELU (erf), Dropout, Linear, Dropout.
    torch::nn::Sequential net(RMSNorm(dim), torch::nn::Linear(dim, 4 * dim), torch::nn::GELU(),
                              torch::nn::Dropout(0.0), torch::nn::Linear(4 * dim, dim),
                              torch::nn::Dropout(0.0));
    auto ff = std::make_shared<torch::nn::Module>();
    ff->register_module("net", net);
    ff_.push_back(net);
    pair->push_back(attn_.back());
    pair->push_back(ff);
    layers->push_back(pair);
  }
  if (norm_output) norm_ = register_module("norm", RMSNorm(dim));
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const TapFn& tap,
                                       const std::string& prefix) {
  for (size_t i = 0; i < attn_.size(); ++i) {
    const std::string p = prefix + ".layers." + std::to_string(i);
    auto a = attn_[i]->forward(x, tap, p + ".attn");
    tap_if(tap, p + ".attn.out", a);
    x = a + x;
    auto f = run_sequential(ff_[i], x);
    tap_if(tap, p + ".ff.out", f);
    x = f + x;
  }
  return norm_ ? norm_(x) : x;
}

RoformerImpl::RoformerImpl(const Config& config) : config_(config) {
  const ModelSettings& m = config.model;
  const int channels = m.stereo ? 2 : 1;
  const bool mel = config.family == Family::kMelBand;
  const BandLayout layout =
      mel ? mel_bands(m.sample_rate_hz, m.stft_n_fft, m.num_bands) : split_bands(m.freqs_per_bands);
  widths_ = layout.widths(channels);
  if (mel) {
    const std::vector<int64_t> rows = layout.rows(channels);
    rows_ = torch::tensor(rows, torch::kLong);
    std::vector<float> per_row;
    for (const int64_t n : layout.bands_per_bin)
      for (int c = 0; c < channels; ++c) per_row.push_back(static_cast<float>(n));
    bands_per_row_ = torch::tensor(per_row, torch::kFloat).unsqueeze(-1);
    register_buffer("freq_indices", rows_);
    register_buffer("num_bands_per_row", bands_per_row_);
  }
  auto layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < m.depth; ++i) {
    auto block = torch::nn::ModuleList();
    time_.push_back(Transformer(m.dim, m.time_transformer_depth, m.heads, m.dim_head, mel));
    freq_.push_back(Transformer(m.dim, m.freq_transformer_depth, m.heads, m.dim_head, mel));
    block->push_back(time_.back());
    block->push_back(freq_.back());
    layers->push_back(block);
  }
  if (!mel) final_norm_ = register_module("final_norm", RMSNorm(m.dim));
  auto split = torch::nn::ModuleList();
  for (const int64_t w : widths_) {
    split_.push_back(torch::nn::Sequential(RMSNorm(w), torch::nn::Linear(w, m.dim)));
    split->push_back(split_.back());
  }
  auto band_split = std::make_shared<torch::nn::Module>();
  band_split->register_module("to_features", split);
  register_module("band_split", band_split);
  // BS: mask_estimator_depth Linears; Mel: one more (MSST's two MLP conventions).
  const int64_t linears = mel ? m.mask_estimator_depth + 1 : m.mask_estimator_depth;
  auto estimators = register_module("mask_estimators", torch::nn::ModuleList());
  for (int64_t s = 0; s < m.num_stems; ++s) {
    auto to_freqs = torch::nn::ModuleList();
    masks_.emplace_back();
    for (const int64_t w : widths_) {
      masks_.back().push_back(
          std::make_shared<MaskMlpImpl>(m.dim, 2 * w, m.dim * m.mlp_expansion_factor, linears));
      to_freqs->push_back(masks_.back().back());
    }
    auto est = std::make_shared<torch::nn::Module>();
    est->register_module("to_freqs", to_freqs);
    estimators->push_back(est);
  }
}

torch::Tensor RoformerImpl::band_split(const torch::Tensor& x) {
  std::vector<torch::Tensor> outs;
  outs.reserve(split_.size());
  int64_t at = 0;
  for (size_t b = 0; b < split_.size(); ++b) {
    outs.push_back(split_[b]->forward(x.narrow(-1, at, widths_[b])));
    at += widths_[b];
  }
  return torch::stack(outs, -2);
}

torch::Tensor RoformerImpl::estimate_mask(size_t stem, const torch::Tensor& x) {
  std::vector<torch::Tensor> outs;
  outs.reserve(masks_[stem].size());
  for (size_t b = 0; b < masks_[stem].size(); ++b)
    outs.push_back(masks_[stem][b]->forward(x.select(-2, static_cast<int64_t>(b))));
  return torch::cat(outs, -1);
}

torch::Tensor RoformerImpl::forward(const torch::Tensor& audio, const TapFn& tap) {
  const ModelSettings& m = config_.model;
  const bool mel = config_.family == Family::kMelBand;
  const int64_t B = audio.size(0), C = audio.size(1), L = audio.size(2);
  TORCH_CHECK(C == (m.stereo ? 2 : 1), "the model takes ", m.stereo ? 2 : 1, " channels, got ", C);
  auto window = torch::hann_window(m.stft_win_length, audio.options());
  auto spec = torch::stft(audio.reshape({B * C, L}), m.stft_n_fft, m.stft_hop_length,
                          m.stft_win_length, window, /*center=*/true, "reflect", m.stft_normalized,
                          /*onesided=*/true, /*return_complex=*/true);
  const int64_t F = spec.size(1), T = spec.size(2);
  auto spec_r = torch::view_as_real(spec);
  tap_if(tap, "stft.out", spec_r);
  // 'b s f t c -> b (f s) t c': row 2 * bin + channel.
  auto stft_repr = spec_r.view({B, C, F, T, 2}).permute({0, 2, 1, 3, 4}).reshape({B, F * C, T, 2});
  auto x = mel ? stft_repr.index_select(1, rows_) : stft_repr;
  x = x.permute({0, 2, 1, 3}).reshape({B, T, -1});  // 'b f t c -> b t (f c)'
  tap_if(tap, "band_split.in", x);
  x = band_split(x);
  tap_if(tap, "band_split.out", x);
  const int64_t K = x.size(2), D = x.size(3);
  std::vector<torch::Tensor> store;
  for (size_t i = 0; i < time_.size(); ++i) {
    const std::string p = "layers." + std::to_string(i);
    if (m.skip_connection)
      for (const auto& s : store) x = x + s;
    x = x.permute({0, 2, 1, 3}).reshape({B * K, T, D});  // 'b t f d -> (b f) t d'
    x = time_[i]->forward(x, tap, p + ".time_transformer");
    tap_if(tap, p + ".time_transformer.out", x);
    x = x.view({B, K, T, D}).permute({0, 2, 1, 3}).reshape({B * T, K, D});
    x = freq_[i]->forward(x, tap, p + ".freq_transformer");
    tap_if(tap, p + ".freq_transformer.out", x);
    x = x.view({B, T, K, D});
    if (m.skip_connection) store.push_back(x);
  }
  if (final_norm_) x = final_norm_(x);
  const int64_t S = m.num_stems;
  std::vector<torch::Tensor> masks;
  for (int64_t s = 0; s < S; ++s) {
    masks.push_back(estimate_mask(static_cast<size_t>(s), x));
    tap_if(tap, "mask_estimators." + std::to_string(s) + ".out", masks.back());
  }
  // 'b n t (f c) -> b n f t c', as complex.
  auto mask = torch::stack(masks, 1);
  const int64_t R = mask.size(-1) / 2;
  mask = torch::view_as_complex(mask.view({B, S, T, R, 2}).permute({0, 1, 3, 2, 4}).contiguous());
  auto stft_c = torch::view_as_complex(stft_repr.contiguous()).unsqueeze(1);  // (B, 1, F C, T)
  if (mel) {
    // Average the masks of the bands that share a bin: scatter-add, then divide by the count.
    auto index = rows_.view({1, 1, R, 1}).expand({B, S, R, T});
    auto summed = torch::zeros({B, S, F * C, T}, stft_c.options()).scatter_add_(2, index, mask);
    mask = summed / bands_per_row_;
  }
  auto masked = stft_c * mask;  // (B, S, F C, T)
  // 'b n (f s) t -> (b n s) f t'
  masked = masked.view({B, S, F, C, T}).permute({0, 1, 3, 2, 4}).reshape({B * S * C, F, T});
  if (m.zero_dc) masked.select(1, 0).zero_();
  tap_if(tap, "istft.in", torch::view_as_real(masked));
  const bool full_length = !mel || m.match_input_audio_length;
  auto out = torch::istft(masked, m.stft_n_fft, m.stft_hop_length, m.stft_win_length, window,
                          /*center=*/true, m.stft_normalized, /*onesided=*/true,
                          full_length ? c10::optional<int64_t>(L) : c10::nullopt);
  tap_if(tap, "istft.out", out);
  out = out.view({B, S, C, out.size(-1)});
  tap_if(tap, "model.out", out);
  return out;
}

Roformer load_roformer(const Config& config, const formats::StateDict& state,
                       const std::string& subject, const torch::Device& device) {
  Roformer model(config);
  nn::load_state_strict(*model, state, subject);
  model->to(device);
  model->eval();
  return model;
}

}  // namespace rz::roformer
