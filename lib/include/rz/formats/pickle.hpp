// A restricted pickle machine (protocols 0 to 5) for the data.pkl of torch.save archives: it
// builds plain data only and never calls anything. The few calls a checkpoint needs are evaluated
// by hand when the caller allows them; every other call becomes an opaque placeholder that the
// caller refuses wherever it must not be (demucs tolerates them only inside training_args).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rz::formats {

// Deeper nesting than this in kwargs is corrupt (or a reference cycle).
inline constexpr int kMaxJsonDepth = 64;
// Values a pickle may expand to when converted to JSON. The memo lets a pickle refer to one list
// many times, so 30 levels of [L, L] in 58 kB would expand to 2^30 values; real kwargs hold
// about 50.
inline constexpr int64_t kMaxJsonValues = int64_t{1} << 20;
// Bytes of text the pickle machine may copy from objects it already built (names of globals and
// storages, dict keys), and bytes of text the JSON of args and kwargs may hold. The memo lets a
// pickle repeat one long string for a few bytes a time: 70,000 references to a 100 kB string in
// a 240 kB pickle are 7 GB. Real checkpoints copy about 30 kB and their kwargs hold 300 bytes.
inline constexpr int64_t kMaxTextCopyBytes = int64_t{64} << 20;

// The calls the machine knows how to evaluate. A caller allows some of them (Unpickler).
// `OrderedDict(...)` -> a dict; `Fraction(...)` -> its value as a float; `_rebuild_tensor_v2` ->
// a tensor (a view of a storage, which a BINPERSID ('storage', type, key, location, numel) makes);
// `restore_type_tag(value, type)` -> the value.
inline constexpr const char* kCallOrderedDict = "collections.OrderedDict";
inline constexpr const char* kCallFraction = "fractions.Fraction";
inline constexpr const char* kCallRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
// `restore_type_tag(value, type)` -> value: libtorch's torch::pickle_save wraps a dict in it.
inline constexpr const char* kCallRestoreTypeTag = "torch.jit._pickle.restore_type_tag";

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kBytes,
  kList,
  kTuple,
  kDict,
  kGlobal,   // a class or function reference: text = "module.name"
  kStorage,  // a persistent id: text = key, type_name = storage class, integer = numel
  kTensor,   // _rebuild_tensor_v2: items[0] = storage, integer = offset, shape, strides
  kOpaque,   // the result of calling/building something unknown: text = what, or type_name =
             // what kind of value could not be represented
};

// A value the pickle built; which fields hold it depends on `kind`.
struct Object {
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::string type_name;       // storage: its class; opaque: what it is; dict: kCallOrderedDict
                               // when that call made it
  std::vector<Object*> items;  // list, tuple, set; tensor: the storage
  std::vector<std::pair<Object*, Object*>> entries;     // dict, in insertion order
  std::unordered_map<std::string, size_t> string_keys;  // dict: str key -> index in entries
  std::vector<int64_t> shape, strides;                  // tensor
};

// The name of a kind for messages: "None", "bool", ..., "tensor", "object" (kOpaque).
const char* kind_name(Kind k);

// Runs a pickle. `calls`: the globals whose calls are evaluated, each one of the kCall* names
// above (others throw std::invalid_argument); a call of any other global, or of an opaque value,
// yields a kOpaque object that names it. Every failure (truncation, an unsupported opcode named
// in the message, BUILD on anything but an opaque object, more than 2^21 objects, more than
// kMaxTextCopyBytes of names and keys copied) throws rz::InputError ("bad checkpoint '<path>':
// <reason> at byte N of data.pkl"). Checks for a pending interrupt every 2^16 opcodes.
class Unpickler {
 public:
  Unpickler(const std::vector<uint8_t>& bytes, const std::filesystem::path& path,
            std::vector<std::string> calls);
  ~Unpickler();
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // The value the pickle returns (STOP). It and everything it refers to live as long as the
  // Unpickler. Call once.
  const Object* load();

 private:
  class Machine;
  std::vector<std::string> calls_;
  std::unique_ptr<Machine> machine_;
};

// The value of a dict's str key, or nullptr.
const Object* dict_get(const Object* dict, const std::string& key);

// The refusal of an opaque value or a bare global found in `where`: throws rz::InputError
// ("unsupported value (<what>) in <where>" / "unsupported pickle global '<name>' in <where>").
[[noreturn]] void refuse_unsupported(const Object* o, const std::string& where,
                                     const std::filesystem::path& path);

// What the JSON of pickled values may still hold: values (kMaxJsonValues) and bytes of strings
// and keys (kMaxTextCopyBytes). One budget for all values of one file.
struct JsonBudget {
  int64_t values = kMaxJsonValues;
  int64_t text_bytes = kMaxTextCopyBytes;
};

// Converts `o` to JSON within `budget`: None -> null, bool, int, float and str map naturally,
// list and tuple -> array, dict -> object (str keys only). Anything else (bytes, globals, opaque
// values, storages, tensors), nesting deeper than kMaxJsonDepth or a spent budget throws
// rz::InputError naming `where` (e.g. "kwargs['sources'][2]").
nlohmann::json to_json(const Object* o, const std::string& where, const std::filesystem::path& path,
                       JsonBudget& budget, int depth = 0);

}  // namespace rz::formats
