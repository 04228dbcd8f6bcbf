// Tensors of torch.save archives: fp16/fp32/fp64 storages widened to fp32, strided views made
// dense, with bounds on what a corrupt file can make it allocate or read.
#include "rz/formats/torch_state.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rz/error.hpp"
#include "rz/formats/bytes.hpp"

namespace fs = std::filesystem;

namespace rz::formats {

namespace {

// No demucs tensor comes near this (the largest HTDemucs weight has 2.7 M elements); it only
// keeps a corrupt shape from asking for terabytes.
constexpr int64_t kMaxTensorElements = int64_t{1} << 31;
// Storage bytes all tensors together may read: each storage about once (views of one storage
// read it again), plus an allowance for small files.
constexpr uint64_t kStorageReadsPerFile = 4;
constexpr uint64_t kStorageReadAllowance = uint64_t{64} << 20;

enum class Dtype { kHalf, kFloat, kDouble };

struct StorageType {
  const char* name;
  Dtype dtype;
  size_t bytes;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.HalfStorage", Dtype::kHalf, 2},
    {"torch.FloatStorage", Dtype::kFloat, 4},
    {"torch.DoubleStorage", Dtype::kDouble, 8},
};

// The storage's elements as fp32. `big_endian`: the archive's byteorder record said "big".
std::vector<float> widen(const std::vector<uint8_t>& raw, const StorageType& type,
                         bool big_endian) {
  const size_t n = raw.size() / type.bytes;
  std::vector<float> out(n);
  const uint8_t* p = raw.data();
  auto load = [&](size_t i, uint8_t* dst) {
    for (size_t b = 0; b < type.bytes; ++b) {
      dst[b] = p[i * type.bytes + (big_endian ? type.bytes - 1 - b : b)];
    }
  };
  switch (type.dtype) {
    case Dtype::kHalf:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = le16(p + 2 * i);
        out[i] = half_to_float(big_endian ? static_cast<uint16_t>((h >> 8) | (h << 8)) : h);
      }
      break;
    case Dtype::kFloat:
      if (!big_endian) {
        std::memcpy(out.data(), p, n * sizeof(float));
        break;
      }
      for (size_t i = 0; i < n; ++i) load(i, reinterpret_cast<uint8_t*>(&out[i]));
      break;
    case Dtype::kDouble:
      for (size_t i = 0; i < n; ++i) {
        double d;
        load(i, reinterpret_cast<uint8_t*>(&d));
        out[i] = static_cast<float>(d);
      }
      break;
  }
  return out;
}

}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else {
    // Zero or subnormal: mantissa * 2^-24 is exact in binary32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TensorLoader::TensorLoader(const ZipArchive& zip, const fs::path& path) : zip_(zip), path_(path) {
  root_ = zip.root();
  if (const ZipEntry* e = zip.find(root_ + "/byteorder")) {
    std::vector<uint8_t> b;
    zip.read(root_ + "/byteorder", *e, &b);
    const std::string order(b.begin(), b.end());
    if (order != "little" && order != "big") {
      bad_checkpoint(path, "unknown byteorder " + in_quotes(order));
    }
    big_endian_ = order == "big";
  }
}

Tensor TensorLoader::load(const Object* t, const std::string& where) {
  const Object* storage = t->items[0];
  const StorageType* type = nullptr;
  for (const StorageType& s : kStorageTypes) {
    if (storage->type_name == s.name) type = &s;
  }
  if (!type) {
    fail("unsupported pickle global " + in_quotes(storage->type_name) + " (storage of " + where +
         ")");
  }
  const std::string entry_name = root_ + "/data/" + storage->text;
  const ZipEntry* entry = zip_.find(entry_name);
  if (!entry) {
    fail("storage " + in_quotes(storage->text) + " of " + where + " is absent (no " +
         in_quotes(entry_name) + " in the zip)");
  }
  const uint64_t numel = static_cast<uint64_t>(storage->integer);
  if (numel > entry->size / type->bytes || entry->size != numel * type->bytes) {
    fail("storage " + in_quotes(storage->text) + " of " + where + " has " +
         std::to_string(entry->size) + " bytes, expected " + std::to_string(numel) + " x " +
         std::to_string(type->bytes));
  }

  Tensor out;
  out.shape = t->shape;
  // Element count and the highest storage index the view touches, overflow-checked.
  int64_t count = 1;
  int64_t last = t->integer;
  for (size_t d = 0; d < t->shape.size(); ++d) {
    if (t->shape[d] == 0) count = 0;
    if (count != 0 && __builtin_mul_overflow(count, t->shape[d], &count)) count = -1;
    int64_t reach = 0;
    if (t->shape[d] > 0 && (__builtin_mul_overflow(t->shape[d] - 1, t->strides[d], &reach) ||
                            __builtin_add_overflow(last, reach, &last))) {
      count = -1;
    }
    if (count < 0 || count > kMaxTensorElements) {
      fail(where + " has an impossible shape or strides");
    }
  }
  if (count == 0) return out;
  if (static_cast<uint64_t>(count) > numel) {
    // More elements than the storage holds: stride 0 or overlapping strides repeat elements,
    // which no module's parameter does (and which would turn a small file into gigabytes).
    fail(where + " has " + std::to_string(count) + " elements but its storage " +
         in_quotes(storage->text) + " holds " + std::to_string(numel) +
         " (a view that repeats elements)");
  }
  if (static_cast<uint64_t>(last) >= numel) {
    fail(where + " reaches past the end of storage " + in_quotes(storage->text) + " (element " +
         std::to_string(last) + " of " + std::to_string(numel) + ")");
  }

  // Each tensor reads its whole storage: views of one large storage, repeated, could make a
  // small file cost hours of reading.
  bytes_read_ += entry->size;
  if (bytes_read_ > kStorageReadsPerFile * zip_.file_size() + kStorageReadAllowance) {
    fail("its tensors read their storages more than " + std::to_string(kStorageReadsPerFile) +
         " times over (at " + where + ")");
  }
  zip_.read(entry_name, *entry, &raw_);
  std::vector<float> values = widen(raw_, *type, big_endian_);
  if (is_contiguous(*t)) {
    if (t->integer == 0 && static_cast<uint64_t>(count) == numel) {
      out.data = std::move(values);
    } else {
      out.data.assign(values.begin() + t->integer, values.begin() + t->integer + count);
    }
    return out;
  }
  // General strides: walk the index like an odometer, last dimension fastest.
  out.data.resize(static_cast<size_t>(count));
  const size_t dims = t->shape.size();
  std::vector<int64_t> index(dims, 0);
  int64_t src = t->integer;
  for (int64_t i = 0; i < count; ++i) {
    out.data[static_cast<size_t>(i)] = values[static_cast<size_t>(src)];
    for (size_t d = dims; d-- > 0;) {
      if (++index[d] < t->shape[d]) {
        src += t->strides[d];
        break;
      }
      src -= t->strides[d] * (t->shape[d] - 1);
      index[d] = 0;
    }
  }
  return out;
}

void TensorLoader::fail(const std::string& reason) const { bad_checkpoint(path_, reason); }

bool TensorLoader::is_contiguous(const Object& t) {
  int64_t expected = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

StateDict load_state_dict(const Object* state, const std::string& where, TensorLoader& loader,
                          uint64_t file_bytes, const fs::path& path) {
  if (state->kind != Kind::kDict) bad_checkpoint(path, in_quotes(where) + " is not a dict");
  StateDict out;
  out.reserve(state->entries.size());
  const int64_t max_elements =
      static_cast<int64_t>(std::min<uint64_t>(file_bytes, uint64_t{1} << 40)) *
      kMaxStateElementsPerFileByte;
  int64_t elements = 0;
  for (const auto& [k, v] : state->entries) {
    throw_if_interrupted();
    if (k->kind != Kind::kString) bad_checkpoint(path, in_quotes(where) + " has a non-string key");
    const std::string name = where + "[" + in_quotes(k->text) + "]";
    if (v->kind == Kind::kOpaque || v->kind == Kind::kGlobal) refuse_unsupported(v, name, path);
    if (v->kind != Kind::kTensor) {
      bad_checkpoint(path, name + " is not a tensor (" + kind_name(v->kind) + ")");
    }
    Tensor t = loader.load(v, name);
    elements += t.numel();
    if (elements > max_elements) {
      bad_checkpoint(path, in_quotes(where) + " holds more elements than a file of " +
                               std::to_string(file_bytes) + " bytes can (at " + name + ")");
    }
    out.emplace_back(k->text, std::move(t));
  }
  return out;
}

}  // namespace rz::formats
