// Reads demucs .th checkpoints: the torch.save archive (rz/formats) holding the model's class,
// constructor arguments and state dict, and demucs' NAME-XXXXXXXX.th hash rule.
#include "rz/demucs/checkpoint.hpp"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "rz/error.hpp"
#include "rz/formats/bytes.hpp"
#include "rz/formats/pickle.hpp"
#include "rz/formats/zip.hpp"
#include "rz/stems/sha256.hpp"

namespace fs = std::filesystem;

namespace rz::demucs {

using formats::bad_checkpoint;
using formats::dict_get;
using formats::File;
using formats::JsonBudget;
using formats::kCallFraction;
using formats::kCallOrderedDict;
using formats::kCallRebuildTensorV2;
using formats::Kind;
using formats::kind_name;
using formats::Object;
using formats::refuse_unsupported;
using formats::TensorLoader;
using formats::to_json;
using formats::Unpickler;
using formats::ZipArchive;
using formats::ZipEntry;

namespace {

bool is_lower_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

// demucs' LocalRepo names: "NAME-XXXXXXXX.th" -> {NAME, XXXXXXXX}; anything else -> {stem, ""}.
std::pair<std::string, std::string> split_checkpoint_name(const fs::path& path) {
  const std::string stem = path.stem().string();
  const size_t dash = stem.rfind('-');
  if (path.extension() == ".th" && dash != std::string::npos && dash > 0 &&
      stem.size() - dash - 1 == 8 && is_lower_hex(stem.substr(dash + 1))) {
    return {stem.substr(0, dash), stem.substr(dash + 1)};
  }
  return {stem, ""};
}

namespace {

constexpr const char* kModelClasses[] = {
    "demucs.htdemucs.HTDemucs",
    "demucs.hdemucs.HDemucs",
    "demucs.demucs.Demucs",
};

}  // namespace

const Tensor* Checkpoint::find(const std::string& key) const {
  for (const auto& [k, t] : state) {
    if (k == key) return &t;
  }
  return nullptr;
}

Checkpoint read_checkpoint(const fs::path& path) {
  const File file(path);
  const ZipArchive zip(file);

  Checkpoint ck;
  std::string expected_hash;
  std::tie(ck.name, expected_hash) = split_checkpoint_name(path);
  ck.sha256 = stems::sha256_file(path);
  if (!expected_hash.empty() && ck.sha256.compare(0, 8, expected_hash) != 0) {
    bad_checkpoint(path, "SHA-256 mismatch: the file name says " + expected_hash +
                             ", the file hashes to " + ck.sha256.substr(0, 8) +
                             " (corrupt or renamed file)");
  }

  const std::string pickle_name = zip.root() + "/data.pkl";
  const ZipEntry* pickle_entry = zip.find(pickle_name);
  if (!pickle_entry) bad_checkpoint(path, "no " + in_quotes(pickle_name) + " in the zip");
  std::vector<uint8_t> pickle;
  zip.read(pickle_name, *pickle_entry, &pickle);
  Unpickler unpickler(pickle, path, {kCallOrderedDict, kCallFraction, kCallRebuildTensorV2});
  const Object* top = unpickler.load();

  if (top->kind != Kind::kDict) bad_checkpoint(path, "the pickle is not a dict");
  auto require = [&](const char* key) {
    const Object* o = dict_get(top, key);
    if (!o) {
      bad_checkpoint(path, std::string("no ") + in_quotes(key) + " (not a demucs model file)");
    }
    return o;
  };
  const Object* klass = require("klass");
  if (klass->kind != Kind::kGlobal) bad_checkpoint(path, "'klass' is not a class");
  if (std::find(std::begin(kModelClasses), std::end(kModelClasses), klass->text) ==
      std::end(kModelClasses)) {
    bad_checkpoint(path, "unsupported model class " + in_quotes(klass->text));
  }
  ck.klass = klass->text;

  const Object* args = require("args");
  if (args->kind != Kind::kTuple && args->kind != Kind::kList) {
    bad_checkpoint(path, "'args' is not a tuple");
  }
  JsonBudget budget;
  ck.args = to_json(args, "args", path, budget);
  const Object* kwargs = require("kwargs");
  if (kwargs->kind != Kind::kDict) bad_checkpoint(path, "'kwargs' is not a dict");
  ck.kwargs = to_json(kwargs, "kwargs", path, budget);

  const Object* state = require("state");
  if (state->kind != Kind::kDict) bad_checkpoint(path, "'state' is not a dict");
  TensorLoader loader(zip, path);
  ck.state = formats::load_state_dict(state, "state", loader, file.size(), path);
  return ck;
}

}  // namespace rz::demucs
