// The arithmetic a network runs in (--precision), shared by every network family: fp32 as
// trained; tf32 (CUDA: matrix products and convolutions with 10-bit mantissas on tensor cores);
// bf16 and fp16 through libtorch's autocast (matrix products, convolutions and linear layers in
// the 16-bit type, the operations autocast keeps in fp32, the STFT among them, in fp32, and the
// operations between them in the type of their inputs).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

namespace rz::nn {

enum class Precision { kFp32, kTf32, kBf16, kFp16 };

// `x` in float. Normalisation layers take their input through this: under bf16/fp16 autocast a
// convolution hands them a 16-bit tensor, which libtorch's group and layer norms do not combine
// with float weights (and the statistics want float anyway). A no-op on a float tensor.
inline torch::Tensor as_float(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
}

// "fp32", "tf32", "bf16", "fp16"; nullopt for anything else.
std::optional<Precision> parse_precision(const std::string& name);
std::string precision_name(Precision p);

// Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16); without, libtorch emulates
// it and bf16 is slower than fp32.
bool cpu_has_native_bf16();

// Throws UsageError for a precision `device` cannot run: tf32 and fp16 need CUDA (the CPU has no
// tf32, and libtorch's CPU autocast no fp16); MPS runs fp32 only.
void check_precision(Precision p, const torch::Device& device);

// The type autocast casts matrix products to on `device` on this thread; nullopt where it is off.
std::optional<at::ScalarType> autocast_type(torch::DeviceType device);

// A weight in the type that autocast, if on for `weight`'s device on this thread, would cast it
// to, from autocast's own cache: each weight is cast once per PrecisionScope instead of at every
// call. Autocast caches only what it can tell is a weight (a leaf tensor that requires grad, not
// a view), so pass the parameter itself and take views of the result. `weight` itself where
// autocast is off or the weight is not fp32.
torch::Tensor autocast_weight(const torch::Tensor& weight);

// Sets the precision for the forwards run while it lives, on this thread: TF32 on or off for
// CUDA's matrix products and cuDNN (off for fp32: libtorch allows TF32 in cuDNN convolutions by
// default, which is not fp32), autocast to bf16 or fp16 on `device`. Restores what it found, and
// clears autocast's cache of cast weights.
class PrecisionScope {
 public:
  PrecisionScope(Precision p, const torch::Device& device);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  torch::DeviceType type_;
  bool autocast_ = false;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
  bool was_tf32_cublas_ = false;
  bool was_tf32_cudnn_ = false;
};

}  // namespace rz::nn
