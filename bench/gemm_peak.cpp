// rz-gemm-peak: this machine's fp32 matrix-multiply rate through libtorch, the ceiling that
// bench/separate.sh compares rz-separate's achieved GFLOP/s with. Two kernels are timed: the
// BLAS libtorch links (torch::mm), and oneDNN reached as a 1x1 convolution over a channels-last
// view, the route rz/nn/gemm.hpp gives the networks' products; "gflops" is the faster of the two.
//
// Usage: rz-gemm-peak [THREADS [N [SECONDS]]]   (defaults 2, 2048, 2; THREADS 0 keeps libtorch's
// own default, which "default_threads" reports either way)
// Prints one line: {"threads": T, "default_threads": D, "n": N, "blas_gflops": B,
// "onednn_gflops": O, "gflops": G} (onednn_gflops is null where libtorch has no oneDNN)
#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>

namespace {

// GFLOP/s of `product` (2 n^3 flops a call) over `seconds`, after a warm-up of a quarter of that
// (thread pool start, buffers, CPU clocks settling).
double rate(const std::function<void()>& product, int64_t n, double seconds) {
  using clock = std::chrono::steady_clock;
  const auto warm_end = clock::now() + std::chrono::duration<double>(seconds / 4);
  do product();
  while (clock::now() < warm_end);
  int64_t iterations = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  do {
    product();
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  return 2.0 * double(n) * double(n) * double(n) * double(iterations) / elapsed / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 2048;
  const double seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
  if (threads < 0 || n < 64 || !(seconds > 0)) {
    std::fprintf(stderr, "rz-gemm-peak: error: usage: rz-gemm-peak [THREADS [N [SECONDS]]]\n");
    return 2;
  }
  const int default_threads = at::get_num_threads();
  if (threads > 0) at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  const double blas = rate([&] { torch::mm_out(c, a, b); }, n, seconds);
  double onednn = -1;
  if (at::hasMKLDNN() && at::globalContext().userEnabledMkldnn()) {
    // The product as rz::nn::linear(b^T, a) computes it: (a b)^T, b's columns as the pixels.
    const auto in = b.t().contiguous().view({1, n, 1, n}).permute({0, 3, 1, 2});
    const auto w = a.view({n, n, 1, 1});
    onednn = rate([&] { c = torch::conv2d(in, w); }, n, seconds);
  }
  char onednn_text[32] = "null";
  if (onednn >= 0) std::snprintf(onednn_text, sizeof onednn_text, "%.1f", onednn);
  std::printf(
      "{\"threads\": %d, \"default_threads\": %d, \"n\": %lld, \"blas_gflops\": %.1f, "
      "\"onednn_gflops\": %s, \"gflops\": %.1f}\n",
      at::get_num_threads(), default_threads, static_cast<long long>(n), blas, onednn_text,
      std::max(blas, onednn));
  return std::fflush(stdout) == 0 ? 0 : 1;
}
