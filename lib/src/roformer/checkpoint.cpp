// Reads MSST RoFormer checkpoints (see checkpoint.hpp).
#include "rz/roformer/checkpoint.hpp"

#include <vector>

#include "rz/error.hpp"
#include "rz/formats/bytes.hpp"
#include "rz/formats/pickle.hpp"
#include "rz/formats/zip.hpp"
#include "rz/stems/sha256.hpp"

namespace rz::roformer {

namespace fs = std::filesystem;
using formats::bad_checkpoint;
using formats::Kind;
using formats::Object;

Checkpoint read_checkpoint(const fs::path& path) {
  const formats::File file(path);
  const formats::ZipArchive zip(file);
  Checkpoint ck;
  ck.sha256 = stems::sha256_file(path);
  // The zip's root folder is the file's stem when it was saved ("tiny_bs/data.pkl"), which
  // ZipArchive::root() finds whatever it is.
  const std::string pickle_name = zip.root() + "/data.pkl";
  const formats::ZipEntry* entry = zip.find(pickle_name);
  if (!entry) bad_checkpoint(path, "no " + in_quotes(pickle_name) + " in the zip");
  std::vector<uint8_t> pickle;
  zip.read(pickle_name, *entry, &pickle);
  formats::Unpickler unpickler(
      pickle, path,
      {formats::kCallOrderedDict, formats::kCallRebuildTensorV2, formats::kCallRestoreTypeTag});
  const Object* top = unpickler.load();
  if (top->kind != Kind::kDict) bad_checkpoint(path, "the pickle is not a dict (not a state dict)");
  // load_start_checkpoint(type_='inference'): 'state', then 'state_dict', then
  // 'model_state_dict', each looked up in what the previous step left.
  std::string where = "state dict";
  for (const char* key : {"state", "state_dict", "model_state_dict"}) {
    if (const Object* inner = formats::dict_get(top, key)) {
      top = inner;
      ck.wrapper = key;
      where = key;
      if (top->kind != Kind::kDict) bad_checkpoint(path, in_quotes(key) + " is not a dict");
    }
  }
  formats::TensorLoader loader(zip, path);
  ck.state = formats::load_state_dict(top, where, loader, file.size(), path);
  if (ck.state.empty()) bad_checkpoint(path, "the state dict holds no tensors");
  return ck;
}

}  // namespace rz::roformer
