// HTDemucs (Demucs v4, Rouard, Massa and Défossez 2023) as libtorch modules, ported from the
// official Python implementation (facebookresearch/demucs, demucs/htdemucs.py, hdemucs.py,
// demucs.py, transformer.py, spec.py). Submodules and parameters carry the official attribute
// names, so an official state dict loads strictly by name. The modules are split like the
// reference: layers.hpp (demucs.py, hdemucs.py), transformer.hpp (transformer.py), this file
// (htdemucs.py); the STFT of spec.py, attention and strict loading are in rz/nn.
//
// Shapes: audio tensors are (batch, channels, frames) float32; the model always runs on its
// training segment (343,980 frames for htdemucs): shorter input is zero-padded on the right and
// the output cropped back, as the official forward does in eval mode.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rz/demucs/checkpoint.hpp"
#include "rz/demucs/htdemucs_config.hpp"
#include "rz/demucs/layers.hpp"
#include "rz/demucs/transformer.hpp"

namespace rz::demucs {

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

  HTDemucsConfig cfg_;
  std::vector<HEncLayer> encoder_, tencoder_;
  std::vector<HDecLayer> decoder_, tdecoder_;
  std::shared_ptr<torch::nn::Module> freq_emb_holder_;  // "freq_emb" (ScaledEmbedding)
  torch::nn::Embedding freq_emb_{nullptr};              // "freq_emb.embedding"
  torch::nn::Conv1d channel_upsampler_{nullptr}, channel_downsampler_{nullptr};
  torch::nn::Conv1d channel_upsampler_t_{nullptr}, channel_downsampler_t_{nullptr};
  CrossTransformerEncoder crosstransformer_{nullptr};
  torch::Tensor window_;
};
TORCH_MODULE(HTDemucs);

// Reads, checks and builds a model from an official checkpoint: HTDemucs class only, kwargs
// validated, state loaded strictly (rz::nn::load_state_strict), eval mode. Throws InputError. A
// model whose parameter_count() exceeds the elements the checkpoint holds cannot load; when it
// exceeds twice that, it is refused before anything is built ("its kwargs describe a model of N
// parameters but it holds only M weights"), so hostile kwargs cannot make it allocate more than
// twice the checkpoint's own weights. Smaller excesses are built and refused by strict loading,
// which names a missing tensor.
HTDemucs load_htdemucs(const Checkpoint& ckpt, const std::string& subject);

}  // namespace rz::demucs
