// Reader of MSST's YAML configs for BS-RoFormer and Mel-Band RoFormer, with yaml-cpp.
//
// MSST loads these files with PyYAML's FullLoader into an ml_collections.ConfigDict and passes
// `model:` to the constructor as keyword arguments. The reader restates what that accepts for the
// keys that matter, and refuses, naming the key, what the official code would refuse (an unknown
// constructor argument raises TypeError there) or what this implementation does not run. Scalars
// are resolved as YAML 1.1 (PyYAML) resolves them, so `"5"` is a string and not a number, and
// `yes`/`on` are booleans.
#include "rz/roformer/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/roformer/bands.hpp"
#include "rz/stems/manifest.hpp"

namespace fs = std::filesystem;

namespace rz::roformer {

namespace {

constexpr const char* kBadConfig = "bad model config";
// An MSST config is 2 to 5 KiB of text.
constexpr size_t kMaxConfigBytes = size_t{1} << 20;
// The tag prefix of YAML's "!!" shorthand, as yaml-cpp reports it.
constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";
// An MSST config has a few hundred nodes; aliases can make a small file expand to billions.
constexpr size_t kMaxYamlNodes = size_t{1} << 20;

// Bounds far above every public model (dim 512, depth 12, 8 heads of 64, n_fft 4096, chunks of
// 485100 frames) that keep the sizes derived from them (mel filter bank, band tables, weights)
// allocatable and their products inside int64.
constexpr int64_t kMaxWidth = int64_t{1} << 16;  // dim, dim_head, heads, mlp_expansion_factor
constexpr int64_t kMaxDepth = 1024;              // blocks, layers per transformer, MLP depth
constexpr int64_t kMaxNfft = int64_t{1} << 16;   // n_fft, hop and window (1.5 s at 44.1 kHz)
constexpr int64_t kMaxChunkFrames = int64_t{1} << 31;
constexpr int64_t kMaxBatch = int64_t{1} << 16;

// MSST's DEFAULT_FREQS_PER_BANDS (bs_roformer.py): 62 bands over the 1025 bins of n_fft 2048.
std::vector<int64_t> default_freqs_per_bands() {
  std::vector<int64_t> bands;
  for (const auto& [count, width] :
       {std::pair<int, int64_t>{24, 2}, {12, 4}, {8, 12}, {8, 24}, {8, 48}, {1, 128}, {1, 129}}) {
    bands.insert(bands.end(), static_cast<size_t>(count), width);
  }
  return bands;
}

const char* class_name(Family f) {
  return f == Family::kBandSplit ? "BSRoformer" : "MelBandRoformer";
}

// The families a `model:` key belongs to.
enum Families : unsigned { kBs = 1, kMel = 2, kBoth = kBs | kMel };
unsigned family_bit(Family f) { return f == Family::kBandSplit ? kBs : kMel; }

struct IntKey {
  const char* name;
  int64_t ModelSettings::*field;
  int64_t min, max;
  unsigned families;
};
const IntKey kIntKeys[] = {
    {"dim", &ModelSettings::dim, 1, kMaxWidth, kBoth},
    {"depth", &ModelSettings::depth, 1, kMaxDepth, kBoth},
    {"num_stems", &ModelSettings::num_stems, 1, static_cast<int64_t>(stems::kMaxStems), kBoth},
    {"time_transformer_depth", &ModelSettings::time_transformer_depth, 0, kMaxDepth, kBoth},
    {"freq_transformer_depth", &ModelSettings::freq_transformer_depth, 0, kMaxDepth, kBoth},
    {"linear_transformer_depth", &ModelSettings::linear_transformer_depth, 0, kMaxDepth, kBoth},
    {"num_bands", &ModelSettings::num_bands, 2, kMaxNfft / 2 + 1, kMel},
    {"dim_head", &ModelSettings::dim_head, 1, kMaxWidth, kBoth},
    {"heads", &ModelSettings::heads, 1, kMaxWidth, kBoth},
    {"stft_n_fft", &ModelSettings::stft_n_fft, 1, kMaxNfft, kBoth},
    {"stft_hop_length", &ModelSettings::stft_hop_length, 1, kMaxNfft, kBoth},
    {"stft_win_length", &ModelSettings::stft_win_length, 1, kMaxNfft, kBoth},
    {"mask_estimator_depth", &ModelSettings::mask_estimator_depth, 1, kMaxDepth, kBoth},
    {"mlp_expansion_factor", &ModelSettings::mlp_expansion_factor, 1, kMaxWidth, kBoth},
};

struct BoolKey {
  const char* name;
  bool ModelSettings::*field;
  unsigned families;
};
const BoolKey kBoolKeys[] = {
    {"stereo", &ModelSettings::stereo, kBoth},
    {"stft_normalized", &ModelSettings::stft_normalized, kBoth},
    {"zero_dc", &ModelSettings::zero_dc, kBoth},
    {"skip_connection", &ModelSettings::skip_connection, kBoth},
    {"match_input_audio_length", &ModelSettings::match_input_audio_length, kMel},
};

// Constructor arguments that change nothing in eval: dropouts (inactive), the attention kernel
// choice (op order only), gradient checkpointing, the training loss, and dim_freqs_in (unused:
// the bins come from stft_n_fft).
const std::pair<const char*, unsigned> kIgnoredKeys[] = {
    {"attn_dropout", kBoth},
    {"ff_dropout", kBoth},
    {"flash_attn", kBoth},
    {"dim_freqs_in", kBoth},
    {"use_torch_checkpoint", kBoth},
    {"multi_stft_resolution_loss_weight", kBoth},
    {"multi_stft_resolutions_window_sizes", kBoth},
    {"multi_stft_hop_size", kBoth},
    {"multi_stft_normalized", kBoth},
    {"multi_stft_window_fn", kBoth},
};

// The other constructor arguments, read by hand below.
const std::pair<const char*, unsigned> kSpecialKeys[] = {
    {"freqs_per_bands", kBs},
    {"sample_rate", kMel},
    {"use_pope", kBoth},
    {"stft_window_fn", kBoth},
};

// Which families take `key` (0: neither).
unsigned key_families(const std::string& key) {
  for (const auto& k : kIntKeys) {
    if (key == k.name) return k.families;
  }
  for (const auto& k : kBoolKeys) {
    if (key == k.name) return k.families;
  }
  for (const auto& [name, families] : kIgnoredKeys) {
    if (key == name) return families;
  }
  for (const auto& [name, families] : kSpecialKeys) {
    if (key == name) return families;
  }
  return 0;
}

// YAML 1.1 booleans as PyYAML resolves plain scalars.
std::optional<bool> yaml11_bool(const std::string& s) {
  for (const char* t : {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}) {
    if (s == t) return true;
  }
  for (const char* f : {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}) {
    if (s == f) return false;
  }
  return std::nullopt;
}

// YAML 1.1 integers as PyYAML resolves them: decimal, 0x hex, 0b binary, 0-prefixed octal, with
// '_' separators and a sign. (Base-60 "1:30" is left out: no config writes one.)
std::optional<int64_t> yaml11_int(const std::string& text) {
  std::string s;
  for (const char c : text) {
    if (c != '_') s += c;
  }
  bool negative = false;
  size_t p = 0;
  if (p < s.size() && (s[p] == '-' || s[p] == '+')) negative = s[p++] == '-';
  int base = 10;
  if (s.compare(p, 2, "0x") == 0) {
    base = 16;
    p += 2;
  } else if (s.compare(p, 2, "0b") == 0) {
    base = 2;
    p += 2;
  } else if (s.size() - p > 1 && s[p] == '0') {
    base = 8;
    p += 1;
  }
  if (p >= s.size() || text.empty() || text[0] == '_') return std::nullopt;
  uint64_t magnitude = 0;
  const auto r = std::from_chars(s.data() + p, s.data() + s.size(), magnitude, base);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  if (magnitude > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  const auto v = static_cast<int64_t>(magnitude);
  return negative ? -v : v;
}

// What PyYAML would construct from a node, as far as the reader cares.
enum class Kind { kNull, kBool, kInt, kStr, kOther, kSeq, kMap };

Kind kind_of(const YAML::Node& n) {
  if (n.IsNull()) return Kind::kNull;
  if (n.IsSequence()) return Kind::kSeq;
  if (n.IsMap()) return Kind::kMap;
  const std::string& tag = n.Tag();
  if (tag == "!") return Kind::kStr;  // quoted
  if (tag.compare(0, kCoreTag.size(), kCoreTag) == 0) {
    const std::string t = tag.substr(kCoreTag.size());
    if (t == "str") return Kind::kStr;
    if (t == "null") return Kind::kNull;
    if (t == "bool") return yaml11_bool(n.Scalar()) ? Kind::kBool : Kind::kOther;
    if (t == "int") return yaml11_int(n.Scalar()) ? Kind::kInt : Kind::kOther;
    return Kind::kOther;
  }
  if (yaml11_bool(n.Scalar())) return Kind::kBool;
  if (yaml11_int(n.Scalar())) return Kind::kInt;
  return Kind::kStr;  // or a float, which no key read here takes
}

// "got ..." for messages.
std::string got(const YAML::Node& n) {
  switch (kind_of(n)) {
    case Kind::kNull:
      return "got null";
    case Kind::kSeq:
      return "got a list";
    case Kind::kMap:
      return "got a mapping";
    case Kind::kStr:
      return std::string(n.Tag() == "!" ? "got the string " : "got ") + in_quotes(n.Scalar(), 40);
    default:
      return "got " + in_quotes(n.Scalar(), 40);
  }
}

// "!!python/tuple" for "tag:yaml.org,2002:python/tuple".
std::string shown_tag(const std::string& tag) {
  if (tag.compare(0, kCoreTag.size(), kCoreTag) == 0) return "!!" + tag.substr(kCoreTag.size());
  return tag;
}

struct Entry {
  std::string key;   // "model.dim"
  std::string name;  // "dim"
  YAML::Node value;
};

class Reader {
 public:
  explicit Reader(const fs::path& path) : path_(path) {}

  Config read(const std::string& text, std::optional<Family> family) {
    const YAML::Node root = load(text);
    check_tags(root, "");
    if (!root.IsMap()) {
      const char* what = root.IsSequence() ? "a list" : root.IsNull() ? "empty" : "a scalar";
      fail(std::string("not an MSST config: the YAML is ") + what +
           ", not a mapping with a 'model:' section");
    }
    std::map<std::string, YAML::Node> sections;
    for (const Entry& e : entries(root, "")) sections[e.name] = e.value;
    const auto model = sections.find("model");
    if (model == sections.end()) fail("not an MSST config: no 'model:' section");
    if (!model->second.IsMap()) fail("model", "must be a mapping, " + got(model->second));

    Config c;
    const std::vector<Entry> model_entries = entries(model->second, "model");
    c.family = family ? *family : detect_family(model_entries);
    c.model = read_model(model_entries, c.family);
    c.channels = c.model.stereo ? 2 : 1;

    std::optional<int64_t> audio_chunk;
    if (const auto it = sections.find("audio"); it != sections.end()) {
      require_map(it->second, "audio");
      for (const Entry& e : entries(it->second, "audio")) {
        if (e.name == "sample_rate") {
          c.sample_rate_hz =
              static_cast<int>(integer(e, stems::kMinSampleRateHz, stems::kMaxSampleRateHz));
        } else if (e.name == "chunk_size") {
          audio_chunk = integer(e, 1, kMaxChunkFrames);
        }
      }
    }
    bool seen_instruments = false;
    if (const auto it = sections.find("training"); it != sections.end()) {
      require_map(it->second, "training");
      for (const Entry& e : entries(it->second, "training")) {
        if (e.name == "instruments") {
          seen_instruments = true;
          c.instruments = instruments(e);
        } else if (e.name == "target_instrument") {
          if (!e.value.IsNull()) c.target_instrument = text_value(e);
        } else if (e.name == "use_amp") {
          c.use_amp = boolean(e);
        }
      }
    }
    bool seen_chunk = false;
    if (const auto it = sections.find("inference"); it != sections.end()) {
      require_map(it->second, "inference");
      seen_chunk = read_inference(it->second, c.inference);
    }

    check_model(c.model, c.family);
    check_stems(c, seen_instruments);
    const char* chunk_key = seen_chunk ? "inference.chunk_size" : "audio.chunk_size";
    if (!seen_chunk) {
      if (!audio_chunk) fail("inference.chunk_size", "missing (and no audio.chunk_size)");
      c.inference.chunk_size = *audio_chunk;
    }
    if (c.inference.num_overlap > c.inference.chunk_size) {
      fail("inference.num_overlap",
           std::to_string(c.inference.num_overlap) + " is more than the chunk size " +
               std::to_string(c.inference.chunk_size) + " (the step chunk / overlap would be 0)");
    }
    if (c.family == Family::kMelBand && !c.model.match_input_audio_length &&
        c.inference.chunk_size % c.model.stft_hop_length != 0) {
      // Mel-Band's iSTFT returns (frames - 1) * hop samples, and MSST's demix fails on the
      // shorter chunk.
      fail(chunk_key, std::to_string(c.inference.chunk_size) +
                          " is not a multiple of model.stft_hop_length " +
                          std::to_string(c.model.stft_hop_length) +
                          " (needed by Mel-Band RoFormer without match_input_audio_length)");
    }
    return c;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw InputError(kBadConfig, path_.string(), reason);
  }
  // "line N: key: reason", N the line of the key when known.
  [[noreturn]] void fail(const std::string& key, const std::string& reason) const {
    const auto it = lines_.find(key);
    const std::string where = it == lines_.end() ? "" : "line " + std::to_string(it->second) + ": ";
    fail(where + printable(key) + ": " + reason);
  }

  YAML::Node load(const std::string& text) const {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
      const std::string where =
          e.mark.is_null() ? "" : "line " + std::to_string(e.mark.line + 1) + ": ";
      fail("not YAML: " + where + printable(e.msg));
    }
    if (docs.empty()) fail("not an MSST config: the YAML is empty");
    if (docs.size() > 1) {
      fail("holds " + std::to_string(docs.size()) + " YAML documents; an MSST config is one");
    }
    return docs[0];
  }

  // Refuses what PyYAML's FullLoader would not build into plain data: `!!python/...` tags other
  // than the tuple (which MSST's beartype checks need and which is read as a list here), and
  // tags of no YAML type. Keys must be plain names.
  void check_tags(const YAML::Node& n, const std::string& where) {
    if (++nodes_ > kMaxYamlNodes) {
      fail("more than " + std::to_string(kMaxYamlNodes) + " YAML nodes (aliases expanded)");
    }
    const std::string& tag = n.Tag();
    const std::string subject = where.empty() ? "the document" : where;
    const std::string line = "line " + std::to_string(n.Mark().line + 1) + ": ";
    if (tag != "?" && tag != "!" && !tag.empty()) {
      const bool core = tag.compare(0, kCoreTag.size(), kCoreTag) == 0;
      const std::string t = core ? tag.substr(kCoreTag.size()) : "";
      static const std::set<std::string> kPlainTypes = {"str", "int", "float",  "bool",      "null",
                                                        "seq", "map", "binary", "timestamp", "set"};
      const bool tuple = t == "python/tuple" && n.IsSequence();
      if (!core || (!tuple && !kPlainTypes.count(t))) {
        const bool python = t.compare(0, 7, "python/") == 0;
        fail(line + printable(subject) + ": YAML tag " + in_quotes(shown_tag(tag), 60) +
             (python ? " is refused (only !!python/tuple is read: no Python objects)"
                     : " is not supported"));
      }
    }
    if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) {
        check_tags(n[i], where + "[" + std::to_string(i) + "]");
      }
    } else if (n.IsMap()) {
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
          fail("line " + std::to_string(kv.first.Mark().line + 1) + ": " + printable(subject) +
               ": a key that is not a name");
        }
        check_tags(kv.first, where);
        check_tags(kv.second, (where.empty() ? "" : where + ".") + kv.first.Scalar());
      }
    }
  }

  // The keys of a mapping in file order, with their lines noted for messages; refuses a key
  // given twice (PyYAML keeps the last one silently, yaml-cpp the first).
  std::vector<Entry> entries(const YAML::Node& map, const std::string& prefix) {
    std::vector<Entry> out;
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string name = kv.first.Scalar();
      const std::string key = prefix.empty() ? name : prefix + "." + name;
      lines_.emplace(key, kv.first.Mark().line + 1);
      if (!seen.insert(name).second) {
        fail("line " + std::to_string(kv.first.Mark().line + 1) + ": " + printable(key) +
             ": given twice");
      }
      out.push_back({key, name, kv.second});
    }
    return out;
  }

  void require_map(const YAML::Node& n, const std::string& key) const {
    if (!n.IsMap()) fail(key, "must be a mapping, " + got(n));
  }

  int64_t integer(const Entry& e, int64_t min, int64_t max) const {
    if (kind_of(e.value) != Kind::kInt) fail(e.key, "must be an integer, " + got(e.value));
    const int64_t v = *yaml11_int(e.value.Scalar());
    if (v < min || v > max) {
      fail(e.key, std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
                      std::to_string(max) + ")");
    }
    return v;
  }

  bool boolean(const Entry& e) const {
    if (kind_of(e.value) != Kind::kBool) fail(e.key, "must be true or false, " + got(e.value));
    return *yaml11_bool(e.value.Scalar());
  }

  std::string text_value(const Entry& e) const {
    if (kind_of(e.value) != Kind::kStr) fail(e.key, "must be a name, " + got(e.value));
    return e.value.Scalar();
  }

  Family detect_family(const std::vector<Entry>& model) const {
    std::string bs_key, mel_key;
    for (const Entry& e : model) {
      if (e.name == "freqs_per_bands") bs_key = e.name;
      if (mel_key.empty() && (e.name == "num_bands" || e.name == "sample_rate")) mel_key = e.name;
    }
    if (!bs_key.empty() && !mel_key.empty()) {
      fail("model." + mel_key, "is a mel_band_roformer key, but freqs_per_bands is a " +
                                   std::string("bs_roformer one (give the model type)"));
    }
    if (!bs_key.empty()) return Family::kBandSplit;
    if (!mel_key.empty()) return Family::kMelBand;
    fail("model",
         "neither freqs_per_bands (bs_roformer) nor num_bands or sample_rate (mel_band_roformer) "
         "is set: give the model type (--model-type)");
  }

  ModelSettings read_model(const std::vector<Entry>& model, Family family) {
    ModelSettings m;
    if (family == Family::kMelBand) m.mask_estimator_depth = 1;  // MelBandRoformer's default
    const unsigned bit = family_bit(family);
    bool seen_dim = false, seen_depth = false;
    for (const Entry& e : model) {
      if (e.name == "sage_attention") {
        // The SageAttention configs (configs/sage/*.yaml) predate its removal from MSST.
        fail(e.key, (e.value.IsScalar() ? in_quotes(e.value.Scalar(), 40) : "a value") +
                        " is not supported: MSST removed SageAttention, and its " +
                        class_name(family) + " refuses the key too (TypeError)");
      }
      const unsigned families = key_families(e.name);
      if (!(families & bit)) {
        const std::string other =
            families ? std::string(" (it is a ") +
                           family_name(family == Family::kBandSplit ? Family::kMelBand
                                                                    : Family::kBandSplit) +
                           " key: is the model type right?)"
                     : " (MSST's constructor raises TypeError)";
        fail(e.key, std::string("not an argument of ") + class_name(family) + other);
      }
      if (e.name == "dim") seen_dim = true;
      if (e.name == "depth") seen_depth = true;
      if (const auto* k = find_int(e.name)) {
        m.*(k->field) = integer(e, k->min, k->max);
      } else if (const auto* b = find_bool(e.name)) {
        m.*(b->field) = boolean(e);
      } else if (e.name == "freqs_per_bands") {
        m.freqs_per_bands = freqs_per_bands(e);
      } else if (e.name == "sample_rate") {
        m.sample_rate_hz =
            static_cast<int>(integer(e, stems::kMinSampleRateHz, stems::kMaxSampleRateHz));
      } else if (e.name == "use_pope") {
        if (boolean(e)) fail(e.key, "true is not supported (PoPE embeddings; only rotary ones)");
      } else if (e.name == "stft_window_fn") {
        if (!e.value.IsNull()) fail(e.key, "must be null (the Hann window), " + got(e.value));
      }
    }
    if (!seen_dim)
      fail("model.dim", std::string("missing (required by ") + class_name(family) + ")");
    if (!seen_depth) {
      fail("model.depth", std::string("missing (required by ") + class_name(family) + ")");
    }
    if (m.linear_transformer_depth > 0) {
      fail("model.linear_transformer_depth",
           std::to_string(m.linear_transformer_depth) +
               " is not supported: only 0 (no linear-attention transformer)");
    }
    if (family == Family::kBandSplit && m.freqs_per_bands.empty()) {
      m.freqs_per_bands = default_freqs_per_bands();
    }
    return m;
  }

  static const IntKey* find_int(const std::string& name) {
    for (const auto& k : kIntKeys) {
      if (name == k.name) return &k;
    }
    return nullptr;
  }
  static const BoolKey* find_bool(const std::string& name) {
    for (const auto& k : kBoolKeys) {
      if (name == k.name) return &k;
    }
    return nullptr;
  }

  // A list of band widths; `!!python/tuple` (every public config) or a plain list.
  std::vector<int64_t> freqs_per_bands(const Entry& e) const {
    if (!e.value.IsSequence()) fail(e.key, "must be a list of bin counts, " + got(e.value));
    std::vector<int64_t> out;
    for (size_t i = 0; i < e.value.size(); ++i) {
      const Entry item{e.key + "[" + std::to_string(i) + "]", "", e.value[i]};
      out.push_back(integer(item, 1, kMaxNfft / 2 + 1));
    }
    if (out.size() < 2) {
      fail(e.key, "has " + std::to_string(out.size()) + " bands; BSRoformer needs at least 2");
    }
    return out;
  }

  // The cross-key rules of the constructors.
  void check_model(const ModelSettings& m, Family family) const {
    if (m.dim_head % 2 != 0) {
      fail("model.dim_head", std::to_string(m.dim_head) + " is odd (rotary embeddings need pairs)");
    }
    if (m.stft_win_length > m.stft_n_fft) {
      fail("model.stft_win_length", std::to_string(m.stft_win_length) +
                                        " is longer than stft_n_fft " +
                                        std::to_string(m.stft_n_fft));
    }
    const int64_t bins = m.stft_n_fft / 2 + 1;
    if (family == Family::kBandSplit) {
      int64_t sum = 0;
      for (const int64_t n : m.freqs_per_bands) sum += n;
      if (sum != bins) {
        const bool given = lines_.count("model.freqs_per_bands") > 0;
        fail(given ? "model.freqs_per_bands" : "model.stft_n_fft",
             std::string(given ? "" : "(absent: the 62-band default) ") + "sums to " +
                 std::to_string(sum) + " bins, but stft_n_fft " + std::to_string(m.stft_n_fft) +
                 " gives " + std::to_string(bins));
      }
      return;
    }
    if (m.num_bands > bins) {
      fail("model.num_bands", std::to_string(m.num_bands) + " bands for " + std::to_string(bins) +
                                  " bins (stft_n_fft " + std::to_string(m.stft_n_fft) + ")");
    }
    // MelBandRoformer asserts that every bin is in a band; a band without bins would have no
    // input at all.
    BandLayout layout;
    try {
      layout = mel_bands(m.sample_rate_hz, m.stft_n_fft, m.num_bands);
    } catch (const std::invalid_argument& e) {
      fail("model.num_bands", e.what());
    }
    for (size_t b = 0; b < layout.bins.size(); ++b) {
      if (layout.bins[b].empty()) {
        fail("model.num_bands", std::to_string(m.num_bands) + " mel bands over " +
                                    std::to_string(bins) + " bins leave band " + std::to_string(b) +
                                    " empty");
      }
    }
  }

  std::vector<std::string> instruments(const Entry& e) const {
    if (!e.value.IsSequence() || e.value.size() == 0) {
      fail(e.key, "must be a non-empty list of stem names, " + got(e.value));
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < e.value.size(); ++i) {
      const Entry item{e.key + "[" + std::to_string(i) + "]", "", e.value[i]};
      const std::string name = text_value(item);
      if (const std::string why = stems::bad_stem_name_reason(name); !why.empty()) {
        fail(e.key, "stem name " + in_quotes(name) + " " + why);
      }
      if (std::find(out.begin(), out.end(), name) != out.end()) {
        fail(e.key, in_quotes(name) + " is listed twice");
      }
      out.push_back(name);
    }
    return out;
  }

  // Returns whether chunk_size was given.
  bool read_inference(const YAML::Node& section, InferenceSettings& s) {
    bool seen_chunk = false;
    for (const Entry& e : entries(section, "inference")) {
      if (e.name == "chunk_size") {
        s.chunk_size = integer(e, 1, kMaxChunkFrames);
        seen_chunk = true;
      } else if (e.name == "num_overlap") {
        s.num_overlap = integer(e, 1, kMaxChunkFrames);
      } else if (e.name == "batch_size") {
        s.batch_size = integer(e, 1, kMaxBatch);
      } else if (e.name == "normalize") {
        s.normalize = boolean(e);
      } else if (e.name != "dim_t" && e.name != "extension") {
        // dim_t is read by other model types only; extension by MSST's valid.py.
        fail(e.key,
             "unknown key (expected chunk_size, num_overlap, batch_size, normalize or dim_t)");
      }
    }
    return seen_chunk;
  }

  void check_stems(const Config& c, bool seen_instruments) const {
    if (!seen_instruments) fail("training.instruments", "missing (the names of the stems)");
    if (!c.target_instrument.empty()) {
      if (std::find(c.instruments.begin(), c.instruments.end(), c.target_instrument) ==
          c.instruments.end()) {
        fail("training.target_instrument", in_quotes(c.target_instrument) +
                                               " is not among training.instruments (" +
                                               join(c.instruments, ", ") + ")");
      }
    }
    const size_t stems = c.model_stems().size();
    if (static_cast<int64_t>(stems) != c.model.num_stems) {
      fail("model.num_stems", std::to_string(c.model.num_stems) + " stems, but the config names " +
                                  std::to_string(stems) +
                                  (c.target_instrument.empty() ? " (training.instruments)"
                                                               : " (training.target_instrument)"));
    }
  }

  fs::path path_;
  std::map<std::string, int> lines_;  // key -> line, for messages
  size_t nodes_ = 0;                  // visited by check_tags
};

}  // namespace

const char* family_name(Family f) {
  return f == Family::kBandSplit ? "bs_roformer" : "mel_band_roformer";
}

std::optional<Family> parse_family(const std::string& model_type) {
  if (model_type == "bs_roformer") return Family::kBandSplit;
  if (model_type == "mel_band_roformer") return Family::kMelBand;
  return std::nullopt;
}

std::vector<std::string> Config::model_stems() const {
  if (!target_instrument.empty()) return {target_instrument};
  return instruments;
}

Config read_config(const fs::path& path, std::optional<Family> family) {
  // A FIFO or a device in the config's place is refused before anything reads from it.
  const std::string text = io::read_file(path, kMaxConfigBytes, "model config", kBadConfig);
  try {
    return Reader(path).read(text, family);
  } catch (const YAML::Exception& e) {
    // The reader checks each node's type before reading it; this is a safety net.
    throw InputError(kBadConfig, path.string(), "YAML: " + printable(e.msg));
  }
}

}  // namespace rz::roformer
