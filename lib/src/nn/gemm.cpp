// Matrix products on oneDNN through libtorch's convolution (rz/nn/gemm.hpp).
#include "rz/nn/gemm.hpp"

#include <ATen/Context.h>

#include "rz/nn/precision.hpp"

namespace rz::nn {

namespace {

// Products under this many multiply-adds stay on the plain libtorch call: oneDNN's per-call cost
// (primitive lookup, weight reorder, about 15 us here) loses below it. Measured on the 2-core AMD
// EPYC, 2 threads, square and attention-shaped products: 64^3 (0.26 M) 1.9x slower on oneDNN,
// 128x64x128 (1 M) 1.2x slower, 128^3 (2 M) and up 1.5-2.3x faster.
constexpr int64_t kMinOneDnnMacs = int64_t{1} << 21;

// nn::mm's route reorders b (K x N) into oneDNN's blocked layout and the (M x N) result back,
// memory traffic of (K + M) N against M K N multiply-adds: it pays only where M K / (M + K) is
// large. Measured on HTDemucs's transposed convolutions (N = 2688 to 172032, oneDNN verbose):
// M K / (M + K) = 154 and 307 ran 1.6-1.7x faster than the BLAS, 77 and 35 2x and 4x slower.
constexpr int64_t kMinMmIntensity = 128;

// (M, K) row-major times the rows of `w` (N, K), as a 1x1 convolution of M pixels with K
// channels in channels-last layout: no operand is copied, and the (1, N, M, 1) channels-last
// output is (M, N) row-major.
torch::Tensor onednn_linear(const torch::Tensor& x2, const torch::Tensor& w,
                            const torch::Tensor& bias) {
  const int64_t M = x2.size(0), K = x2.size(1), N = w.size(0);
  auto in = x2.view({1, M, 1, K}).permute({0, 3, 1, 2});
  auto y = torch::conv2d(in, w.view({N, K, 1, 1}), bias);
  return y.permute({0, 2, 3, 1}).reshape({M, N});
}

// Whether a weight operand may take the oneDNN route: fp32, or already in autocast's type on its
// device (a cast from autocast_weight, rz/nn/precision.hpp), the type the convolution's autocast
// casts the other operand to.
bool weight_takes_route(const torch::Tensor& w) {
  return w.scalar_type() == torch::kFloat || autocast_type(w.device().type()) == w.scalar_type();
}

}  // namespace

bool uses_onednn(const torch::Tensor& x, int64_t M, int64_t K, int64_t N) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && M * K * N >= kMinOneDnnMacs &&
         at::hasMKLDNN() && at::globalContext().userEnabledMkldnn();
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  if (x.dim() < 1 || weight.dim() != 2) return torch::linear(x, weight, bias);
  const int64_t K = x.size(-1), N = weight.size(0);
  const int64_t M = K == 0 ? 0 : x.numel() / K;
  if (!uses_onednn(x, M, K, N) || !weight_takes_route(weight))
    return torch::linear(x, weight, bias);
  auto sizes = x.sizes().vec();
  sizes.back() = N;
  return onednn_linear(x.reshape({M, K}).contiguous(), weight.contiguous(), bias).view(sizes);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::LinearImpl& layer) {
  return linear(x, autocast_weight(layer.weight), layer.bias);
}

torch::Tensor mm(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2) return torch::mm(a, b);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  // a is the weight operand (the 1x1 kernel below), b the data.
  if (!uses_onednn(b, M, K, N) || !weight_takes_route(a) || M * K < kMinMmIntensity * (M + K))
    return torch::mm(a, b);
  // b as N pixels of K channels (plain layout), a as the 1x1 kernel: (1, M, N, 1) is (M, N).
  auto y = torch::conv2d(b.contiguous().view({1, K, N, 1}), a.contiguous().view({M, K, 1, 1}));
  return y.view({M, N});
}

}  // namespace rz::nn
