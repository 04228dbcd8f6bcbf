// Model lookup: names and paths to checkpoint files, after demucs' LocalRepo and remote bags.
#include "rz/demucs/model_store.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "rz/demucs/bag.hpp"
#include "rz/demucs/checkpoint.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"

namespace fs = std::filesystem;

namespace rz::demucs {

namespace {

// demucs/remote/{htdemucs,htdemucs_6s,htdemucs_ft}.yaml, which demucs downloads with the weights.
struct OfficialModel {
  std::string_view name;
  std::vector<std::string_view> members;
  bool identity_weights;  // htdemucs_ft: member i only contributes source i
};

const std::vector<OfficialModel>& official_models() {
  static const std::vector<OfficialModel> models = {
      {"htdemucs", {"955717e8"}, false},
      {"htdemucs_6s", {"5c90dfd2"}, false},
      {"htdemucs_ft", {"f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"}, true},
  };
  return models;
}

const OfficialModel* find_official(std::string_view name) {
  for (const auto& m : official_models()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// The official model that has `member` among its checkpoints, for a hint in messages.
const OfficialModel* official_with_member(std::string_view member) {
  for (const auto& m : official_models()) {
    if (std::find(m.members.begin(), m.members.end(), member) != m.members.end()) return &m;
  }
  return nullptr;
}

// Paths and names in messages, whole (up to a page) but on one line.
constexpr size_t kMaxQuotedChars = 4096;
std::string path_in_quotes(const std::string& s) { return rz::in_quotes(s, kMaxQuotedChars); }

std::string fetch_hint(std::string_view official_name) {
  return "run rz-fetch-models " + std::string(official_name) +
         " (or set RZ_MODEL_DIR or --model-dir)";
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_hash8(std::string_view s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The checkpoint of model `name` in `dir`: `<name>.th` or `<name>-XXXXXXXX.th`. nullopt when there
// is none (or `dir` cannot be listed); two matches are ambiguous, as in demucs' LocalRepo.
std::optional<fs::path> find_checkpoint(const fs::path& dir, const std::string& name) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".th") continue;
    const std::string stem = p.stem().string();
    const bool exact = stem == name;
    const bool hashed = stem.size() == name.size() + 9 && stem.compare(0, name.size(), name) == 0 &&
                        stem[name.size()] == '-' &&
                        is_hash8(std::string_view(stem).substr(name.size() + 1));
    std::error_code ec2;
    if ((exact || hashed) && fs::is_regular_file(p, ec2)) found.push_back(p);
  }
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string names;
    for (const auto& f : found) names += (names.empty() ? "" : ", ") + f.filename().string();
    throw InputError("ambiguous model", name,
                     "several checkpoints match in " + path_in_quotes(dir.string()) + ": " + names +
                         " (keep one)");
  }
  return found.front();
}

// Locates every member of a bag in `dir`; `subject` names the bag in messages.
std::vector<fs::path> find_members(const std::vector<std::string>& members, const fs::path& dir,
                                   const std::string& subject) {
  std::vector<fs::path> files;
  for (const auto& member : members) {
    auto p = find_checkpoint(dir, member);
    if (!p) {
      std::string reason = "member " + path_in_quotes(member) + " not found in " +
                           path_in_quotes(dir.string()) + " (no " + member + "-XXXXXXXX.th)";
      if (const OfficialModel* o = official_with_member(member))
        reason += "; " + fetch_hint(o->name);
      throw InputError("bad model bag", subject, reason);
    }
    files.push_back(*p);
  }
  return files;
}

ModelSpec spec_from_bag(const fs::path& yaml, const fs::path& member_dir) {
  const Bag b = read_bag(yaml);
  const std::string subject = yaml.string();
  if (b.models.empty()) throw InputError("bad model bag", subject, "it lists no models");
  // read_bag has already refused weights whose row count differs from the models'.
  ModelSpec spec;
  spec.name = yaml.stem().string();
  spec.files = find_members(b.models, member_dir, subject);
  spec.weights = b.weights;
  spec.segment = b.segment;
  spec.bag = true;
  return spec;
}

// scripts/fetch-models.sh writes a few hundred bytes.
constexpr size_t kMaxModelManifestBytes = 1 << 20;

constexpr const char* kRoformerNames[] = {"crowd", "denoise", "dereverb", "vocals-bs",
                                          "vocals-mel"};

// The model type scripts/fetch-models.sh recorded in `<stem>.manifest.json` beside `ckpt`, or
// "" (no manifest, or one without a usable model_type: then the config tells).
std::string recorded_model_type(const fs::path& ckpt) {
  fs::path manifest = ckpt;
  manifest.replace_extension(".manifest.json");
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec)) return "";
  try {
    const auto j = io::read_json_file(manifest, kMaxModelManifestBytes, "model manifest",
                                      "bad model manifest");
    const auto t = io::get_checked<std::string>(j, "model_type");
    return t ? *t : "";
  } catch (const Interrupted&) {
    throw;  // a signal stops the run: it says nothing about the files
  } catch (const Error&) {
    return "";
  }
}

// A RoFormer checkpoint and its config: `model_config`, else the .yaml beside it.
ModelSpec spec_from_ckpt(const fs::path& ckpt, const std::string& name,
                         const fs::path& model_config) {
  ModelSpec spec;
  spec.name = name;
  spec.files = {ckpt};
  spec.roformer = true;
  spec.config = model_config;
  if (spec.config.empty()) {
    spec.config = ckpt;
    spec.config.replace_extension(".yaml");
    std::error_code ec;
    if (!fs::is_regular_file(spec.config, ec)) {
      throw InputError("cannot open model", ckpt.string(),
                       "no config " + path_in_quotes(spec.config.string()) +
                           " beside it (give one with --model-config)");
    }
  }
  spec.model_type = recorded_model_type(ckpt);
  return spec;
}

ModelSpec spec_from_path(const std::string& model, const fs::path& model_dir,
                         const fs::path& model_config) {
  fs::path p(model);
  std::error_code ec;
  if (!fs::exists(p, ec) && model.find('/') == std::string::npos && !model_dir.empty() &&
      fs::exists(model_dir / p, ec)) {
    p = model_dir / p;
  }
  if (!fs::exists(p, ec)) throw InputError("cannot open model", model, "no such file");
  if (fs::is_directory(p, ec)) {
    throw InputError("cannot open model", model,
                     "is a directory (use --model-dir DIR to look names up in it)");
  }
  if (p.extension() == ".yaml") {
    const fs::path parent = p.parent_path();
    return spec_from_bag(p, parent.empty() ? fs::path(".") : parent);
  }
  if (p.extension() == ".ckpt") return spec_from_ckpt(p, p.stem().string(), model_config);
  if (p.extension() == ".th") {
    ModelSpec spec;
    spec.name = split_checkpoint_name(p).first;
    spec.files = {p};
    return spec;
  }
  throw InputError("cannot open model", model,
                   "not a .th or .ckpt checkpoint or a .yaml bag of models");
}

ModelSpec spec_from_official(const OfficialModel& o, const fs::path& model_dir) {
  std::vector<std::string> missing;
  ModelSpec spec;
  spec.name = std::string(o.name);
  spec.bag = true;
  for (const auto member : o.members) {
    auto p = find_checkpoint(model_dir, std::string(member));
    if (p) {
      spec.files.push_back(*p);
    } else {
      missing.emplace_back(member);
    }
  }
  // "model 'NAME' not found in 'DIR': run ...": the one message a new user meets first.
  if (missing.size() == o.members.size()) {
    throw InputError("model " + path_in_quotes(spec.name) + " not found in " +
                     path_in_quotes(model_dir.string()) + ": " + fetch_hint(o.name));
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m + "-XXXXXXXX.th";
    throw InputError("model " + path_in_quotes(spec.name) + " incomplete in " +
                     path_in_quotes(model_dir.string()) + " (no " + list +
                     "): " + fetch_hint(o.name));
  }
  if (o.identity_weights) {
    const size_t n = o.members.size();
    spec.weights.assign(n, std::vector<double>(n, 0.0));
    for (size_t i = 0; i < n; ++i) spec.weights[i][i] = 1.0;
  }
  return spec;
}

fs::path home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home);
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir && *pw->pw_dir) {
    return fs::path(pw->pw_dir);
  }
  throw IoError("no home directory", "HOME", "HOME is unset; set RZ_MODEL_DIR or XDG directories");
}

}  // namespace

fs::path xdg_dir(const char* xdg_var, const char* home_relative, const char* leaf) {
  if (const char* v = std::getenv(xdg_var); v && *v && fs::path(v).is_absolute()) {
    return fs::path(v) / leaf;
  }
  return home_dir() / home_relative / leaf;
}

fs::path default_model_dir() {
  if (const char* v = std::getenv("RZ_MODEL_DIR"); v && *v) return fs::path(v);
  return xdg_dir("XDG_DATA_HOME", ".local/share", "rz/models");
}

std::vector<std::string> official_model_names() {
  std::vector<std::string> names;
  for (const auto& m : official_models()) names.emplace_back(m.name);
  return names;
}

std::vector<std::string> roformer_model_names() {
  return {std::begin(kRoformerNames), std::end(kRoformerNames)};
}

ModelSpec resolve_model(const std::string& model, const fs::path& model_dir,
                        const fs::path& model_config) {
  if (model.empty()) throw InputError("bad model", model, "empty name");
  if (model.find('/') != std::string::npos || ends_with(model, ".th") ||
      ends_with(model, ".ckpt") || ends_with(model, ".yaml")) {
    return spec_from_path(model, model_dir, model_config);
  }
  std::error_code ec;
  const fs::path ckpt = model_dir / (model + ".ckpt");
  if (fs::is_regular_file(ckpt, ec)) return spec_from_ckpt(ckpt, model, model_config);
  const fs::path yaml = model_dir / (model + ".yaml");
  if (fs::is_regular_file(yaml, ec)) return spec_from_bag(yaml, model_dir);
  if (auto th = find_checkpoint(model_dir, model)) {
    ModelSpec spec;
    spec.name = model;
    spec.files = {*th};
    return spec;
  }
  if (const OfficialModel* o = find_official(model)) return spec_from_official(*o, model_dir);
  for (const char* r : kRoformerNames) {
    if (model == r) {
      throw InputError("model " + path_in_quotes(model) + " not found in " +
                       path_in_quotes(model_dir.string()) + ": " + fetch_hint(model));
    }
  }

  std::string names;
  for (const auto& n : official_model_names()) names += (names.empty() ? "" : ", ") + n;
  for (const auto& n : roformer_model_names()) names += ", " + n;
  throw InputError("unknown model", model,
                   "no " + model + ".ckpt, " + model + ".yaml or " + model + "-XXXXXXXX.th in " +
                       path_in_quotes(model_dir.string()) + "; official models: " + names);
}

}  // namespace rz::demucs
