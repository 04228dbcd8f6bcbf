// rz/nn/device_copy.hpp and rz/nn/attention.hpp's fused path: on the CPU the batches are not
// copied and the networks keep their own attention; on CUDA (label gpu, skipped without one) the
// pinned, asynchronous copies carry the data unchanged, and libtorch 2's fused attention agrees
// with the plain formula.
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <catch2/catch.hpp>

#include "rz/nn/attention.hpp"
#include "rz/nn/device_copy.hpp"
#include "test_support.hpp"

namespace {

// softmax(q k^T / sqrt(d)) v, the formula the fused kernel computes.
torch::Tensor plain_attention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return torch::matmul(torch::softmax(torch::matmul(q * scale, k.transpose(-2, -1)), -1), v);
}

// fp32 on both sides, summed in other orders over keys of 300 (and TF32 is off by default for
// matmul in libtorch 2): 1e-5 of the largest value fails any wrong scale, head or key.
constexpr double kAttentionRel = 1e-5;

}  // namespace

TEST_CASE("DeviceCopier on the CPU copies nothing and hands back float", "[device_copy]") {
  rz::nn::DeviceCopier copier(torch::kCPU);
  auto host = torch::randn({2, 2, 100});
  CHECK(copier.to_device(host).data_ptr() == host.data_ptr());
  // A 16-bit network output comes back as float, contiguous, with the same values.
  auto y = torch::randn({2, 8, 100}).to(torch::kBFloat16).transpose(1, 2);
  auto back = copier.to_host(y);
  CHECK(back.scalar_type() == torch::kFloat);
  CHECK(back.is_contiguous());
  CHECK(torch::equal(back, y.to(torch::kFloat)));
}

TEST_CASE("fused attention is libtorch 2's on a GPU only", "[device_copy]") {
  auto q = torch::randn({1, 4, 50, 16});
  CHECK_FALSE(rz::nn::fused_attention(q, q, q).has_value());  // the CPU keeps its loops
}

// Hidden ([.]): ctest runs it as its own entry, labelled gpu.
TEST_CASE("DeviceCopier and fused attention on CUDA", "[.][gpu]") {
  if (!torch::cuda::is_available())
    rz::test::skip("no CUDA device (no GPU, or a CPU-only libtorch): the pinned copies need one");
  const torch::Device cuda(torch::kCUDA, 0);
  rz::nn::DeviceCopier copier(cuda);
  auto a = torch::randn({3, 2, 1000}), b = torch::randn({3, 2, 1000});
  const auto a_saved = a.clone();
  auto da = copier.to_device(a);
  auto db = copier.to_device(b);  // a second upload before any download waits for the first
  a.fill_(0);                     // the device copy no longer depends on the host memory
  CHECK(da.device() == cuda);
  auto back_a = copier.to_host(da);
  CHECK(back_a.is_pinned());
  CHECK(torch::equal(back_a, a_saved));
  CHECK(torch::equal(copier.to_host(db), b));
  // Larger batches grow the buffers.
  auto c = torch::randn({8, 2, 5000});
  CHECK(torch::equal(copier.to_host(copier.to_device(c)), c));

  auto q = torch::randn({2, 8, 200, 64}, cuda), k = torch::randn({2, 8, 300, 64}, cuda);
  auto v = torch::randn({2, 8, 300, 64}, cuda);
  const auto fused = rz::nn::fused_attention(q, k, v);
#if TORCH_VERSION_MAJOR >= 2
  REQUIRE(fused.has_value());
  const auto want = plain_attention(q, k, v);
  CHECK(((*fused - want).abs().max() / want.abs().max()).item<double>() < kAttentionRel);
#else
  CHECK_FALSE(fused.has_value());
  (void)plain_attention;
  (void)kAttentionRel;
#endif
}
