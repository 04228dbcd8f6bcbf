// The layers of HTDemucs as libtorch modules: LayerScale and DConv (demucs/demucs.py), HEncLayer
// and HDecLayer (demucs/hdemucs.py), registered under the official attribute names.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace rz::demucs {

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

}  // namespace rz::demucs
