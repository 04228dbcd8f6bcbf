// Where Demucs models live and how a model name or path resolves to checkpoint files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rz::demucs {

// A per-user directory after the XDG base directory spec: `$<xdg_var>/<leaf>` when that variable
// holds an absolute path (relative values are ignored, as the spec asks), else
// `$HOME/<home_relative>/<leaf>` (the password database's home when HOME is unset).
// Throws rz::IoError when no home directory can be found.
std::filesystem::path xdg_dir(const char* xdg_var, const char* home_relative, const char* leaf);

// $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models, else $HOME/.local/share/rz/models.
std::filesystem::path default_model_dir();

// The official model names that resolve without a local `.yaml` (the built-in table mirrors
// demucs' remote bag files), in the order error messages list them.
std::vector<std::string> official_model_names();

struct ModelSpec {
  std::string name;                          // "htdemucs", "tinybag", "tiny4000", or file stem
  std::vector<std::filesystem::path> files;  // checkpoints (.th), bag order; one for a model
  std::vector<std::vector<double>> weights;  // weights[i][k] for member i, source k; empty = all 1
  std::optional<double> segment;             // seconds: the bag's `segment:` if any
  bool bag = false;                          // came from a bag (a YAML file or an official name)
  // A RoFormer (MSST): `files` holds its one .ckpt, `config` its YAML, `model_type` MSST's
  // --model_type when known ("" lets the config tell; see roformer::read_config).
  bool roformer = false;
  std::filesystem::path config;
  std::string model_type;
};

// The RoFormer short names of scripts/fetch-models.sh (crowd, denoise, dereverb, vocals-bs,
// vocals-mel), in the order error messages list them.
std::vector<std::string> roformer_model_names();

// Resolves `model`, a name or a path, to checkpoint files. Nothing is read but directory listings
// and YAML: checkpoints are only located (read_checkpoint() checks their hash when loading).
//
// A path is a string that contains '/' or ends in ".th", ".ckpt" or ".yaml" (a bare "x.th" that
// does not exist in the working directory is also tried in `model_dir`). A .ckpt file is a
// RoFormer whose config is `model_config` when given, else the .yaml beside it. A .th file is a
// single model named like Checkpoint::name ("tiny4000" for tiny4000-0421bf8f.th). A .yaml file is a
// bag (read_bag) whose members are looked up in the YAML's own directory.
//
// A name is looked up in `model_dir` in this order:
//   0. `<name>.ckpt`: a RoFormer, its config `<name>.yaml` (or `model_config`), its model type
//      from `<name>.manifest.json` when scripts/fetch-models.sh wrote one;
// then like demucs' LocalRepo:
//   1. `<name>.yaml`: a bag, members looked up in `model_dir`;
//   2. `<name>.th` or `<name>-XXXXXXXX.th` (XXXXXXXX: 8 lower-case hex digits): a single model;
//   3. the official names: htdemucs -> [955717e8], htdemucs_6s -> [5c90dfd2],
//      htdemucs_ft -> [f7e0c4bc, d12395a8, 92cfc3b6, 04573f0d] with identity 4x4 weights
//      (each member found as in 2), marked as a bag like demucs' remote YAMLs.
// Bag members are found the same way as in 2. A RoFormer short name (roformer_model_names())
// that is absent gets the same "run scripts/fetch-models.sh NAME" message as an official name.
//
// Throws rz::InputError with a one-line message when the path does not exist or is neither .th
// nor .yaml, when a name is unknown (the message lists the official names), when two files match
// one name (ambiguous), when a bag member is missing, when a bag's weight rows do not match its
// models, or when an official model's weights are absent (the message says how to fetch them:
// "run scripts/fetch-models.sh NAME (or set RZ_MODEL_DIR or --model-dir)").
ModelSpec resolve_model(const std::string& model, const std::filesystem::path& model_dir,
                        const std::filesystem::path& model_config = {});

}  // namespace rz::demucs
