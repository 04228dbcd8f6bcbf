// Manifest (de)serialisation with validation that names the offending field.
#include "rz/stems/manifest.hpp"

#include "rz/audio/file.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"

namespace rz::stems {

using nlohmann::json;

std::string bad_stem_name_reason(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxStemNameBytes)
    return "is longer than " + std::to_string(kMaxStemNameBytes) + " characters";
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) return "does not start with a letter or digit";
  for (const char c : name) {
    if (!alnum(c) && c != '_' && c != '+' && c != '.' && c != '-')
      return "has a character other than A-Z a-z 0-9 _ + . -";
  }
  return "";
}

std::string bad_role_reason(const std::string& role) {
  if (role.empty() || role == kRoleRemoved) return "";
  return "is not a known role (known: \"" + std::string(kRoleRemoved) + "\")";
}

const StemEntry* Manifest::find(const std::string& name) const {
  for (const auto& s : stems) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void Manifest::inherit(const Manifest& input) {
  sample_rate_hz = input.sample_rate_hz;
  channels = input.channels;
  source = input.source;
  analysis = input.analysis;
  history = input.history;
}

nlohmann::json Manifest::stem_hashes() const {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& s : stems) inputs.push_back({{"stem", s.name}, {"sha256", s.sha256}});
  return inputs;
}

json Manifest::to_json() const {
  json j;
  j["schema"] = kSchemaName;
  j["schema_version"] = kSchemaVersion;
  j["sample_rate_hz"] = sample_rate_hz;
  j["channels"] = channels;
  j["frames"] = frames;
  j["duration_s"] = sample_rate_hz > 0 ? static_cast<double>(frames) / sample_rate_hz : 0.0;
  json st = json::array();
  for (const auto& s : stems) {
    json e = {{"name", s.name},     {"file", s.file},   {"format", s.format},
              {"frames", s.frames}, {"bytes", s.bytes}, {"sha256", s.sha256}};
    // Only when set: a manifest without roles reads and writes back byte for byte.
    if (!s.role.empty()) e["role"] = s.role;
    st.push_back(std::move(e));
  }
  j["stems"] = st;
  j["source"] = source;
  j["analysis"] = analysis;
  j["history"] = history;
  // Only when set, like a stem's role.
  if (music.is_object() && !music.empty()) j["music"] = music;
  return j;
}

namespace {

template <typename T>
T field(const json& j, const char* key, const std::string& subject) {
  if (!j.is_object()) throw InputError("invalid manifest", subject, "a stem is not an object");
  auto it = j.find(key);
  if (it == j.end())
    throw InputError("invalid manifest", subject, std::string("missing '") + key + "'");
  std::optional<T> v;
  if constexpr (std::is_same_v<T, json>) {
    v = *it;
  } else {
    v = io::get_checked<T>(*it);
  }
  if (!v) {
    throw InputError("invalid manifest", subject,
                     std::string("'") + key + "' has the wrong type or is out of range");
  }
  return *v;
}

// An optional member: `fallback` when absent, else it must be a T.
template <typename T>
T optional_field(const json& j, const char* key, T fallback, const std::string& subject) {
  if (!j.contains(key)) return fallback;
  return field<T>(j, key, subject);
}

}  // namespace

Manifest Manifest::from_json(const json& j, const std::string& subject) {
  if (!j.is_object()) throw InputError("invalid manifest", subject, "not a JSON object");
  if (field<std::string>(j, "schema", subject) != kSchemaName) {
    throw InputError("invalid manifest", subject, "schema is not rz-manifest");
  }
  const int64_t version = field<int64_t>(j, "schema_version", subject);
  if (version != kSchemaVersion) {
    throw InputError("unsupported manifest", subject,
                     "schema_version " + std::to_string(version) + ", this build reads " +
                         std::to_string(kSchemaVersion));
  }
  Manifest m;
  m.sample_rate_hz = field<int>(j, "sample_rate_hz", subject);
  m.channels = field<int>(j, "channels", subject);
  m.frames = field<int64_t>(j, "frames", subject);
  if (m.sample_rate_hz <= 0 || m.channels <= 0 || m.frames < 0) {
    throw InputError("invalid manifest", subject, "non-positive rate, channels or frames");
  }
  if (m.sample_rate_hz < kMinSampleRateHz || m.sample_rate_hz > kMaxSampleRateHz) {
    throw InputError("invalid manifest", subject,
                     "sample rate " + std::to_string(m.sample_rate_hz) + " Hz is outside " +
                         std::to_string(kMinSampleRateHz) + ".." +
                         std::to_string(kMaxSampleRateHz) + " Hz");
  }
  if (m.channels > audio::kMaxChannels) {
    throw InputError("invalid manifest", subject,
                     std::to_string(m.channels) + " channels (at most " +
                         std::to_string(audio::kMaxChannels) + ")");
  }
  const json stems = field<json>(j, "stems", subject);
  if (!stems.is_array() || stems.empty()) throw InputError("invalid manifest", subject, "no stems");
  if (stems.size() > kMaxStems) {
    throw InputError("invalid manifest", subject,
                     "more than " + std::to_string(kMaxStems) + " stems");
  }
  for (const auto& s : stems) {
    StemEntry e;
    e.name = field<std::string>(s, "name", subject);
    if (const std::string why = bad_stem_name_reason(e.name); !why.empty()) {
      throw InputError("invalid manifest", subject, "stem name " + in_quotes(e.name) + " " + why);
    }
    e.file = field<std::string>(s, "file", subject);
    if (const std::string why = io::unsafe_component_reason(e.file); !why.empty()) {
      throw InputError("invalid manifest", subject,
                       "stem '" + e.name + "' has a bad file name " + in_quotes(e.file) + " (" + why +
                           ")");
    }
    e.format = optional_field<std::string>(s, "format", "", subject);
    e.frames = field<int64_t>(s, "frames", subject);
    if (e.frames < 0) throw InputError("invalid manifest", subject, "stem '" + e.name + "' has negative frames");
    e.bytes = optional_field<uint64_t>(s, "bytes", 0, subject);
    e.sha256 = optional_field<std::string>(s, "sha256", "", subject);
    e.role = optional_field<std::string>(s, "role", "", subject);
    if (e.role.empty() && s.contains("role"))
      throw InputError("invalid manifest", subject, "stem '" + e.name + "' has an empty role");
    if (const std::string why = bad_role_reason(e.role); !why.empty()) {
      throw InputError("invalid manifest", subject,
                       "stem '" + e.name + "' has role " + in_quotes(e.role) + ", which " + why);
    }
    if (m.find(e.name))
      throw InputError("invalid manifest", subject, "stem '" + e.name + "' twice");
    for (const auto& other : m.stems) {
      if (other.file == e.file)
        throw InputError("invalid manifest", subject, "two stems share the file " + in_quotes(e.file));
    }
    m.stems.push_back(e);
  }
  m.source = j.value("source", json::object());
  m.analysis = j.value("analysis", json::object());
  m.history = j.value("history", json::array());
  if (!m.history.is_array())
    throw InputError("invalid manifest", subject, "history is not an array");
  m.music = j.value("music", json::object());
  if (!m.music.is_object()) throw InputError("invalid manifest", subject, "music is not an object");
  return m;
}

Manifest Manifest::parse(std::string_view text, const std::string& subject) {
  return from_json(io::parse_json(text, subject, "invalid manifest"), subject);
}

}  // namespace rz::stems
