// HTDemucs (Demucs v4, Rouard, Massa and Défossez 2023) as libtorch modules, ported from the
// official Python implementation (facebookresearch/demucs, demucs/htdemucs.py, hdemucs.py,
// demucs.py, transformer.py, spec.py). Submodules and parameters carry the official attribute
// names, so an official state dict loads strictly by name.
//
// Shapes: audio tensors are (batch, channels, frames) float32; the model always runs on its
// training segment (343,980 frames for htdemucs): shorter input is zero-padded on the right and
// the output cropped back, as the official forward does in eval mode.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/demucs/checkpoint.hpp"

namespace rz::demucs {

// The constructor arguments of demucs.htdemucs.HTDemucs that matter at inference, with the
// official defaults. Training-only arguments (dropout, weight decay, init scales, sparsity and
// CAPE settings that only apply in training) are accepted and ignored.
struct HTDemucsConfig {
  std::vector<std::string> sources;
  int audio_channels = 2;
  int channels = 48;
  int channels_time = 0;  // 0: same as channels
  int growth = 2;
  int nfft = 4096;
  bool cac = true;
  int depth = 4;
  bool rewrite = true;
  double freq_emb = 0.2;
  double emb_scale = 10;
  int kernel_size = 8;
  int time_stride = 2;
  int stride = 4;
  int context = 1;
  int context_enc = 0;
  int norm_starts = 4;
  int norm_groups = 4;
  int dconv_mode = 1;
  int dconv_depth = 2;
  double dconv_comp = 8;
  int bottom_channels = 0;
  int t_layers = 5;
  double t_hidden_scale = 4.0;
  int t_heads = 8;
  bool t_norm_in = true;
  bool t_norm_first = true;
  bool t_norm_out = true;
  double t_max_period = 10000.0;
  bool t_layer_scale = true;
  bool t_gelu = true;
  double t_weight_pos_embed = 1.0;
  bool t_cross_first = false;
  int samplerate = 44100;
  double segment_s = 10;  // the checkpoint's Fraction, as seconds

  // The model's fixed input length: int(segment * samplerate), with the Fraction made exact.
  int64_t training_frames() const;

  // The exact number of parameter elements (the sum of numel() over parameters()) that
  // HTDemucs(*this) registers, computed without building anything: from htdemucs_layout(), the
  // same description of the layers the constructor builds. Arithmetic cannot overflow; a count of
  // 2^63 or more is returned as INT64_MAX. Time and memory are linear in `depth` (at most 64 for
  // a config from from_kwargs) and independent of every width and of `t_layers`. Meaningful for
  // positive widths, as from_kwargs guarantees.
  int64_t parameter_count() const;

  // Reads the kwargs of a checkpoint. Throws InputError naming the first argument this port does
  // not implement (Wiener filtering, multi_freqs, sparse attention, CAPE or scaled positional
  // embeddings, group-norm transformer variants, ...) or an unknown argument, or a value that is
  // absurd on its own whatever the weights (bounds generous against the official 44100 Hz,
  // nfft 4096, segment 7.8 s, depth 4): samplerate 1..768000 Hz; segment * samplerate 1..2^27
  // frames; nfft a power of two 16..65536; depth 1..64; kernel_size, stride, time_stride and
  // context(_enc) at most the training segment's frames, context(_enc) >= 0; dconv_depth <= 28;
  // channels_time, bottom_channels >= 0; t_hidden_scale > 0 when t_layers > 0. Widths are not
  // bounded here: a checkpoint's weights bound them (load_htdemucs).
  static HTDemucsConfig from_kwargs(const nlohmann::json& kwargs, const std::string& subject);
};

// Called with the name of an intermediate tensor (the activation names of
// ../shared/demucs/activations, e.g. "encoder.0.out", "crosstransformer.out1", "model._ispec.out")
// and its value. For parity tests; empty in normal use.
using TraceFn = std::function<void(const std::string& name, const torch::Tensor& value)>;

// ---- building blocks (hdemucs.py / demucs.py / transformer.py) ----

class LayerScaleImpl : public torch::nn::Module {
 public:
  LayerScaleImpl(int64_t channels, bool channel_last);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor scale;

 private:
  bool channel_last_;
};
TORCH_MODULE(LayerScale);

// Residual branch of dilated 1-D convolutions (demucs.DConv with GroupNorm(1) and GELU, no LSTM
// or attention: HTDemucs never enables them).
class DConvImpl : public torch::nn::Module {
 public:
  DConvImpl(int64_t channels, double compress, int depth);
  torch::Tensor forward(torch::Tensor x);
  // forward() applied to every frequency row of a (B, C, Fr, T) tensor independently.
  torch::Tensor forward_rows(torch::Tensor x);

 private:
  std::vector<torch::nn::Sequential> layers_;
};
TORCH_MODULE(DConv);

struct LayerSpec {
  int64_t chin = 0, chout = 0;
  int64_t kernel_size = 8, stride = 4;
  bool freq = true, pad = true, norm = false, rewrite = true, empty = false, dconv = false;
  int norm_groups = 4, context = 0;
  double dconv_comp = 8;
  int dconv_depth = 2;
  bool last = false;  // decoder only
};

// What a configuration builds, layer by layer: the one piece of code that walks HTDemucs'
// depth (channel growth, frequency bins left, last frequency layer, time-only layers), used both
// by the HTDemucs constructor and by HTDemucsConfig::parameter_count() so that the two cannot
// drift apart. Pure: no tensors. Channel counts saturate at INT64_MAX instead of overflowing.
struct HTDemucsLayout {
  // Index i: the layers at depth i, 0 being next to the audio; decoder[i] undoes encoder[i] (the
  // model registers the decoders innermost first: decoder[i] is "decoder.<depth-1-i>"). The time
  // branch has layers only at the depths where the spectrogram still has several bins, a prefix:
  // tencoder.size() == tdecoder.size() <= depth; the same reversal names the tdecoders.
  std::vector<LayerSpec> encoder, decoder, tencoder, tdecoder;
  // "freq_emb.embedding": Embedding(freq_emb_rows, freq_emb_dim), present when freq_emb != 0.
  bool freq_emb = false;
  int64_t freq_emb_rows = 0, freq_emb_dim = 0;
  // channels * growth^(depth-1), as the official code computes the transformer's input width.
  int64_t bottleneck_channels = 0;
  // Width of the transformer: bottom_channels when set (1x1 convolutions map between the two),
  // else bottleneck_channels.
  int64_t transformer_dim = 0;
};
HTDemucsLayout htdemucs_layout(const HTDemucsConfig& cfg);

class HEncLayerImpl : public torch::nn::Module {
 public:
  explicit HEncLayerImpl(const LayerSpec& spec);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& inject);
  bool empty() const { return spec_.empty; }

 private:
  LayerSpec spec_;
  int64_t pad_;
  torch::nn::Conv1d conv1d_{nullptr};
  torch::nn::Conv2d conv2d_{nullptr};
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv1d rewrite1d_{nullptr};
  torch::nn::Conv2d rewrite2d_{nullptr};
  DConv dconv_{nullptr};
};
TORCH_MODULE(HEncLayer);

class HDecLayerImpl : public torch::nn::Module {
 public:
  explicit HDecLayerImpl(const LayerSpec& spec);
  // Returns (output, pre): `pre` is the input of the final transposed convolution.
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor x, const torch::Tensor& skip,
                                                  int64_t length);
  bool empty() const { return spec_.empty; }

 private:
  torch::Tensor conv_tr_freq(const torch::Tensor& y);
  torch::Tensor conv_tr_time(const torch::Tensor& y);
  LayerSpec spec_;
  int64_t pad_;
  torch::nn::ConvTranspose1d conv_tr1d_{nullptr};
  torch::nn::ConvTranspose2d conv_tr2d_{nullptr};
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv1d rewrite1d_{nullptr};
  torch::nn::Conv2d rewrite2d_{nullptr};
  DConv dconv_{nullptr};
};
TORCH_MODULE(HDecLayer);

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

// MyTransformerEncoderLayer (self-attention) or CrossTransformerEncoderLayer (cross-attention).
class TransformerLayerImpl : public torch::nn::Module {
 public:
  TransformerLayerImpl(const HTDemucsConfig& cfg, int64_t dim, bool cross);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& other);

 private:
  torch::Tensor ff(const torch::Tensor& x);
  bool cross_, norm_first_, gelu_;
  MultiheadAttention attn_{nullptr};
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

class HTDemucsImpl : public torch::nn::Module {
 public:
  explicit HTDemucsImpl(const HTDemucsConfig& cfg);
  // mix: (batch, audio_channels, frames) with frames <= training_frames(), already normalised by
  // the caller like demucs' apply does. Returns (batch, sources, audio_channels, frames).
  torch::Tensor forward(const torch::Tensor& mix, const TraceFn& trace = {});
  const HTDemucsConfig& config() const { return cfg_; }

 private:
  torch::Tensor spec(const torch::Tensor& x) const;
  torch::Tensor ispec(const torch::Tensor& z, int64_t length) const;
  torch::Tensor istft(const torch::Tensor& z, int64_t hop, int64_t length) const;

  HTDemucsConfig cfg_;
  std::vector<HEncLayer> encoder_, tencoder_;
  std::vector<HDecLayer> decoder_, tdecoder_;
  std::shared_ptr<torch::nn::Module> freq_emb_holder_;  // "freq_emb" (ScaledEmbedding)
  torch::nn::Embedding freq_emb_{nullptr};               // "freq_emb.embedding"
  torch::nn::Conv1d channel_upsampler_{nullptr}, channel_downsampler_{nullptr};
  torch::nn::Conv1d channel_upsampler_t_{nullptr}, channel_downsampler_t_{nullptr};
  CrossTransformerEncoder crosstransformer_{nullptr};
  torch::Tensor window_;
};
TORCH_MODULE(HTDemucs);

// Copies a checkpoint's state into `module` by name, widened to fp32 on `module`'s device.
// Strict: throws InputError ("bad checkpoint '<subject>': ...") naming the first missing,
// unexpected or mis-shaped parameter.
void load_state_strict(torch::nn::Module& module, const Checkpoint& ckpt, const std::string& subject);

// Reads, checks and builds a model from an official checkpoint: HTDemucs class only, kwargs
// validated, state loaded strictly, eval mode. Throws InputError. A model whose
// parameter_count() exceeds the elements the checkpoint holds cannot load; when it exceeds twice
// that, it is refused before anything is built ("its kwargs describe a model of N parameters but
// it holds only M weights"), so hostile kwargs cannot make it allocate more than twice the
// checkpoint's own weights. Smaller excesses are built and refused by strict loading, which names
// a missing tensor.
HTDemucs load_htdemucs(const Checkpoint& ckpt, const std::string& subject);

}  // namespace rz::demucs
