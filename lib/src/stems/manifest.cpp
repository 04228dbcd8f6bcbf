// Manifest (de)serialisation with validation that names the offending field.
#include "rz/stems/manifest.hpp"

#include "rz/error.hpp"

namespace rz::stems {

using nlohmann::json;

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
    st.push_back({{"name", s.name},
                  {"file", s.file},
                  {"format", s.format},
                  {"frames", s.frames},
                  {"bytes", s.bytes},
                  {"sha256", s.sha256}});
  }
  j["stems"] = st;
  j["source"] = source;
  j["analysis"] = analysis;
  j["history"] = history;
  return j;
}

namespace {

template <typename T>
T field(const json& j, const char* key, const std::string& subject) {
  auto it = j.find(key);
  if (it == j.end())
    throw InputError("invalid manifest", subject, std::string("missing '") + key + "'");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw InputError("invalid manifest", subject, std::string("'") + key + "' has the wrong type");
  }
}

}  // namespace

Manifest Manifest::from_json(const json& j, const std::string& subject) {
  if (!j.is_object()) throw InputError("invalid manifest", subject, "not a JSON object");
  if (field<std::string>(j, "schema", subject) != kSchemaName) {
    throw InputError("invalid manifest", subject, "schema is not rz-manifest");
  }
  int version = field<int>(j, "schema_version", subject);
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
  const json stems = field<json>(j, "stems", subject);
  if (!stems.is_array() || stems.empty()) throw InputError("invalid manifest", subject, "no stems");
  for (const auto& s : stems) {
    StemEntry e;
    e.name = field<std::string>(s, "name", subject);
    e.file = field<std::string>(s, "file", subject);
    e.format = s.value("format", "");
    e.frames = field<int64_t>(s, "frames", subject);
    e.bytes = s.value("bytes", uint64_t{0});
    e.sha256 = s.value("sha256", "");
    if (e.name.empty() || e.file.empty() || e.file.find('/') != std::string::npos ||
        e.file == "." || e.file == "..") {
      throw InputError("invalid manifest", subject, "stem '" + e.name + "' has a bad file name");
    }
    if (m.find(e.name))
      throw InputError("invalid manifest", subject, "stem '" + e.name + "' twice");
    m.stems.push_back(e);
  }
  m.source = j.value("source", json::object());
  m.analysis = j.value("analysis", json::object());
  m.history = j.value("history", json::array());
  if (!m.history.is_array())
    throw InputError("invalid manifest", subject, "history is not an array");
  return m;
}

}  // namespace rz::stems
