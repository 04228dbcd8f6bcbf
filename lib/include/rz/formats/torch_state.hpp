// The tensors of a torch.save archive: storages read from the zip and widened to fp32, views
// (offset, shape, strides) of them made dense, as `torch.load(...).float()` would give them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "rz/formats/pickle.hpp"
#include "rz/formats/zip.hpp"

namespace rz::formats {

// A dense tensor: `data` holds the elements in row-major (C) order, contiguous, as fp32.
// Storages in fp16 are widened exactly; fp64 is rounded to nearest fp32 (as torch's `.float()`).
// A tensor with an empty `shape` is a scalar holding one element.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
};

// IEEE binary16 -> binary32, exact for every value (subnormals, infinities, NaN payloads).
float half_to_float(uint16_t h);

// Reads the tensors that a torch.save pickle refers to (the kTensor objects of Unpickler, with
// kCallRebuildTensorV2 allowed) from `<root>/data/<key>` entries of the archive, honouring its
// `<root>/byteorder` record. Storage classes: torch.{Half,Float,Double}Storage only. Each load
// reads the tensor's whole storage once (CRC-checked); all loads of one loader together may read
// about four times the file. Failures throw rz::InputError ("bad checkpoint '<path>': ...")
// naming `where`: an unsupported storage class, an absent or mis-sized storage, an impossible
// shape, a view that repeats elements or reaches past its storage.
class TensorLoader {
 public:
  // `zip` must outlive the loader.
  TensorLoader(const ZipArchive& zip, const std::filesystem::path& path);

  // The tensor `t` (Kind::kTensor); `where` names it in messages ("state['w']").
  Tensor load(const Object* t, const std::string& where);

 private:
  [[noreturn]] void fail(const std::string& reason) const;
  static bool is_contiguous(const Object& t);

  const ZipArchive& zip_;
  std::filesystem::path path_;
  std::string root_;
  bool big_endian_ = false;
  std::vector<uint8_t> raw_;  // reused between storages
  uint64_t bytes_read_ = 0;
};

// A state dict as a list of (name, tensor) pairs in file order.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What all tensors of a state dict may hold together, in elements per byte of its file. A tensor
// that owns its storage has at most file bytes / 2 elements (fp16); views that share one storage
// (tied weights, rotary tables) may count it twice. Stride-0 views that repeat one element
// billions of times cannot pass.
inline constexpr int64_t kMaxStateElementsPerFileByte = 1;

// Reads the dict `state` (str -> tensor) through `loader`. `where` names it in messages
// ("state", "state_dict"); `file_bytes` is the size of the checkpoint file. Throws
// rz::InputError ("bad checkpoint '<path>': ...") for a non-dict, a non-string key, a value that
// is not a tensor (an unsupported global is named), or more elements than
// kMaxStateElementsPerFileByte allows.
StateDict load_state_dict(const Object* state, const std::string& where, TensorLoader& loader,
                          uint64_t file_bytes, const std::filesystem::path& path);

}  // namespace rz::formats
