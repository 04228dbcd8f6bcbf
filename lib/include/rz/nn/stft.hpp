// The STFT and inverse STFT of demucs/spec.py (spectro, ispectro): torch.stft / torch.istft with
// a Hann window, normalized=True, center=True, reflect padding, over the last axis.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace rz::nn {

// spec.spectro(x, n_fft, hop_length) with pad 0: x (..., length) real -> (..., n_fft / 2 + 1,
// frames) complex. `window`: torch.hann_window(n_fft), on x's device.
torch::Tensor spectro(const torch::Tensor& x, int64_t n_fft, int64_t hop,
                      const torch::Tensor& window);

// spec.ispectro(z, hop_length, length) with pad 0: z (..., freqs, frames) complex -> (...,
// length) real, n_fft = 2 * freqs - 2. `window`: torch.hann_window(n_fft), on z's device.
torch::Tensor ispectro(const torch::Tensor& z, int64_t hop, int64_t length,
                       const torch::Tensor& window);

// torch.istft(z, n_fft, hop, window=window, center=True, normalized=True, length=length) for
// z (N, n_fft / 2 + 1, frames); for hop = n_fft / 4 with the overlap-add done as four shifted
// additions: libtorch 1.13 does it through col2im, which took 2/3 of the iSTFT's time here.
torch::Tensor istft(const torch::Tensor& z, int64_t n_fft, int64_t hop, const torch::Tensor& window,
                    int64_t length);

}  // namespace rz::nn
