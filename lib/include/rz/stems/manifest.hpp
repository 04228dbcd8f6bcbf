// The stem directory manifest, schema version 1 (documented in rz-manifest(5)).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rz::stems {

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kSchemaName = "rz-manifest";
inline constexpr const char* kManifestFile = "manifest.json";

struct StemEntry {
  std::string name;    // "mix", "vocals", ...
  std::string file;    // file name inside the directory, e.g. "mix.wav"
  std::string format;  // "wav/float32"
  int64_t frames = 0;
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex of the file's bytes
};

struct Manifest {
  int sample_rate_hz = 0;
  int channels = 0;
  int64_t frames = 0;
  std::vector<StemEntry> stems;
  nlohmann::json source = nlohmann::json::object();    // the original recording
  nlohmann::json analysis = nlohmann::json::object();  // rz-ingest's analysis of the source
  nlohmann::json history = nlohmann::json::array();    // one object per stage, oldest first

  const StemEntry* find(const std::string& name) const;
  // What a stage carries over from its input: rate, channels, source, analysis and history (the
  // stage then appends its own history entry).
  void inherit(const Manifest& input);
  // [{"stem": NAME, "sha256": HASH}, ...] of the stems: the "inputs" of a history entry.
  nlohmann::json stem_hashes() const;
  nlohmann::json to_json() const;
  // Parses and validates; `subject` names the file in errors (InputError).
  static Manifest from_json(const nlohmann::json& j, const std::string& subject);
};

}  // namespace rz::stems
