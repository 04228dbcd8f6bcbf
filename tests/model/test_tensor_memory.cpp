// The tensor arena of rz/demucs/tensor_memory.hpp: a freed block serves the next request, a
// repeated computation touches no new memory after its first pass, freed neighbours merge, and
// the raw interface returns every block to the allocator it came from. Each test case runs in its
// own process (ctest), so the counters start at zero.
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <vector>

#include "rz/demucs/tensor_memory.hpp"

namespace {

using rz::demucs::kArenaMinBytes;
using rz::demucs::tensor_memory_stats;

constexpr int64_t kFloatsPerMiB = (1 << 20) / static_cast<int64_t>(sizeof(float));
constexpr size_t kMiB = size_t{1} << 20;
// The same computation repeated gives the same result up to float rounding, not always bit for
// bit: the first call of a BLAS kernel can take another path than the calls after it. On a Zen 5
// machine (AVX-512) the first of four identical passes below differed from the other three by
// 1.1e-6 relative, with or without the arena and on one thread (earlier CI machines saw four
// equal results). Ten times that covers the rounding of 1024-term float sums and still catches a
// pass that computed something else.
constexpr double kSamePassRel = 1e-5;

}  // namespace

TEST_CASE("a freed tensor's block serves the next tensor of its size", "[tensor_memory]") {
  rz::demucs::use_tensor_arena();
  const auto before = tensor_memory_stats();

  auto a = torch::empty({kFloatsPerMiB});
  void* pa = a.data_ptr();
  auto st = tensor_memory_stats();
  CHECK(st.live_bytes == before.live_bytes + kMiB);
  a = torch::Tensor();
  CHECK(tensor_memory_stats().live_bytes == before.live_bytes);

  auto b = torch::ones({kFloatsPerMiB});
  CHECK(b.data_ptr() == pa);
  CHECK(b.sum().item<float>() == static_cast<float>(kFloatsPerMiB));
  st = tensor_memory_stats();
  CHECK(st.segments == 1);
  CHECK(st.touched_bytes == kMiB);

  // Small tensors stay with libtorch's allocator.
  static_assert(64 * sizeof(float) < kArenaMinBytes);
  auto small = torch::ones({64});
  CHECK(tensor_memory_stats().hits + tensor_memory_stats().misses == st.hits + st.misses);
  CHECK(small.sum().item<float>() == 64.0f);

  // The raw interface (oneDNN's scratch memory) returns each block to the allocator it came from.
  c10::Allocator* alloc = c10::GetCPUAllocator();
  void* raw_small = alloc->raw_allocate(256);
  void* raw_large = alloc->raw_allocate(kMiB);
  CHECK(tensor_memory_stats().live_bytes == st.live_bytes + kMiB);
  alloc->raw_deallocate(raw_small);
  alloc->raw_deallocate(raw_large);
  CHECK(tensor_memory_stats().live_bytes == st.live_bytes);
}

TEST_CASE("a repeated computation touches no new memory after its first pass", "[tensor_memory]") {
  rz::demucs::use_tensor_arena();
  torch::manual_seed(0);
  const auto x = torch::randn({256, 1024});
  const auto w = torch::randn({1024, 1024});
  auto pass = [&] { return torch::matmul(x, w).relu().matmul(w.t()).tanh().sum().item<float>(); };
  const float first = pass();
  const auto after_first = tensor_memory_stats();
  CHECK(after_first.hits + after_first.misses > 0);
  for (int i = 0; i < 5; ++i) CHECK(pass() == Approx(first).epsilon(kSamePassRel));
  const auto st = tensor_memory_stats();
  CHECK(st.misses == after_first.misses);
  CHECK(st.hits > after_first.hits);
  CHECK(st.touched_bytes == after_first.touched_bytes);
  CHECK(st.live_bytes == after_first.live_bytes);
}

TEST_CASE("freed neighbours merge, so sizes that change at every step do not spread",
          "[tensor_memory]") {
  rz::demucs::use_tensor_arena();
  // Three neighbours freed in an order that leaves the middle one last: one block again.
  auto a = torch::empty({kFloatsPerMiB});
  auto b = torch::empty({kFloatsPerMiB});
  auto c = torch::empty({kFloatsPerMiB});
  char* base = static_cast<char*>(a.data_ptr());
  CHECK(static_cast<char*>(b.data_ptr()) == base + kMiB);
  a = torch::Tensor();
  c = torch::Tensor();
  b = torch::Tensor();
  auto d = torch::empty({3 * kFloatsPerMiB});
  CHECK(static_cast<char*>(d.data_ptr()) == base);
  d = torch::Tensor();
  const auto st0 = tensor_memory_stats();
  CHECK(st0.live_bytes == 0);

  // A workload whose sizes change at every step (a worst case for a heap that also holds other
  // things), repeated: the second round touches nothing new.
  auto round = [] {
    std::vector<torch::Tensor> keep;
    for (int i = 1; i <= 60; ++i) {
      auto t = torch::empty({(i % 7 + 1) * kFloatsPerMiB / 4 + i * 1024});
      if (i % 5 == 0) keep.push_back(t);
      if (keep.size() > 3) keep.erase(keep.begin());
    }
  };
  round();
  const auto st1 = tensor_memory_stats();
  CHECK(st1.live_bytes == 0);
  round();
  const auto st2 = tensor_memory_stats();
  CHECK(st2.touched_bytes == st1.touched_bytes);
  CHECK(st2.segments == st1.segments);
  // Everything freed has merged back: the whole touched extent is one free block again.
  auto all = torch::empty({static_cast<int64_t>(st2.touched_bytes / sizeof(float))});
  CHECK(static_cast<char*>(all.data_ptr()) == base);
  CHECK(tensor_memory_stats().touched_bytes == st2.touched_bytes);
}
