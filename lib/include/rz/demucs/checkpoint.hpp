// Reader for the official Demucs `.th` checkpoints, without libtorch (on rz/formats).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "rz/formats/torch_state.hpp"

namespace rz::demucs {

// The tensors of a checkpoint (rz/formats/torch_state.hpp).
using Tensor = formats::Tensor;

// The contents of a checkpoint written by `demucs.states.serialize_model` + `torch.save`.
struct Checkpoint {
  // Python name of the model class: "demucs.htdemucs.HTDemucs", or "demucs.hdemucs.HDemucs" /
  // "demucs.demucs.Demucs" (accepted here; the caller decides whether it can build them).
  std::string klass;
  // Positional and keyword constructor arguments as JSON: None -> null, bool, int, float and str
  // map naturally, list and tuple -> array, dict -> object (string keys only), and
  // `fractions.Fraction` -> its value as a double (HTDemucs' `segment` Fraction(39, 5) -> 7.8).
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kwargs = nlohmann::json::object();
  // Parameter name -> tensor, in file order. `training_args` is parsed but not kept.
  std::vector<std::pair<std::string, Tensor>> state;
  std::string sha256;  // lower-case hex SHA-256 of the whole file
  std::string name;    // "tiny4000" for tiny4000-0421bf8f.th; the file stem when there is no hash

  // The tensor stored under `key`, or nullptr. Linear in the number of entries.
  const Tensor* find(const std::string& key) const;
};

// Reads a checkpoint: a torch.save zip archive (stored entries, zip64 records allowed) holding
// `<root>/data.pkl` (pickle protocol 2 to 4) and one raw little-endian storage per tensor in
// `<root>/data/<key>`. The pickle machine knows only these globals: the model classes above,
// `fractions.Fraction`, `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and
// `torch.{Half,Float,Double}Storage`. Unknown globals are tolerated inside `training_args`
// (which is discarded) and refused anywhere else. Only the storages that `state` uses are read,
// one at a time; every stored entry's CRC-32 is checked as it is read.
//
// When the file name has demucs' `NAME-XXXXXXXX.th` form (XXXXXXXX: 8 lower-case hex digits),
// they must equal the first 8 hex digits of the file's SHA-256, as demucs' LocalRepo requires.
// Other names load without that check.
//
// Throws rz::InputError ("bad checkpoint '<path>': <reason>") when the file cannot be read, is
// not a zip, is truncated or corrupt, lacks data.pkl, uses a pickle opcode or global that is not
// supported (named in the message), references a storage that is absent or of the wrong size, or
// fails the SHA-256 check (the message gives the expected and the actual prefix).
Checkpoint read_checkpoint(const std::filesystem::path& path);

// demucs' `NAME-XXXXXXXX.th` naming: ("tiny4000", "0421bf8f") for tiny4000-0421bf8f.th; the file
// stem and "" for any other name.
std::pair<std::string, std::string> split_checkpoint_name(const std::filesystem::path& path);

}  // namespace rz::demucs
