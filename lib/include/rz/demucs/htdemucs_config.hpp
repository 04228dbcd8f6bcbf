// The constructor arguments of demucs.htdemucs.HTDemucs (htdemucs.py), read from a checkpoint's
// kwargs, and the tracing hook of the HTDemucs modules.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace rz::demucs
