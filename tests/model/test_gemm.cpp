// rz/nn/gemm.hpp: the matrix products that run on oneDNN give torch::linear's and torch::mm's
// results up to float rounding, for every layout the networks hand them (a batch of rows, a
// strided head slice, a bias or none), and products too small or not fp32 keep libtorch's call.
#include <ATen/Context.h>
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "rz/nn/gemm.hpp"
#include "rz/nn/precision.hpp"

namespace {

// Largest difference allowed, relative to the largest magnitude of the reference: both sides
// are fp32 sums of up to 2048 products of unit-variance numbers in different orders, whose
// rounding grows with K (measured on the 2-core AMD EPYC: 2e-7 at K = 64, 1.1e-6 at K = 512).
// 1e-5 still fails any product that lost or misplaced a row, a column or the bias.
constexpr double kProductRel = 1e-5;

double rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  REQUIRE(got.sizes() == want.sizes());
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

bool onednn_available() { return at::hasMKLDNN() && at::globalContext().userEnabledMkldnn(); }

}  // namespace

TEST_CASE("nn::linear equals torch::linear on oneDNN and off it", "[gemm]") {
  torch::manual_seed(7);
  struct Case {
    std::vector<int64_t> x;
    int64_t n;
    bool bias;
  };
  // The transformer's shapes (a batch of 2688 tokens of 512), a wide hidden layer, a batch of
  // two, and one far under the oneDNN threshold.
  const std::vector<Case> cases = {{{1, 2688, 512}, 2048, true},
                                   {{2, 700, 96}, 384, false},
                                   {{300, 64}, 512, true},
                                   {{3, 16}, 8, true}};
  for (const auto& c : cases) {
    auto x = torch::randn(c.x);
    auto w = torch::randn({c.n, c.x.back()});
    auto b = c.bias ? torch::randn({c.n}) : torch::Tensor();
    const int64_t M = x.numel() / c.x.back();
    INFO("x " << x.sizes() << " weight " << w.sizes());
    CHECK(rz::nn::uses_onednn(x, M, c.x.back(), c.n) ==
          (onednn_available() && M * c.x.back() * c.n >= (int64_t{1} << 21)));
    CHECK(rel_diff(rz::nn::linear(x, w, b), torch::linear(x, w, b)) < kProductRel);
  }
}

TEST_CASE("nn::linear takes strided rows, as attention's head slices are", "[gemm]") {
  torch::manual_seed(8);
  auto q = torch::randn({2688, 512});
  auto k = torch::randn({2688, 512});
  auto qh = q.narrow(1, 128, 64).narrow(0, 100, 780);  // (780, 64), row stride 512
  auto kh = k.narrow(1, 128, 64);
  REQUIRE_FALSE(qh.is_contiguous());
  CHECK(rel_diff(rz::nn::linear(qh, kh), torch::mm(qh, kh.t())) < kProductRel);
}

TEST_CASE("nn::mm equals torch::mm, and leaves other types to it", "[gemm]") {
  torch::manual_seed(9);
  auto a = torch::randn({1536, 384});
  auto b = torch::randn({384, 2688});
  if (onednn_available()) CHECK(rz::nn::uses_onednn(a, 1536, 384, 2688));
  CHECK(rel_diff(rz::nn::mm(a, b), torch::mm(a, b)) < kProductRel);
  CHECK(rel_diff(rz::nn::mm(a.t().contiguous().t(), b), torch::mm(a, b)) < kProductRel);
  // Double stays on libtorch's own product, bit for bit.
  auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  CHECK_FALSE(rz::nn::uses_onednn(ad, 1536, 384, 2688));
  CHECK(torch::equal(rz::nn::mm(ad, bd), torch::mm(ad, bd)));
}

TEST_CASE("autocast_weight casts a weight once per PrecisionScope, to the bits autocast makes",
          "[gemm]") {
  torch::manual_seed(10);
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(512, 1024);
  auto x = torch::randn({2688, 512});
  auto wt = torch::randn({384, 1536});  // a transposed convolution's weight, as nn::mm takes it
  wt.set_requires_grad(true);
  auto y = torch::randn({384, 2688});
  torch::Tensor cast;
  {
    const rz::nn::PrecisionScope bf16(rz::nn::Precision::kBf16, torch::kCPU);
    cast = rz::nn::autocast_weight(lin->weight);
    CHECK(cast.scalar_type() == torch::kBFloat16);
    // Cached: the second call returns the same cast, not a new one.
    CHECK(rz::nn::autocast_weight(lin->weight).data_ptr() == cast.data_ptr());
    // The layer's product with the cached cast has the bits of the product that lets autocast
    // cast the float weight itself, on whichever kernel the shapes choose.
    CHECK(torch::equal(rz::nn::linear(x, *lin), rz::nn::linear(x, lin->weight, lin->bias)));
    CHECK(torch::equal(rz::nn::mm(rz::nn::autocast_weight(wt).t(), y), rz::nn::mm(wt.t(), y)));
    // Activations are not weights: cast, never cached.
    CHECK(rz::nn::autocast_weight(x).data_ptr() != rz::nn::autocast_weight(x).data_ptr());
  }
  // Out of the scope autocast is off: the weight itself.
  CHECK(rz::nn::autocast_weight(lin->weight).data_ptr() == lin->weight.data_ptr());
}
