// The stem directory manifest, schema version 1 (documented in rz-manifest(5)).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rz::stems {

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kSchemaName = "rz-manifest";
inline constexpr const char* kManifestFile = "manifest.json";
// Far above any real directory (a manifest grows by a few kB per stage and stem); a larger one is
// refused before it is read.
inline constexpr size_t kMaxManifestBytes = size_t{64} << 20;
// The rates a stem directory runs at (rz-ingest --rate): every stage's filters assume an audio
// rate, so a manifest outside them is refused.
inline constexpr int kMinSampleRateHz = 8000;
inline constexpr int kMaxSampleRateHz = 384000;
// More stems than any separation gives (HTDemucs 6, MSST models up to about 20).
inline constexpr size_t kMaxStems = 256;
// Stem names: what rz-mix --gain NAME=dB, rz-master --stem NAME and file names take.
inline constexpr size_t kMaxStemNameBytes = 64;

// Why `name` cannot be a stem name, or "" when it can: 1 to 64 characters from A-Z a-z 0-9 and
// "_+.-", starting with a letter or digit. A stem's file is "<name>.wav", so a name that passes
// is a plain, visible file name in its directory and a word on a command line.
std::string bad_stem_name_reason(const std::string& name);

// A stem's role: what its content is to the recording. "" is an ordinary stem (music); "removed"
// is content a stage separated out as unwanted (crowd, noise, reverb): rz-enhance copies it
// untouched and rz-mix and rz-master leave it out unless asked (--keep).
inline constexpr const char* kRoleRemoved = "removed";

// Why `role` cannot be a stem's role, or "" when it can ("" or kRoleRemoved).
std::string bad_role_reason(const std::string& role);

struct StemEntry {
  std::string name;    // "mix", "vocals", ...
  std::string file;    // file name inside the directory, e.g. "mix.wav"
  std::string format;  // "wav/float32"
  int64_t frames = 0;
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex of the file's bytes
  std::string role;    // "" (ordinary) or kRoleRemoved; written only when set

  bool removed() const { return role == kRoleRemoved; }
};

struct Manifest {
  int sample_rate_hz = 0;
  int channels = 0;
  int64_t frames = 0;
  std::vector<StemEntry> stems;
  nlohmann::json source = nlohmann::json::object();    // the original recording
  nlohmann::json analysis = nlohmann::json::object();  // rz-ingest's analysis of the source
  nlohmann::json history = nlohmann::json::array();    // one object per stage, oldest first
  // rz-analyze's musical analysis of these stems (tempo, key, onsets, pitch, activity); written
  // only when set, and not inherited: a stage that writes new audio leaves it behind.
  nlohmann::json music = nlohmann::json::object();

  const StemEntry* find(const std::string& name) const;
  // What a stage carries over from its input: rate, channels, source, analysis and history (the
  // stage then appends its own history entry); not music, which describes the input's audio.
  void inherit(const Manifest& input);
  // [{"stem": NAME, "sha256": HASH}, ...] of the stems: the "inputs" of a history entry.
  nlohmann::json stem_hashes() const;
  nlohmann::json to_json() const;
  // Parses and validates; `subject` names the file in errors (InputError). Every number must fit
  // its field (no narrowing): a rate kMinSampleRateHz..kMaxSampleRateHz, 1..64 channels, frames
  // >= 0; stem names as
  // bad_stem_name_reason() allows, unique; files plain visible names in the directory; a stem's
  // "role", when present, a string bad_role_reason() accepts.
  static Manifest from_json(const nlohmann::json& j, const std::string& subject);
  // Parses manifest text (io::parse_json's limits: one document, at most io::kMaxJsonDepth deep)
  // and validates it as from_json does.
  static Manifest parse(std::string_view text, const std::string& subject);
};

}  // namespace rz::stems
