// HTDemucs in libtorch: a port of demucs/htdemucs.py (configuration, layout, parameter count,
// the model and its loading); its layers are in layers.cpp and transformer.cpp.
#include "rz/demucs/htdemucs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <tuple>

#include "param_count.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/nn/state_dict.hpp"
#include "rz/nn/stft.hpp"
#include "rz/stems/manifest.hpp"

namespace rz::demucs {

namespace F = torch::nn::functional;
using torch::indexing::None;
using torch::indexing::Slice;

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
  if (!kw.is_object())
    throw InputError(describe("bad checkpoint", subject, "kwargs is not a dict"));
  // Arguments that only shape training (or initialisation): accepted, without effect here.
  static const std::set<std::string> kIgnored = {"dconv_init",
                                                 "emb_smooth",
                                                 "rescale",
                                                 "t_dropout",
                                                 "t_max_positions",
                                                 "t_weight_decay",
                                                 "t_lr",
                                                 "t_cape_mean_normalize",
                                                 "t_cape_augment",
                                                 "t_cape_glob_loc_scale",
                                                 "t_mask_type",
                                                 "t_mask_random_seed",
                                                 "t_sparse_attn_window",
                                                 "t_global_window",
                                                 "t_sparsity",
                                                 "t_auto_sparsity",
                                                 "multi_freqs_depth",
                                                 "end_iters",
                                                 "wiener_iters",
                                                 "wiener_residual"};
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
    } else if (k == "audio_channels")
      c.audio_channels = as_int(k, v);
    else if (k == "channels")
      c.channels = as_int(k, v);
    else if (k == "channels_time")
      c.channels_time = v.is_null() ? 0 : as_int(k, v);
    else if (k == "growth")
      c.growth = as_int(k, v);
    else if (k == "nfft")
      c.nfft = as_int(k, v);
    else if (k == "cac") {
      c.cac = as_bool(k, v);
      if (!c.cac) bad_kwarg(subject, k, "= False (Wiener-filtered masks) is not supported");
    } else if (k == "depth")
      c.depth = as_int(k, v);
    else if (k == "rewrite")
      c.rewrite = as_bool(k, v);
    else if (k == "multi_freqs") {
      if (!v.is_null() && !(v.is_array() && v.empty()))
        bad_kwarg(subject, k, "(MultiWrap frequency bands) is not supported");
    } else if (k == "freq_emb")
      c.freq_emb = as_num(k, v);
    else if (k == "emb_scale")
      c.emb_scale = as_num(k, v);
    else if (k == "kernel_size")
      c.kernel_size = as_int(k, v);
    else if (k == "time_stride")
      c.time_stride = as_int(k, v);
    else if (k == "stride")
      c.stride = as_int(k, v);
    else if (k == "context")
      c.context = as_int(k, v);
    else if (k == "context_enc")
      c.context_enc = as_int(k, v);
    else if (k == "norm_starts")
      c.norm_starts = as_int(k, v);
    else if (k == "norm_groups")
      c.norm_groups = as_int(k, v);
    else if (k == "dconv_mode")
      c.dconv_mode = as_int(k, v);
    else if (k == "dconv_depth")
      c.dconv_depth = as_int(k, v);
    else if (k == "dconv_comp")
      c.dconv_comp = as_num(k, v);
    else if (k == "bottom_channels")
      c.bottom_channels = as_int(k, v);
    else if (k == "t_layers")
      c.t_layers = as_int(k, v);
    else if (k == "t_emb") {
      if (!v.is_string() || v.get<std::string>() != "sin")
        bad_kwarg(subject, k,
                  "= " + in_quotes(io::dump_json(v)) + " is not supported (only 'sin')");
    } else if (k == "t_hidden_scale")
      c.t_hidden_scale = as_num(k, v);
    else if (k == "t_heads")
      c.t_heads = as_int(k, v);
    else if (k == "t_norm_in")
      c.t_norm_in = as_bool(k, v);
    else if (k == "t_norm_in_group" || k == "t_group_norm" || k == "t_sparse_self_attn" ||
             k == "t_sparse_cross_attn" || k == "t_sin_random_shift") {
      if (!(v.is_null() || (v.is_boolean() && !v.get<bool>()) ||
            (v.is_number() && v.get<double>() == 0)))
        bad_kwarg(subject, k, "= " + in_quotes(io::dump_json(v)) + " is not supported");
    } else if (k == "t_norm_first")
      c.t_norm_first = as_bool(k, v);
    else if (k == "t_norm_out")
      c.t_norm_out = as_bool(k, v);
    else if (k == "t_max_period")
      c.t_max_period = as_num(k, v);
    else if (k == "t_layer_scale")
      c.t_layer_scale = as_bool(k, v);
    else if (k == "t_gelu")
      c.t_gelu = as_bool(k, v);
    else if (k == "t_weight_pos_embed")
      c.t_weight_pos_embed = as_num(k, v);
    else if (k == "t_cross_first")
      c.t_cross_first = as_bool(k, v);
    else if (k == "samplerate")
      c.samplerate = as_int(k, v);
    else if (k == "segment")
      c.segment_s = as_num(k, v);
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
  if (c.nfft < 16 || (c.nfft & (c.nfft - 1)) != 0)
    bad_kwarg(subject, "nfft", "must be a power of two");
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
  // htdemucs._spec: re-pad so the frame count is exactly length / hop, STFT (spec.spectro), drop
  // the last bin and the two frames of each side.
  const int64_t hl = cfg_.nfft / 4;
  const int64_t length = x.size(-1);
  const int64_t le = (length + hl - 1) / hl;
  const int64_t pad = hl / 2 * 3;
  auto padded = F::pad(x, F::PadFuncOptions({pad, pad + le * hl - length}).mode(torch::kReflect));
  auto z = rz::nn::spectro(padded, cfg_.nfft, hl, window_.to(x.device()));
  TORCH_CHECK(z.size(-1) == le + 4, "HTDemucs._spec: unexpected frame count");
  return z.index({"...", Slice(None, -1), Slice(2, 2 + le)});
}

torch::Tensor HTDemucsImpl::ispec(const torch::Tensor& z, int64_t length) const {
  // htdemucs._ispec with scale 0: pad the dropped bin and the 2+2 frames back, iSTFT
  // (spec.ispectro), crop.
  const int64_t hl = cfg_.nfft / 4;
  auto zr = torch::view_as_real(z);  // (..., Fr, T, 2)
  zr = F::pad(zr, F::PadFuncOptions({0, 0, 2, 2, 0, 1}));
  auto zc = torch::view_as_complex(zr.contiguous());
  const int64_t pad = hl / 2 * 3;
  const int64_t le = hl * ((length + hl - 1) / hl) + 2 * pad;
  auto x = rz::nn::ispectro(zc, hl, le, window_.to(z.device()));
  return x.index({"...", Slice(pad, pad + length)});
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
      auto frs =
          torch::arange(x.size(-2), torch::TensorOptions().dtype(torch::kLong).device(x.device()));
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

HTDemucs load_htdemucs(const Checkpoint& ckpt, const std::string& subject) {
  if (ckpt.klass != "demucs.htdemucs.HTDemucs")
    throw InputError(describe("bad checkpoint", subject,
                              "model class " + ckpt.klass + " is not supported (HTDemucs only)"));
  if (!ckpt.args.empty())
    throw InputError(
        describe("bad checkpoint", subject, "positional model arguments are not supported"));
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
  rz::nn::load_state_strict(*model, ckpt.state, subject);
  model->eval();
  return model;
}

}  // namespace rz::demucs
