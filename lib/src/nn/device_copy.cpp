// Host <-> device copies through pinned buffers (rz/nn/device_copy.hpp).
#include "rz/nn/device_copy.hpp"

#include <torch/cuda.h>

namespace rz::nn {

namespace {

// A pinned float buffer of at least n elements: `buf` itself when it is large enough.
torch::Tensor pinned_at_least(torch::Tensor& buf, int64_t n) {
  if (!buf.defined() || buf.numel() < n)
    buf = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat).pinned_memory(true));
  return buf.narrow(0, 0, n);
}

}  // namespace

DeviceCopier::DeviceCopier(const torch::Device& device) : device_(device) {}

torch::Tensor DeviceCopier::to_device(const torch::Tensor& host) {
  if (device_.is_cpu()) return host;
  if (!device_.is_cuda()) return host.to(device_);
  // The copy queued last time reads in_ until the stream reaches it: to_host waits for that, and
  // so does this, should two uploads come without a download between them.
  if (upload_pending_) torch::cuda::synchronize(device_.has_index() ? device_.index() : -1);
  auto staged = pinned_at_least(in_, host.numel()).view(host.sizes());
  staged.copy_(host);
  upload_pending_ = true;
  return staged.to(device_, /*non_blocking=*/true);
}

torch::Tensor DeviceCopier::to_host(const torch::Tensor& y) {
  if (!y.device().is_cuda()) return y.to(torch::kCPU, torch::kFloat).contiguous();
  const auto yf = y.to(torch::kFloat).contiguous();  // converted on the device
  auto host = pinned_at_least(out_, yf.numel()).view(yf.sizes());
  host.copy_(yf);  // blocking: returns once the stream has run everything queued before it
  upload_pending_ = false;
  return host;
}

}  // namespace rz::nn
