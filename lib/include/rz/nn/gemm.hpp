// Matrix products for the networks, on the fastest fp32 kernel the linked libtorch carries.
//
// Debian's libtorch 1.13 hands torch::mm, torch::linear and bmm to its generic BLAS (OpenBLAS),
// which picks its AVX2 (Haswell) kernels on CPUs newer than it knows, AVX-512 ones included. The
// same libtorch carries oneDNN, whose JIT picks the widest ISA the CPU has; libtorch reaches it
// for fp32 only through convolutions. A product run as a 1x1 convolution over a channels-last
// view, with no copy of its operands, therefore takes oneDNN's kernel: measured on the 2-core AMD
// EPYC test machine with AVX-512 (2026-12-06, 2 threads), 330-340 GFLOP/s against OpenBLAS's
// 176-187 for the transformer's linear layers, and 2.2x faster for the attention products. Products
// too small to pay oneDNN's per-call cost, anything not fp32 on the CPU, and libtorch builds
// without oneDNN take the plain libtorch call. The arithmetic is the same product summed in another
// order: float rounding apart, the results are those of torch::linear and torch::mm.
#pragma once

#include <torch/torch.h>

namespace rz::nn {

// torch::linear: x (..., K), weight (N, K), bias (N) or undefined; returns (..., N).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias = {});

// The same with the weights and bias of a torch::nn::Linear.
torch::Tensor linear(const torch::Tensor& x, const torch::nn::LinearImpl& layer);

// torch::mm: a (M, K) times b (K, N), returns a contiguous (M, N). On oneDNN only where M and K
// are both large (see kMinMmIntensity): this route reorders b and the result.
torch::Tensor mm(const torch::Tensor& a, const torch::Tensor& b);

// Whether a product of M x K times K x N on tensors like `x` may go to oneDNN: fp32 on the CPU,
// large enough, libtorch built with oneDNN and allowed to use it (exposed for tests).
bool uses_onednn(const torch::Tensor& x, int64_t M, int64_t K, int64_t N);

}  // namespace rz::nn
