// spectro / ispectro of demucs/spec.py on libtorch, with a faster overlap-add for the iSTFT.
#include "rz/nn/stft.hpp"

#include <vector>

namespace rz::nn {

torch::Tensor spectro(const torch::Tensor& x, int64_t n_fft, int64_t hop,
                      const torch::Tensor& window) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  auto flat = x.reshape({-1, x.size(-1)});
  auto z = torch::stft(flat, n_fft, hop, n_fft, window, /*center=*/true, "reflect",
                       /*normalized=*/true, /*onesided=*/true, /*return_complex=*/true);
  shape.push_back(z.size(-2));
  shape.push_back(z.size(-1));
  return z.view(shape);
}

torch::Tensor ispectro(const torch::Tensor& z, int64_t hop, int64_t length,
                       const torch::Tensor& window) {
  const int64_t n_fft = 2 * z.size(-2) - 2;
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 2);
  auto flat = z.reshape({-1, z.size(-2), z.size(-1)});
  auto x = istft(flat, n_fft, hop, window, length);
  shape.push_back(x.size(-1));
  return x.view(shape);
}

torch::Tensor istft(const torch::Tensor& z, int64_t n_fft, int64_t hop, const torch::Tensor& window,
                    int64_t length) {
  if (n_fft != 4 * hop) {
    return torch::istft(z, n_fft, hop, n_fft, window, true, true, c10::nullopt, length);
  }
  const int64_t N = z.size(0), T = z.size(2);
  // Frames: inverse real FFT scaled by 1/sqrt(n_fft) (normalized=True), times the window.
  auto frames =
      torch::fft_irfft(z.transpose(1, 2), n_fft, -1, "ortho").mul_(window);  // (N,T,n_fft)
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

}  // namespace rz::nn
