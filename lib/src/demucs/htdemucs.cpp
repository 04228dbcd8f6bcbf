// HTDemucs in libtorch: a port of demucs/htdemucs.py and the layers it uses (see the header).
#include "rz/demucs/htdemucs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/stems/manifest.hpp"

namespace rz::demucs {

namespace F = torch::nn::functional;
using torch::indexing::None;
using torch::indexing::Slice;

namespace {
// Size of one block of attention scores of one head (queries x keys, fp32): bounds the memory
// of the largest attention (2688 x 2688 per head for htdemucs) while keeping each matrix product
// large enough to run at the BLAS rate (measured: 256 to 2688 query rows all within 2 %).
constexpr int64_t kAttentionBlockBytes = 8 << 20;
// Size of one block of a DConv layer's widest intermediate (2C channels x rows x time).
constexpr int64_t kDConvBlockBytes = 2 << 20;

// ---- Parameter counting (HTDemucsConfig::parameter_count)
// Counts are long double: its mantissa (64 bits on x86, 113 on aarch64) holds every integer below
// 2^64 exactly and its range holds any product of a few saturated widths (< 2^63 each), so a
// count never overflows and every count below 2^63 is exact. Each module's count sits next to
// its constructor; the modules of torch::nn it uses are counted here.
using Count = long double;

// `v` truncated towards zero like a cast, saturated at the int64_t range (NaN: 0).
int64_t saturate(Count v) {
  const Count limit = std::ldexp(Count{1}, 63);
  if (std::isnan(v)) return 0;
  if (v >= limit) return std::numeric_limits<int64_t>::max();
  if (v <= -limit) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// a * b, saturated (exact below 2^63: both fit in the mantissa and so does the product).
int64_t saturating_mul(int64_t a, int64_t b) { return saturate(Count(a) * Count(b)); }

// Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d with bias and `taps` kernel elements.
Count conv_params(Count cin, Count cout, Count taps) { return cin * cout * taps + cout; }
// Linear with bias.
Count linear_params(Count in, Count out) { return in * out + out; }
// GroupNorm or LayerNorm over `channels`: affine weight and bias.
Count norm_params(Count channels) { return 2 * channels; }

// Hidden widths that Python computes as int(float): DConv's int(channels / compress) and the
// transformer's int(dim * t_hidden_scale). Shared by the constructors and the counts; the
// saturation only matters for values that the parameter budget refuses.
int64_t dconv_hidden(int64_t channels, double compress) {
  return saturate(static_cast<double>(channels) / compress);
}
int64_t ff_hidden(int64_t dim, double scale) { return saturate(static_cast<double>(dim) * scale); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration

int64_t HTDemucsConfig::training_frames() const {
  // The checkpoint stores Fraction(39, 5); as a double it is 7.7999999999999998, whose product
  // with 44100 must still floor to 343980 like Python's exact Fraction arithmetic.
  return static_cast<int64_t>(std::floor(segment_s * samplerate + 1e-6));
}

namespace {

[[noreturn]] void bad_kwarg(const std::string& subject, const std::string& key,
                            const std::string& why) {
  throw InputError(describe("bad checkpoint", subject, "kwarg '" + key + "' " + why));
}

}  // namespace

HTDemucsConfig HTDemucsConfig::from_kwargs(const nlohmann::json& kw, const std::string& subject) {
  HTDemucsConfig c;
  if (!kw.is_object()) throw InputError(describe("bad checkpoint", subject, "kwargs is not a dict"));
  // Arguments that only shape training (or initialisation): accepted, without effect here.
  static const std::set<std::string> kIgnored = {
      "dconv_init",          "emb_smooth",         "rescale",           "t_dropout",
      "t_max_positions",     "t_weight_decay",     "t_lr",              "t_cape_mean_normalize",
      "t_cape_augment",      "t_cape_glob_loc_scale", "t_mask_type",    "t_mask_random_seed",
      "t_sparse_attn_window", "t_global_window",   "t_sparsity",        "t_auto_sparsity",
      "multi_freqs_depth",   "end_iters",          "wiener_iters",      "wiener_residual"};
  // Checked conversions: a value that does not fit (2^32 + 44100 for an int) is refused, never
  // narrowed.
  auto as_int = [&](const std::string& k, const nlohmann::json& v) {
    const auto i = io::get_checked<int>(v);
    if (!i) bad_kwarg(subject, k, "must be an integer that fits in 32 bits");
    return *i;
  };
  auto as_num = [&](const std::string& k, const nlohmann::json& v) {
    const auto d = io::get_checked<double>(v);
    if (!d) bad_kwarg(subject, k, "must be a finite number");
    return *d;
  };
  auto as_bool = [&](const std::string& k, const nlohmann::json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer()) return !(v.get<int64_t>() == 0 && v.get<uint64_t>() == 0);
    bad_kwarg(subject, k, "must be a bool");
  };
  bool have_sources = false;
  for (const auto& [k, v] : kw.items()) {
    if (kIgnored.count(k)) continue;
    if (k == "sources") {
      // The names become stem names and file names ("<source>.wav") in the output: refused here
      // unless each is a valid, distinct stem name.
      if (!v.is_array() || v.empty()) bad_kwarg(subject, k, "must be a non-empty list");
      if (v.size() > stems::kMaxStems) bad_kwarg(subject, k, "lists too many sources");
      for (const auto& s : v) {
        if (!s.is_string()) bad_kwarg(subject, k, "must be a list of names");
        const std::string name = s.get<std::string>();
        if (const std::string why = stems::bad_stem_name_reason(name); !why.empty())
          bad_kwarg(subject, k, "has a source " + in_quotes(name) + " whose name " + why);
        if (std::find(c.sources.begin(), c.sources.end(), name) != c.sources.end())
          bad_kwarg(subject, k, "names " + in_quotes(name) + " twice");
        c.sources.push_back(name);
      }
      have_sources = true;
    } else if (k == "audio_channels") c.audio_channels = as_int(k, v);
    else if (k == "channels") c.channels = as_int(k, v);
    else if (k == "channels_time") c.channels_time = v.is_null() ? 0 : as_int(k, v);
    else if (k == "growth") c.growth = as_int(k, v);
    else if (k == "nfft") c.nfft = as_int(k, v);
    else if (k == "cac") {
      c.cac = as_bool(k, v);
      if (!c.cac) bad_kwarg(subject, k, "= False (Wiener-filtered masks) is not supported");
    } else if (k == "depth") c.depth = as_int(k, v);
    else if (k == "rewrite") c.rewrite = as_bool(k, v);
    else if (k == "multi_freqs") {
      if (!v.is_null() && !(v.is_array() && v.empty()))
        bad_kwarg(subject, k, "(MultiWrap frequency bands) is not supported");
    } else if (k == "freq_emb") c.freq_emb = as_num(k, v);
    else if (k == "emb_scale") c.emb_scale = as_num(k, v);
    else if (k == "kernel_size") c.kernel_size = as_int(k, v);
    else if (k == "time_stride") c.time_stride = as_int(k, v);
    else if (k == "stride") c.stride = as_int(k, v);
    else if (k == "context") c.context = as_int(k, v);
    else if (k == "context_enc") c.context_enc = as_int(k, v);
    else if (k == "norm_starts") c.norm_starts = as_int(k, v);
    else if (k == "norm_groups") c.norm_groups = as_int(k, v);
    else if (k == "dconv_mode") c.dconv_mode = as_int(k, v);
    else if (k == "dconv_depth") c.dconv_depth = as_int(k, v);
    else if (k == "dconv_comp") c.dconv_comp = as_num(k, v);
    else if (k == "bottom_channels") c.bottom_channels = as_int(k, v);
    else if (k == "t_layers") c.t_layers = as_int(k, v);
    else if (k == "t_emb") {
      if (!v.is_string() || v.get<std::string>() != "sin")
        bad_kwarg(subject, k, "= " + in_quotes(io::dump_json(v)) + " is not supported (only 'sin')");
    } else if (k == "t_hidden_scale") c.t_hidden_scale = as_num(k, v);
    else if (k == "t_heads") c.t_heads = as_int(k, v);
    else if (k == "t_norm_in") c.t_norm_in = as_bool(k, v);
    else if (k == "t_norm_in_group" || k == "t_group_norm" || k == "t_sparse_self_attn" ||
             k == "t_sparse_cross_attn" || k == "t_sin_random_shift") {
      if (!(v.is_null() || (v.is_boolean() && !v.get<bool>()) ||
            (v.is_number() && v.get<double>() == 0)))
        bad_kwarg(subject, k, "= " + in_quotes(io::dump_json(v)) + " is not supported");
    } else if (k == "t_norm_first") c.t_norm_first = as_bool(k, v);
    else if (k == "t_norm_out") c.t_norm_out = as_bool(k, v);
    else if (k == "t_max_period") c.t_max_period = as_num(k, v);
    else if (k == "t_layer_scale") c.t_layer_scale = as_bool(k, v);
    else if (k == "t_gelu") c.t_gelu = as_bool(k, v);
    else if (k == "t_weight_pos_embed") c.t_weight_pos_embed = as_num(k, v);
    else if (k == "t_cross_first") c.t_cross_first = as_bool(k, v);
    else if (k == "samplerate") c.samplerate = as_int(k, v);
    else if (k == "segment") c.segment_s = as_num(k, v);
    else if (k == "use_train_segment") {
      if (!as_bool(k, v)) bad_kwarg(subject, k, "= False is not supported");
    } else {
      bad_kwarg(subject, k, "is not a known HTDemucs argument");
    }
  }
  if (!have_sources) bad_kwarg(subject, "sources", "is missing");
  auto positive = [&](const char* k, double v) {
    if (!(v > 0)) bad_kwarg(subject, k, "must be positive");
  };
  positive("audio_channels", c.audio_channels);
  positive("channels", c.channels);
  positive("growth", c.growth);
  positive("depth", c.depth);
  positive("kernel_size", c.kernel_size);
  positive("stride", c.stride);
  positive("time_stride", c.time_stride);
  positive("samplerate", c.samplerate);
  positive("segment", c.segment_s);
  positive("dconv_comp", c.dconv_comp);
  if (c.nfft < 16 || (c.nfft & (c.nfft - 1)) != 0) bad_kwarg(subject, "nfft", "must be a power of two");
  if (c.dconv_mode < 0 || c.dconv_mode > 3) bad_kwarg(subject, "dconv_mode", "must be 0..3");
  if (c.t_layers < 0) bad_kwarg(subject, "t_layers", "must be >= 0");
  if (c.channels_time < 0) bad_kwarg(subject, "channels_time", "must not be negative");
  if (c.bottom_channels < 0) bad_kwarg(subject, "bottom_channels", "must not be negative");

  // Values absurd on their own, whatever the weights: the model would allocate in proportion to
  // them at construction or in every forward pass, which the parameter budget of load_htdemucs
  // does not bound. Each bound is far beyond the official models (44100 Hz, nfft 4096, 7.8 s,
  // depth 4, kernel 8, stride 4, context 1, dconv_depth 2).
  constexpr int kMaxSampleRateHz = 768000;  // the highest rate audio interfaces offer
  if (c.samplerate > kMaxSampleRateHz)
    bad_kwarg(subject, "samplerate", "must be at most " + std::to_string(kMaxSampleRateHz));
  // Every forward pass pads its input to segment * samplerate frames and keeps a few dozen
  // activations of that length: 2^27 frames (50 min at 44.1 kHz, 390 times the official segment)
  // already need tens of GB. Checked in double, so a huge segment cannot overflow.
  constexpr double kMaxTrainingFrames = double(int64_t{1} << 27);
  const double frames = c.segment_s * c.samplerate;
  if (!(frames >= 1) || frames > kMaxTrainingFrames)
    bad_kwarg(subject, "segment", "times samplerate must be 1 to 2^27 frames");
  const int64_t segment_frames = c.training_frames();
  // The Hann window and every STFT frame hold nfft values; 2^16 is 16 times the official size.
  constexpr int kMaxNfft = 1 << 16;
  if (c.nfft > kMaxNfft) bad_kwarg(subject, "nfft", "must be at most " + std::to_string(kMaxNfft));
  // With strides of 2 or more, layers past 15 + 27 would have nothing left to downsample (at most
  // 2^15 bins, 2^27 frames); 64 leaves room and keeps every walk over the layers (the
  // constructor, parameter_count) short.
  constexpr int kMaxDepth = 64;
  if (c.depth > kMaxDepth)
    bad_kwarg(subject, "depth", "must be at most " + std::to_string(kMaxDepth));
  // Time layers pad their input to a multiple of the stride and by kernel_size / 4 and context
  // frames on each side: beyond the training segment there is nothing to convolve, and the
  // padding alone would grow without bound.
  auto within_segment = [&](const char* k, int v) {
    if (v > segment_frames)
      bad_kwarg(
          subject, k,
          "must be at most the training segment (" + std::to_string(segment_frames) + " frames)");
  };
  within_segment("kernel_size", c.kernel_size);
  within_segment("stride", c.stride);
  within_segment("time_stride", c.time_stride);
  within_segment("context", c.context);
  within_segment("context_enc", c.context_enc);
  if (c.context < 0) bad_kwarg(subject, "context", "must not be negative");
  if (c.context_enc < 0) bad_kwarg(subject, "context_enc", "must not be negative");
  // DConv layer d dilates (and pads) by 2^d: past 2^27 (the longest segment) it sees only padding.
  constexpr int kMaxDConvDepth = 28;
  if (c.dconv_depth > kMaxDConvDepth)
    bad_kwarg(subject, "dconv_depth", "must be at most " + std::to_string(kMaxDConvDepth));
  if (c.t_layers > 0 && !(c.t_hidden_scale > 0))
    bad_kwarg(subject, "t_hidden_scale", "must be positive");

  const int64_t tdim = htdemucs_layout(c).transformer_dim;
  if (c.t_layers > 0 && (c.t_heads <= 0 || tdim % c.t_heads != 0))
    bad_kwarg(subject, "t_heads", "must divide the transformer width " + std::to_string(tdim));
  if (c.t_layers > 0 && tdim % 4 != 0)
    bad_kwarg(subject, "channels", "give a transformer width that is not a multiple of 4");
  return c;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

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
        torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, hidden, 3)
                              .dilation(dilation)
                              .padding(dilation)),
        torch::nn::GroupNorm(1, hidden),
        torch::nn::GELU(),
        torch::nn::Conv1d(torch::nn::Conv1dOptions(hidden, 2 * channels, 1)),
        torch::nn::GroupNorm(1, 2 * channels),
        torch::nn::GLU(torch::nn::GLUOptions(1)),
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
  for (auto& layer : layers_) x = x + layer->forward(x);
  return x;
}

namespace {

// GroupNorm(1, C) applied to every frequency row of (B, C, Fr, T) on its own, as the official
// code does after folding the rows into the batch: statistics over (C, T) per (b, row).
torch::Tensor row_group_norm(const torch::Tensor& x, const torch::nn::GroupNormImpl& gn) {
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
    auto g = torch::conv2d(x, c1->weight.unsqueeze(2), c1->bias, stride, padding, dilation);
    g = torch::gelu(row_group_norm(g, *n1));  // (B, h, Fr, T), h = C / compress: small

    const int64_t B = g.size(0), h = g.size(1), Fr = g.size(2), T = g.size(3);
    const int64_t C2 = c2->weight.size(0), C = C2 / 2;
    auto gd = g.to(torch::kDouble);
    auto mu = gd.mean(3).permute({0, 2, 1});                               // (B, Fr, h)
    auto rows = gd.permute({0, 2, 1, 3});                                   // (B, Fr, h, T)
    auto G = torch::matmul(rows, rows.transpose(-1, -2)) / static_cast<double>(T);  // (B,Fr,h,h)
    auto W = c2->weight.squeeze(-1).to(torch::kDouble);                     // (2C, h)
    auto bb = c2->bias.to(torch::kDouble);                                  // (2C)
    auto mean = torch::matmul(mu, W.sum(0)) / static_cast<double>(C2) + bb.mean();  // (B, Fr)
    auto WtW = torch::matmul(W.t(), W);                                     // (h, h)
    auto ex2 = ((G * WtW).sum({-1, -2}) + 2.0 * torch::matmul(mu, torch::matmul(W.t(), bb)) +
                (bb * bb).sum()) /
               static_cast<double>(C2);
    auto var = (ex2 - mean * mean).clamp_min(0.0);
    auto rstd = torch::rsqrt(var + n2->options.eps());                      // (B, Fr)

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
          "rewrite", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.chout, 2 * s.chout, k)
                                           .padding(s.context)));
    else
      rewrite1d_ = register_module(
          "rewrite", torch::nn::Conv1d(torch::nn::Conv1dOptions(s.chout, 2 * s.chout, k)
                                           .padding(s.context)));
    if (s.norm)
      norm2_ = register_module("norm2", torch::nn::GroupNorm(s.norm_groups, 2 * s.chout));
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

// HEncLayerImpl's parameters, registered as in its constructor above.
Count henc_params(const LayerSpec& s) {
  Count n = conv_params(s.chin, s.chout, Count(s.kernel_size));  // "conv", kernel (K, 1) or K
  if (s.empty) return n;
  if (s.norm) n += norm_params(s.chout);  // norm1
  return n + rewrite_dconv_params(s, s.chout);
}

}  // namespace

torch::Tensor HEncLayerImpl::forward(torch::Tensor x, const torch::Tensor& inject) {
  if (!spec_.freq && x.dim() == 4) x = x.view({x.size(0), -1, x.size(3)});
  if (!spec_.freq) {
    const auto le = x.size(-1);
    if (le % spec_.stride != 0) x = F::pad(x, F::PadFuncOptions({0, spec_.stride - le % spec_.stride}));
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
  if (norm1_) y = norm1_->forward(y);
  y = torch::gelu(y);
  if (dconv_) y = spec_.freq ? dconv_->forward_rows(y) : dconv_->forward(y);
  if (spec_.rewrite) {
    auto z = spec_.freq ? rewrite2d_->forward(y) : rewrite1d_->forward(y);
    if (norm2_) z = norm2_->forward(z);
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
        "conv_tr", torch::nn::ConvTranspose1d(
                       torch::nn::ConvTranspose1dOptions(s.chin, s.chout, s.kernel_size)
                           .stride(s.stride)));
  }
  if (s.norm) norm2_ = register_module("norm2", torch::nn::GroupNorm(s.norm_groups, s.chout));
  if (s.empty) return;
  if (s.rewrite) {
    const int64_t k = 1 + 2 * int64_t{s.context};
    if (s.freq)
      rewrite2d_ = register_module(
          "rewrite", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.chin, 2 * s.chin, k)
                                           .padding(s.context)));
    else
      rewrite1d_ = register_module(
          "rewrite", torch::nn::Conv1d(torch::nn::Conv1dOptions(s.chin, 2 * s.chin, k)
                                           .padding(s.context)));
    if (s.norm) norm1_ = register_module("norm1", torch::nn::GroupNorm(s.norm_groups, 2 * s.chin));
  }
  if (s.dconv) dconv_ = register_module("dconv", DConv(s.chin, s.dconv_comp, s.dconv_depth));
}

namespace {

// HDecLayerImpl's parameters, registered as in its constructor above.
Count hdec_params(const LayerSpec& s) {
  Count n = conv_params(s.chin, s.chout, Count(s.kernel_size));  // "conv_tr", kernel (K, 1) or K
  if (s.norm) n += norm_params(s.chout);                         // norm2
  if (s.empty) return n;
  return n + rewrite_dconv_params(s, s.chin);
}

}  // namespace

torch::Tensor HDecLayerImpl::conv_tr_freq(const torch::Tensor& y) {
  // ConvTranspose2d with kernel (K, 1) and stride (S, 1) over the frequency axis, as one matrix
  // product and an overlap-add. libtorch 1.13 runs this layer on a slow im2col path (33 GFLOP/s
  // here against ~200 for a plain matrix product). Falls back when K is not a multiple of S.
  const auto& w = conv_tr2d_->weight;  // (Cin, Cout, K, 1)
  const int64_t K = w.size(2), Sd = spec_.stride;
  if (K % Sd != 0 || y.dim() != 4) return conv_tr2d_->forward(y);
  const int64_t B = y.size(0), Cin = y.size(1), Fr = y.size(2), T = y.size(3);
  const int64_t Cout = w.size(1), G = K / Sd;
  const auto wt = w.reshape({Cin, Cout * K}).t();
  auto yf = y.reshape({B, Cin, Fr * T});
  std::vector<torch::Tensor> zs;
  for (int64_t b = 0; b < B; ++b) zs.push_back(torch::mm(wt, yf[b]));  // plain GEMMs, not bmm
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
  const auto wt = w.reshape({Cin, Cout * K}).t();
  std::vector<torch::Tensor> zs;
  for (int64_t b = 0; b < B; ++b) zs.push_back(torch::mm(wt, y[b]));  // (Cout*K, L) each
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
      if (norm1_) r = norm1_->forward(r);
      y = torch::glu(r, 1);
    } else {
      y = x;
    }
    if (dconv_) y = spec_.freq ? dconv_->forward_rows(y) : dconv_->forward(y);
  } else {
    y = x;
  }
  torch::Tensor z = spec_.freq ? conv_tr_freq(y) : conv_tr_time(y);
  if (norm2_) z = norm2_->forward(z);
  if (spec_.freq) {
    if (pad_) z = z.index({"...", Slice(pad_, -pad_), Slice()});
  } else {
    z = z.index({"...", Slice(pad_, pad_ + length)});
    TORCH_CHECK(z.size(-1) == length, "HDecLayer: length mismatch");
  }
  if (!spec_.last) z = torch::gelu(z);
  return {z, y};
}

// ---------------------------------------------------------------------------------------------
// Transformer

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim, int64_t heads)
    : dim_(dim), heads_(heads) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}), false);
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * dim}), false);
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
}

namespace {

// MultiheadAttentionImpl's parameters: packed in-projection (3 dim x dim and 3 dim) and out_proj.
Count attention_params(Count dim) { return 3 * dim * dim + 3 * dim + linear_params(dim, dim); }

}  // namespace

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& q_in, const torch::Tensor& kv_in) {
  // q_in: (B, T, C); kv_in: (B, S, C). Same arithmetic as torch's multi_head_attention_forward:
  // projections, q scaled by 1/sqrt(head_dim), softmax(q k^T) v, output projection.
  const auto B = q_in.size(0), T = q_in.size(1), S = kv_in.size(1);
  const auto dh = dim_ / heads_;
  auto w = in_proj_weight.chunk(3, 0);
  auto b = in_proj_bias.chunk(3, 0);
  auto q = torch::linear(q_in, w[0], b[0]);
  auto k = torch::linear(kv_in, w[1], b[1]);
  auto v = torch::linear(kv_in, w[2], b[2]);
  q.div_(std::sqrt(static_cast<double>(dh)));
  // One head at a time as plain matrix products on strided (row, head-column) views, which go
  // straight to the BLAS: libtorch 1.13's CPU bmm splits batches over threads and runs each
  // product single-threaded, about 5x slower here. Queries go in blocks so that a block's scores
  // (block x S) stay small; each row is computed whole, so the arithmetic is unchanged.
  const int64_t block =
      std::max<int64_t>(64, kAttentionBlockBytes / (static_cast<int64_t>(sizeof(float)) * S));
  auto out = torch::empty({B, T, dim_}, q.options());
  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t h = 0; h < heads_; ++h) {
      auto qh = q[bi].narrow(1, h * dh, dh);          // (T, dh), row stride C
      auto kh_t = k[bi].narrow(1, h * dh, dh).t();    // (dh, S)
      auto vh = v[bi].narrow(1, h * dh, dh);          // (S, dh)
      auto oh = out[bi].narrow(1, h * dh, dh);
      for (int64_t start = 0; start < T; start += block) {
        const int64_t n = std::min(block, T - start);
        auto scores = torch::mm(qh.narrow(0, start, n), kh_t);  // (n, S)
        torch::Tensor attn = torch::softmax(scores, -1);
        oh.narrow(0, start, n).copy_(torch::mm(attn, vh));
      }
    }
  }
  return out_proj_->forward(out);
}

TransformerLayerImpl::TransformerLayerImpl(const HTDemucsConfig& cfg, int64_t dim, bool cross)
    : cross_(cross), norm_first_(cfg.t_norm_first), gelu_(cfg.t_gelu) {
  attn_ = register_module(cross ? "cross_attn" : "self_attn", MultiheadAttention(dim, cfg.t_heads));
  const int64_t hidden = ff_hidden(dim, cfg.t_hidden_scale);
  linear1_ = register_module("linear1", torch::nn::Linear(dim, hidden));
  linear2_ = register_module("linear2", torch::nn::Linear(hidden, dim));
  auto ln = [&](const char* name) {
    return register_module(name, torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
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
  auto h = linear1_->forward(x);
  h = gelu_ ? torch::gelu(h) : torch::relu(h);
  return linear2_->forward(h);
}

torch::Tensor TransformerLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& other) {
  auto g1 = [&](const torch::Tensor& t) { return gamma1_ ? gamma1_->forward(t) : t; };
  auto g2 = [&](const torch::Tensor& t) { return gamma2_ ? gamma2_->forward(t) : t; };
  torch::Tensor y;
  if (norm_first_) {
    if (cross_) {
      y = x + g1(attn_->forward(norm1_->forward(x), norm2_->forward(other)));
      y = y + g2(ff(norm3_->forward(y)));
    } else {
      auto n = norm1_->forward(x);
      y = x + g1(attn_->forward(n, n));
      y = y + g2(ff(norm2_->forward(y)));
    }
    if (norm_out_) y = norm_out_->forward(y.transpose(1, 2)).transpose(1, 2);
  } else {
    y = norm1_->forward(x + g1(attn_->forward(x, cross_ ? other : x)));
    y = norm2_->forward(y + g2(ff(y)));
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

namespace {

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

}  // namespace

std::pair<torch::Tensor, torch::Tensor> CrossTransformerEncoderImpl::forward(torch::Tensor x,
                                                                             torch::Tensor xt,
                                                                             const TraceFn& trace) {
  const auto B = x.size(0), C = x.size(1), Fr = x.size(2), T1 = x.size(3);
  auto pos2d = sin_embedding_2d(C, Fr, T1, cfg_.t_max_period).to(x.device());
  pos2d = pos2d.permute({0, 3, 2, 1}).reshape({1, T1 * Fr, C});  // b c fr t1 -> b (t1 fr) c
  x = x.permute({0, 3, 2, 1}).reshape({B, T1 * Fr, C});
  if (norm_in_) x = norm_in_->forward(x);
  x = x + cfg_.t_weight_pos_embed * pos2d;

  const auto T2 = xt.size(2);
  xt = xt.permute({0, 2, 1});  // b c t2 -> b t2 c
  auto pos1d = sin_embedding(T2, C, cfg_.t_max_period).to(x.device());
  if (norm_in_t_) xt = norm_in_t_->forward(xt);
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

// ---------------------------------------------------------------------------------------------
// The model

HTDemucsLayout htdemucs_layout(const HTDemucsConfig& cfg) {
  // The layer loop of htdemucs.HTDemucs.__init__, with saturating products.
  HTDemucsLayout l;
  const int64_t nsrc = static_cast<int64_t>(cfg.sources.size());
  int64_t chin = cfg.audio_channels;
  int64_t chin_z = cfg.cac ? saturating_mul(chin, 2) : chin;
  int64_t chout = cfg.channels_time ? cfg.channels_time : cfg.channels;
  int64_t chout_z = cfg.channels;
  int64_t freqs = cfg.nfft / 2;
  for (int index = 0; index < cfg.depth; ++index) {
    const bool norm = index >= cfg.norm_starts;
    const bool freq = freqs > 1;
    int64_t stri = cfg.stride, ker = cfg.kernel_size;
    if (!freq) {
      ker = int64_t{cfg.time_stride} * 2;
      stri = cfg.time_stride;
    }
    bool pad = true, last_freq = false;
    if (freq && freqs <= cfg.kernel_size) {
      ker = freqs;
      pad = false;
      last_freq = true;
    }
    LayerSpec kw;
    kw.kernel_size = ker;
    kw.stride = stri;
    kw.freq = freq;
    kw.pad = pad;
    kw.norm = norm;
    kw.rewrite = cfg.rewrite;
    kw.norm_groups = cfg.norm_groups;
    kw.dconv_comp = cfg.dconv_comp;
    kw.dconv_depth = cfg.dconv_depth;
    LayerSpec kwt = kw;
    kwt.freq = false;
    kwt.kernel_size = cfg.kernel_size;
    kwt.stride = cfg.stride;
    kwt.pad = true;
    if (last_freq) {
      chout_z = std::max(chout, chout_z);
      chout = chout_z;
    }
    LayerSpec enc = kw;
    enc.chin = chin_z;
    enc.chout = chout_z;
    enc.dconv = cfg.dconv_mode & 1;
    enc.context = cfg.context_enc;
    l.encoder.push_back(enc);
    if (freq) {
      LayerSpec tenc = kwt;
      tenc.chin = chin;
      tenc.chout = chout;
      tenc.dconv = cfg.dconv_mode & 1;
      tenc.context = cfg.context_enc;
      tenc.empty = last_freq;
      l.tencoder.push_back(tenc);
    }
    if (index == 0) {
      chin = saturating_mul(cfg.audio_channels, nsrc);
      chin_z = cfg.cac ? saturating_mul(chin, 2) : chin;
    }
    LayerSpec dec = kw;
    dec.chin = chout_z;
    dec.chout = chin_z;
    dec.dconv = cfg.dconv_mode & 2;
    dec.last = index == 0;
    dec.context = cfg.context;
    l.decoder.push_back(dec);
    if (freq) {
      LayerSpec tdec = kwt;
      tdec.chin = chout;
      tdec.chout = chin;
      tdec.dconv = cfg.dconv_mode & 2;
      tdec.empty = last_freq;
      tdec.last = index == 0;
      tdec.context = cfg.context;
      l.tdecoder.push_back(tdec);
    }
    chin = chout;
    chin_z = chout_z;
    chout = saturating_mul(cfg.growth, chout);
    chout_z = saturating_mul(cfg.growth, chout_z);
    if (freq) freqs = freqs <= cfg.kernel_size ? 1 : freqs / cfg.stride;
    if (index == 0 && cfg.freq_emb != 0) {
      l.freq_emb = true;
      l.freq_emb_rows = freqs;
      l.freq_emb_dim = chin_z;
    }
  }
  l.bottleneck_channels = cfg.channels;
  for (int i = 1; i < cfg.depth; ++i)
    l.bottleneck_channels = saturating_mul(l.bottleneck_channels, cfg.growth);
  l.transformer_dim = cfg.bottom_channels ? cfg.bottom_channels : l.bottleneck_channels;
  return l;
}

int64_t HTDemucsConfig::parameter_count() const {
  // The modules of HTDemucsImpl's constructor below, each counted next to its own constructor.
  const HTDemucsLayout l = htdemucs_layout(*this);
  Count n = 0;
  for (const auto& s : l.encoder) n += henc_params(s);
  for (const auto& s : l.tencoder) n += henc_params(s);
  for (const auto& s : l.decoder) n += hdec_params(s);
  for (const auto& s : l.tdecoder) n += hdec_params(s);
  if (l.freq_emb) n += Count(l.freq_emb_rows) * Count(l.freq_emb_dim);  // Embedding weight
  if (bottom_channels) {
    // channel_upsampler(_t): Conv1d(C, bottom, 1); channel_downsampler(_t): Conv1d(bottom, C, 1).
    const Count c = l.bottleneck_channels, b = bottom_channels;
    n += 2 * (conv_params(c, b, 1) + conv_params(b, c, 1));
  }
  if (t_layers > 0) n += crosstransformer_params(*this, l.transformer_dim);
  return saturate(n);
}

HTDemucsImpl::HTDemucsImpl(const HTDemucsConfig& cfg) : cfg_(cfg) {
  const HTDemucsLayout layout = htdemucs_layout(cfg);
  // Built in the order of the official constructor (depth by depth: encoder, tencoder, decoder,
  // tdecoder, and freq_emb after depth 0), registered under the official names.
  std::vector<HDecLayer> dec_rev, tdec_rev;
  for (size_t index = 0; index < layout.encoder.size(); ++index) {
    encoder_.push_back(HEncLayer(layout.encoder[index]));
    if (index < layout.tencoder.size()) tencoder_.push_back(HEncLayer(layout.tencoder[index]));
    dec_rev.push_back(HDecLayer(layout.decoder[index]));
    if (index < layout.tdecoder.size()) tdec_rev.push_back(HDecLayer(layout.tdecoder[index]));
    if (index == 0 && layout.freq_emb) {
      freq_emb_holder_ = register_module("freq_emb", std::make_shared<torch::nn::Module>());
      freq_emb_ = freq_emb_holder_->register_module(
          "embedding", torch::nn::Embedding(layout.freq_emb_rows, layout.freq_emb_dim));
    }
  }
  decoder_.assign(dec_rev.rbegin(), dec_rev.rend());
  tdecoder_.assign(tdec_rev.rbegin(), tdec_rev.rend());
  auto reg = [&](const char* name, auto& layers) {
    auto list = register_module(name, torch::nn::ModuleList());
    for (auto& l : layers) list->push_back(l);
  };
  reg("encoder", encoder_);
  reg("decoder", decoder_);
  reg("tencoder", tencoder_);
  reg("tdecoder", tdecoder_);

  if (cfg.bottom_channels) {
    auto conv = [&](const char* name, int64_t a, int64_t b) {
      return register_module(name, torch::nn::Conv1d(torch::nn::Conv1dOptions(a, b, 1)));
    };
    const int64_t tch = layout.bottleneck_channels;
    channel_upsampler_ = conv("channel_upsampler", tch, cfg.bottom_channels);
    channel_downsampler_ = conv("channel_downsampler", cfg.bottom_channels, tch);
    channel_upsampler_t_ = conv("channel_upsampler_t", tch, cfg.bottom_channels);
    channel_downsampler_t_ = conv("channel_downsampler_t", cfg.bottom_channels, tch);
  }
  if (cfg.t_layers > 0)
    crosstransformer_ =
        register_module("crosstransformer", CrossTransformerEncoder(cfg, layout.transformer_dim));
  window_ = torch::hann_window(cfg.nfft);
}

torch::Tensor HTDemucsImpl::spec(const torch::Tensor& x) const {
  // htdemucs._spec: re-pad so the frame count is exactly length / hop, STFT, drop the last bin
  // and the two frames of each side.
  const int64_t hl = cfg_.nfft / 4;
  const int64_t length = x.size(-1);
  const int64_t le = (length + hl - 1) / hl;
  const int64_t pad = hl / 2 * 3;
  auto padded = F::pad(x, F::PadFuncOptions({pad, pad + le * hl - length}).mode(torch::kReflect));
  const auto B = x.size(0), C = x.size(1);
  auto flat = padded.reshape({-1, padded.size(-1)});
  auto z = torch::stft(flat, cfg_.nfft, hl, cfg_.nfft, window_.to(x.device()), /*center=*/true,
                       "reflect", /*normalized=*/true, /*onesided=*/true, /*return_complex=*/true);
  z = z.view({B, C, z.size(-2), z.size(-1)});
  TORCH_CHECK(z.size(-1) == le + 4, "HTDemucs._spec: unexpected frame count");
  return z.index({"...", Slice(None, -1), Slice(2, 2 + le)});
}

torch::Tensor HTDemucsImpl::ispec(const torch::Tensor& z, int64_t length) const {
  // htdemucs._ispec with scale 0: pad the dropped bin and the 2+2 frames back, iSTFT, crop.
  const int64_t hl = cfg_.nfft / 4;
  auto zr = torch::view_as_real(z);  // (..., Fr, T, 2)
  zr = F::pad(zr, F::PadFuncOptions({0, 0, 2, 2, 0, 1}));
  auto zc = torch::view_as_complex(zr.contiguous());
  const int64_t pad = hl / 2 * 3;
  const int64_t le = hl * ((length + hl - 1) / hl) + 2 * pad;
  std::vector<int64_t> lead(zc.sizes().begin(), zc.sizes().end() - 2);
  auto flat = zc.reshape({-1, zc.size(-2), zc.size(-1)});
  auto x = istft(flat, hl, le);
  lead.push_back(x.size(-1));
  x = x.view(lead);
  return x.index({"...", Slice(pad, pad + length)});
}

torch::Tensor HTDemucsImpl::istft(const torch::Tensor& z, int64_t hop, int64_t length) const {
  // torch.istft(z, n_fft, hop, window=hann, center=True, normalized=True, length=length) for
  // hop = n_fft / 4, with the overlap-add done as four shifted additions: libtorch 1.13 does it
  // through col2im, which took 2/3 of the iSTFT's time here.
  const int64_t n_fft = cfg_.nfft;
  if (n_fft != 4 * hop) {
    return torch::istft(z, n_fft, hop, n_fft, window_.to(z.device()), true, true, c10::nullopt,
                        length);
  }
  const int64_t N = z.size(0), T = z.size(2);
  const auto window = window_.to(z.device());
  // Frames: inverse real FFT scaled by 1/sqrt(n_fft) (normalized=True), times the window.
  auto frames = torch::fft_irfft(z.transpose(1, 2), n_fft, -1, "ortho").mul_(window);  // (N,T,n_fft)
  auto f4 = frames.view({N, T, 4, hop});
  auto out = torch::zeros({N, T + 3, hop}, frames.options());
  for (int64_t j = 0; j < 4; ++j) out.narrow(1, j, T).add_(f4.select(2, j));
  auto w2 = (window * window).view({4, hop});
  auto env = torch::zeros({T + 3, hop}, frames.options());
  for (int64_t j = 0; j < 4; ++j) env.narrow(0, j, T).add_(w2[j].expand({T, hop}));
  const int64_t start = n_fft / 2;
  auto y = out.view({N, (T + 3) * hop}).narrow(1, start, length);
  auto e = env.view({(T + 3) * hop}).narrow(0, start, length);
  TORCH_CHECK(e.abs().min().item<float>() > 1e-11, "istft: window overlap-add is zero");
  return y / e;
}

torch::Tensor HTDemucsImpl::forward(const torch::Tensor& mix_in, const TraceFn& trace) {
  const int64_t length = mix_in.size(-1);
  const int64_t training_length = cfg_.training_frames();
  TORCH_CHECK(length <= training_length, "HTDemucs: input longer than the training segment");
  torch::Tensor mix = mix_in;
  if (length < training_length) mix = F::pad(mix, F::PadFuncOptions({0, training_length - length}));
  if (trace) trace("model.in", mix_in);

  auto z = spec(mix);
  if (trace) trace("model._spec.out", torch::view_as_real(z));
  // CaC: real and imaginary parts as channels, (B, C*2, Fr, T).
  const auto B = z.size(0), C = z.size(1), Fq = z.size(2), T = z.size(3);
  auto x = torch::view_as_real(z).permute({0, 1, 4, 2, 3}).reshape({B, C * 2, Fq, T});

  auto mean = x.mean({1, 2, 3}, true);
  auto std = x.std({1, 2, 3}, /*unbiased=*/true, /*keepdim=*/true);
  x = (x - mean) / (1e-5 + std);

  auto xt = mix;
  auto meant = xt.mean({1, 2}, true);
  auto stdt = xt.std({1, 2}, true, true);
  xt = (xt - meant) / (1e-5 + stdt);

  std::vector<torch::Tensor> saved, saved_t;
  std::vector<int64_t> lengths, lengths_t;
  for (size_t idx = 0; idx < encoder_.size(); ++idx) {
    const std::string n = std::to_string(idx);
    lengths.push_back(x.size(-1));
    torch::Tensor inject;
    if (idx < tencoder_.size()) {
      lengths_t.push_back(xt.size(-1));
      if (trace && idx == 0) trace("tencoder.0.in0", xt);
      xt = tencoder_[idx]->forward(xt, {});
      if (trace) trace("tencoder." + n + ".out", xt);
      if (!tencoder_[idx]->empty())
        saved_t.push_back(xt);
      else
        inject = xt;
    }
    if (trace && idx == 0) trace("encoder.0.in0", x);
    x = encoder_[idx]->forward(x, inject);
    if (trace) trace("encoder." + n + ".out", x);
    if (idx == 0 && freq_emb_) {
      auto frs = torch::arange(x.size(-2), torch::TensorOptions().dtype(torch::kLong).device(x.device()));
      auto emb_w = freq_emb_->forward(frs) * cfg_.emb_scale;  // ScaledEmbedding.forward
      if (trace) trace("freq_emb.out", emb_w);
      auto emb = emb_w.t().unsqueeze(0).unsqueeze(-1).expand_as(x);
      x = x + cfg_.freq_emb * emb;
    }
    saved.push_back(x);
  }

  if (crosstransformer_) {
    int64_t f = 0;
    if (cfg_.bottom_channels) {
      const auto b = x.size(0), c = x.size(1), t = x.size(3);
      f = x.size(2);
      x = channel_upsampler_->forward(x.reshape({b, c, f * t}));
      if (trace) trace("channel_upsampler.out", x);
      x = x.view({b, x.size(1), f, t});
      xt = channel_upsampler_t_->forward(xt);
      if (trace) trace("channel_upsampler_t.out", xt);
    }
    if (trace) {
      trace("crosstransformer.in0", x);
      trace("crosstransformer.in1", xt);
    }
    std::tie(x, xt) = crosstransformer_->forward(x, xt, trace);
    if (trace) {
      trace("crosstransformer.out0", x);
      trace("crosstransformer.out1", xt);
    }
    if (cfg_.bottom_channels) {
      const auto b = x.size(0), c = x.size(1), t = x.size(3);
      x = channel_downsampler_->forward(x.reshape({b, c, f * t}));
      if (trace) trace("channel_downsampler.out", x);
      x = x.view({b, x.size(1), f, t});
      xt = channel_downsampler_t_->forward(xt);
      if (trace) trace("channel_downsampler_t.out", xt);
    }
  }

  const size_t offset = decoder_.size() - tdecoder_.size();
  for (size_t idx = 0; idx < decoder_.size(); ++idx) {
    const std::string n = std::to_string(idx);
    auto skip = saved.back();
    saved.pop_back();
    torch::Tensor pre;
    std::tie(x, pre) = decoder_[idx]->forward(x, skip, lengths.back());
    lengths.pop_back();
    if (trace) trace("decoder." + n + ".out0", x);
    if (idx >= offset) {
      auto& tdec = tdecoder_[idx - offset];
      const int64_t length_t = lengths_t.back();
      lengths_t.pop_back();
      if (tdec->empty()) {
        TORCH_CHECK(pre.size(2) == 1, "HTDemucs: bad merge shape");
        xt = tdec->forward(pre.select(2, 0), {}, length_t).first;
      } else {
        auto skip_t = saved_t.back();
        saved_t.pop_back();
        xt = tdec->forward(xt, skip_t, length_t).first;
      }
      if (trace) trace("tdecoder." + std::to_string(idx - offset) + ".out0", xt);
    }
  }

  const int64_t S = static_cast<int64_t>(cfg_.sources.size());
  x = x.view({B, S, -1, Fq, T});
  x = x * std.unsqueeze(1) + mean.unsqueeze(1);
  // _mask with CaC: (B, S, C*2, Fr, T) -> complex (B, S, C, Fr, T).
  auto m = x.view({B, S, -1, 2, Fq, T}).permute({0, 1, 2, 4, 5, 3}).contiguous();
  if (trace) trace("model._mask.out", m);
  auto zout = torch::view_as_complex(m);
  auto xs = ispec(zout, training_length);
  if (trace) trace("model._ispec.out", xs);

  xt = xt.view({B, S, -1, training_length});
  xt = xt * stdt.unsqueeze(1) + meant.unsqueeze(1);
  auto out = xt + xs;
  if (length < training_length) out = out.index({"...", Slice(0, length)});
  if (trace) trace("model.out", out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading

void load_state_strict(torch::nn::Module& module, const Checkpoint& ckpt, const std::string& subject) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::set<std::string> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : ckpt.state) {
    auto* p = params.find(key);
    if (!p)
      throw InputError(describe("bad checkpoint", subject, "unexpected tensor '" + key + "'"));
    std::vector<int64_t> want(p->sizes().begin(), p->sizes().end());
    if (want != t.shape) {
      auto dims = [](const std::vector<int64_t>& v) {
        std::string s;
        for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
        return s.empty() ? std::string("scalar") : s;
      };
      throw InputError(describe("bad checkpoint", subject,
                                "tensor '" + key + "' has shape " + dims(t.shape) + ", expected " +
                                    dims(want)));
    }
    auto src = torch::from_blob(const_cast<float*>(t.data.data()), t.shape, torch::kFloat);
    p->copy_(src);
    seen.insert(key);
  }
  for (const auto& item : params) {
    if (!seen.count(item.key()))
      throw InputError(describe("bad checkpoint", subject, "missing tensor '" + item.key() + "'"));
  }
}

HTDemucs load_htdemucs(const Checkpoint& ckpt, const std::string& subject) {
  if (ckpt.klass != "demucs.htdemucs.HTDemucs")
    throw InputError(describe("bad checkpoint", subject,
                              "model class " + ckpt.klass + " is not supported (HTDemucs only)"));
  if (!ckpt.args.empty())
    throw InputError(describe("bad checkpoint", subject, "positional model arguments are not supported"));
  auto cfg = HTDemucsConfig::from_kwargs(ckpt.kwargs, subject);
  // Strict loading needs a tensor of the same shape for every parameter, so a loadable model
  // never has more parameter elements than the state holds. Checked before building: the kwargs
  // alone could otherwise make the constructor allocate terabytes. A model at most twice the
  // state is still built, only so that strict loading can name the tensor that is missing (it
  // must find one): that costs no more memory than the state already takes.
  int64_t held = 0;
  for (const auto& entry : ckpt.state) held += entry.second.numel();
  const int64_t needed = cfg.parameter_count();
  if (needed > held && needed - held > held)
    throw InputError(describe("bad checkpoint", subject,
                              "its kwargs describe a model of " + std::to_string(needed) +
                                  " parameters but it holds only " + std::to_string(held) +
                                  " weights"));
  HTDemucs model(cfg);
  load_state_strict(*model, ckpt, subject);
  model->eval();
  return model;
}

}  // namespace rz::demucs
