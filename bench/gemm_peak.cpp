// rz-gemm-peak: this machine's fp32 matrix-multiply rate through libtorch (torch::mm), the
// ceiling that bench/separate.sh compares rz-separate's achieved GFLOP/s with.
//
// Usage: rz-gemm-peak [THREADS [N [SECONDS]]]   (defaults 2, 2048, 2; THREADS 0 keeps libtorch's
// own default, which "default_threads" reports either way)
// Prints one line: {"threads": T, "default_threads": D, "n": N, "iterations": I, "seconds": S,
// "gflops": G}
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

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
  using clock = std::chrono::steady_clock;
  // Warm-up: thread pool start, BLAS buffers, CPU clocks settling (about a quarter of the run).
  const auto warm_end = clock::now() + std::chrono::duration<double>(seconds / 4);
  do torch::mm_out(c, a, b); while (clock::now() < warm_end);
  int64_t iterations = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  do {
    torch::mm_out(c, a, b);
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  const double gflops = 2.0 * double(n) * double(n) * double(n) * double(iterations) / elapsed / 1e9;
  std::printf(
      "{\"threads\": %d, \"default_threads\": %d, \"n\": %lld, \"iterations\": %lld, "
      "\"seconds\": %.3f, \"gflops\": %.1f}\n",
      at::get_num_threads(), default_threads, static_cast<long long>(n),
      static_cast<long long>(iterations), elapsed, gflops);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
