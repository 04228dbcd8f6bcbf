// --precision: TF32 flags and libtorch's autocast around the forwards (rz/nn/precision.hpp).
#include "rz/nn/precision.hpp"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "rz/error.hpp"

namespace rz::nn {

namespace {

// libtorch 2.4 replaced the per-device autocast functions (set_cpu_enabled, set_enabled, ...)
// with ones taking the device type, and deprecated the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(torch::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_autocast_enabled(torch::DeviceType t, bool on) {
  at::autocast::set_autocast_enabled(t, on);
}
at::ScalarType autocast_dtype(torch::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_autocast_dtype(torch::DeviceType t, at::ScalarType d) {
  at::autocast::set_autocast_dtype(t, d);
}
#else
bool autocast_enabled(torch::DeviceType t) {
  return t == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(torch::DeviceType t, bool on) {
  if (t == torch::kCUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
}
at::ScalarType autocast_dtype(torch::DeviceType t) {
  return t == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                           : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(torch::DeviceType t, at::ScalarType d) {
  if (t == torch::kCUDA)
    at::autocast::set_autocast_gpu_dtype(d);
  else
    at::autocast::set_autocast_cpu_dtype(d);
}
#endif

}  // namespace

std::optional<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp16") return Precision::kFp16;
  return std::nullopt;
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kTf32:
      return "tf32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
  }
  return "fp32";
}

bool cpu_has_native_bf16() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) return true;   // AVX512_BF16
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22))) return true;  // AMX-BF16
#endif
  return false;
}

std::optional<at::ScalarType> autocast_type(torch::DeviceType device) {
  if ((device != torch::kCPU && device != torch::kCUDA) || !autocast_enabled(device))
    return std::nullopt;
  return autocast_dtype(device);
}

torch::Tensor autocast_weight(const torch::Tensor& weight) {
  const torch::DeviceType t = weight.device().type();
  const auto type = autocast_type(t);
  if (!type || weight.scalar_type() != torch::kFloat) return weight;
  return at::autocast::cached_cast(*type, weight, t);
}

void check_precision(Precision p, const torch::Device& device) {
  const bool cuda = device.type() == torch::kCUDA;
  if (p == Precision::kFp32) return;
  if (device.type() != torch::kCPU && !cuda)
    throw UsageError("--precision " + precision_name(p) + ": only fp32 runs on " + device.str());
  if ((p == Precision::kTf32 || p == Precision::kFp16) && !cuda)
    throw UsageError("--precision " + precision_name(p) +
                     " needs a CUDA device (on the CPU: fp32 or bf16)");
}

PrecisionScope::PrecisionScope(Precision p, const torch::Device& device) : type_(device.type()) {
  auto& ctx = at::globalContext();
  if (type_ == torch::kCUDA) {
    was_tf32_cublas_ = ctx.allowTF32CuBLAS();
    was_tf32_cudnn_ = ctx.allowTF32CuDNN();
    const bool tf32 = p == Precision::kTf32;
    ctx.setAllowTF32CuBLAS(tf32);
    ctx.setAllowTF32CuDNN(tf32);
  }
  if (p == Precision::kBf16 || p == Precision::kFp16) {
    autocast_ = true;
    was_enabled_ = autocast_enabled(type_);
    was_dtype_ = autocast_dtype(type_);
    set_autocast_dtype(type_, p == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
    set_autocast_enabled(type_, true);
  }
}

PrecisionScope::~PrecisionScope() {
  if (autocast_) {
    set_autocast_enabled(type_, was_enabled_);
    set_autocast_dtype(type_, was_dtype_);
    at::autocast::clear_cache();
  }
  if (type_ == torch::kCUDA) {
    auto& ctx = at::globalContext();
    ctx.setAllowTF32CuBLAS(was_tf32_cublas_);
    ctx.setAllowTF32CuDNN(was_tf32_cudnn_);
  }
}

}  // namespace rz::nn
