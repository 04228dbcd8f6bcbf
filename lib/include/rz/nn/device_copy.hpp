// The copies of a network's batches between the host and the device it runs on, shared by every
// network family's apply loop.
//
// On CUDA both directions go through page-locked (pinned) host buffers that are kept from batch
// to batch, so that the memory stays flat however long the recording: the copy to the device is
// asynchronous (the CPU goes on queueing the forward's kernels behind it, on the same stream),
// and the copy back is one DMA into pinned memory instead of a copy staged through pageable
// memory. On the CPU nothing is copied: the input is the caller's memory, the output the
// network's. Other devices (MPS) take plain copies.
#pragma once

#include <torch/torch.h>

namespace rz::nn {

class DeviceCopier {
 public:
  explicit DeviceCopier(const torch::Device& device);

  // `host` (float, on the CPU) on the device. On the CPU it is `host` itself.
  torch::Tensor to_device(const torch::Tensor& host);

  // `y` as contiguous float on the host: float under bf16/fp16 autocast too. Waits for the
  // device. On CUDA the result is a view of the pinned buffer, valid until the next call.
  torch::Tensor to_host(const torch::Tensor& y);

 private:
  torch::Device device_;
  torch::Tensor in_, out_;       // pinned host buffers (CUDA only), grown as needed, never shrunk
  bool upload_pending_ = false;  // an asynchronous copy may still read in_
};

}  // namespace rz::nn
