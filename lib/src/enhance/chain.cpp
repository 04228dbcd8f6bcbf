// Default chains per stem kind, presets, overrides and intensity scaling for rz-enhance.
#include "rz/enhance/chain.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/params.hpp"

namespace rz::enhance {

using nlohmann::json;

namespace {

// How far each preset moves the defaults: every move is scaled (like --intensity) and the noise
// reducer's decision threshold shifts (conservative needs a noisier stem before it acts).
struct PresetShape {
  double move_scale;
  double max_snr_shift_db;
};
PresetShape preset_shape(Preset p) {
  switch (p) {
    case Preset::kConservative:
      return {0.6, -3.0};
    case Preset::kAggressive:
      return {1.4, 3.0};
    case Preset::kBalanced:
      break;
  }
  return {1.0, 0.0};
}

// A ratio above 1 and a cut above 0 by this little: the dynamic EQ's ranges exclude the exact
// no-op values that intensity 0 scales to.
constexpr double kNoMove = 1e-6;
// Lowest high-pass corner: intensity 0 moves the corner here (below any instrument).
constexpr double kHighpassFloorHz = 20.0;

// The one declaration of every chain parameter: block, key, the defaults per kind (vocals, drums,
// bass, other, mix: balanced, before intensity, engineers' usual treatment of each source) and,
// for a parameter the block's dsp settings do not declare, its unit, range and meaning. A dsp
// parameter takes those from its settings' table (DenoiseSettings::fields(), ...). The last
// parameter of a block is the threshold of its decision. Defaults in brief: vocals get rumble
// high-pass, noise reduction, presence, de-essing, gentle compression; drums transient shaping and
// low-mid cleanup, no noise reduction (cymbal wash and room sound are not noise); bass a 30 Hz
// high-pass, low-end focus, light compression; other de-mud, presence, an exciter when dull; the
// whole mix (or an unknown stem) the conservative subset: no tonal boosts, no dynamics changes.
enum class Type { kSwitch, kNumber, kInteger };
struct Row {
  const char* block;
  const char* key;
  std::array<double, 5> defaults;  // per StemKind, in enum order
  Type type = Type::kNumber;
  // Only for parameters the dsp block does not declare:
  const char* unit = nullptr;
  double min = 0, max = 0;
  const char* meaning = nullptr;
};
constexpr Type kSwitch = Type::kSwitch;
constexpr double kOn = 1, kOff = 0;
const char* const kEnabled = "run the block (when its measurement calls for it)";
const char* const kAboveMedian = "threshold: the band's median 10 ms peak level plus this";

const std::vector<Row>& rows() {
  const dsp::DenoiseSettings dn;
  const dsp::TransientShaperSettings ts;
  auto same = [](double v) { return std::array<double, 5>{v, v, v, v, v}; };
  static const std::vector<Row> r = {
      // clang-format off
      {"highpass", "enabled", {kOn, kOn, kOn, kOn, kOn}, kSwitch, "", 0, 1, kEnabled},
      {"highpass", "freq_hz", {90, 30, 30, 40, 25}, Type::kNumber, "Hz", 10, 1000,
       "-3 dB corner of the linear-phase rumble high-pass"},
      {"highpass", "order", same(4), Type::kInteger, "", 2, 4, "filter order, 2 or 4"},
      {"highpass", "min_energy_db", same(-6), Type::kNumber, "dB", -100, 100,
       "runs when the energy below freq_hz, re the octave above it, exceeds this"},
      {"denoise", "enabled", {kOn, kOff, kOff, kOn, kOn}, kSwitch, "", 0, 1, kEnabled},
      {"denoise", "strength_db", {10, 6, 6, 8, 10}},
      {"denoise", "smoothing", same(dn.smoothing)},
      {"denoise", "tracker_window_s", same(dn.tracker_window_s)},
      {"denoise", "low_cap_hz", same(dn.low_cap_hz)},
      {"denoise", "noise_band_depth_db", {0, 0, 0, 0, 20}},
      {"denoise", "max_snr_db", {13, 6, 6, 10, 9.8}, Type::kNumber, "dB", -50, 120,
       "runs when the stem's SNR estimate is below this (full strength 1 dB under it; 4 dB more "
       "with a noise profile)"},
      {"demud", "enabled", {kOff, kOn, kOn, kOn, kOn}, kSwitch, "", 0, 1, kEnabled},
      {"demud", "freq_hz", {300, 350, 250, 250, 250}},
      {"demud", "q", {1.0, 1.2, 1.0, 1.0, 1.0}},
      {"demud", "ratio", {3, 3, 2.5, 3, 2}},
      {"demud", "max_cut_db", {3, 4, 3, 4, 3}},
      {"demud", "attack_ms", {5, 5, 10, 5, 5}},
      {"demud", "release_ms", {120, 120, 150, 120, 150}},
      {"demud", "above_median_db", {4, 4, 4, 4, 6}, Type::kNumber, "dB", -96, 96, kAboveMedian},
      {"demud", "min_excess_db", {3, 2, 3, 2, 3}, Type::kNumber, "dB", -60, 60,
       "runs when the band's octave exceeds the mean of its neighbours by this"},
      {"low_focus", "enabled", {kOff, kOff, kOn, kOff, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"low_focus", "freq_hz", {100, 60, 80, 100, 80}, Type::kNumber, "Hz", 20, 100000,
       "centre of the peaking boost of the fundamentals"},
      {"low_focus", "q", {1.0, 1.0, 0.8, 1.0, 1.0}, Type::kNumber, "", 0.1, 20,
       "quality of the peak"},
      {"low_focus", "gain_db", {1.5, 1.5, 2.0, 1.5, 1.5}, Type::kNumber, "dB", -12, 12, "boost"},
      {"low_focus", "max_balance_db", {-6, -6, 0, -6, -6}, Type::kNumber, "dB", -60, 60,
       "runs when energy 40-100 Hz re 150-400 Hz is below this"},
      {"presence", "enabled", {kOn, kOff, kOff, kOn, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"presence", "freq_hz", {3000, 4000, 1500, 3000, 3000}, Type::kNumber, "Hz", 20, 100000,
       "centre of the presence boost"},
      {"presence", "q", {0.9, 0.9, 1.0, 0.8, 0.9}, Type::kNumber, "", 0.1, 20,
       "quality of the peak"},
      {"presence", "gain_db", {2.5, 1.5, 1.5, 1.5, 1.5}, Type::kNumber, "dB", -12, 12, "boost"},
      {"presence", "max_centroid_hz", {2500, 2000, 300, 1800, 1500}, Type::kNumber, "Hz", 0,
       100000, "runs when the spectral centroid is below this"},
      {"deess", "enabled", {kOn, kOff, kOff, kOff, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"deess", "freq_hz", {6500, 8000, 6500, 7000, 6500}},
      {"deess", "q", same(1.5)},
      {"deess", "ratio", {4, 3, 3, 3, 3}},
      {"deess", "max_cut_db", {6, 4, 4, 4, 4}},
      {"deess", "attack_ms", same(1)},
      {"deess", "release_ms", same(60)},
      {"deess", "above_median_db", same(6), Type::kNumber, "dB", -96, 96, kAboveMedian},
      {"deess", "min_sibilance_db", {-12, -6, 0, -6, -6}, Type::kNumber, "dB", -100, 100,
       "runs when the band's energy re 1-4 kHz exceeds this"},
      {"transient", "enabled", {kOff, kOn, kOff, kOff, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"transient", "attack_gain_db", {2, 4, 2, 2, 2}},
      {"transient", "sustain_gain_db", {0, -1, 0, 0, 0}},
      {"transient", "fast_ms", same(ts.fast_ms)},
      {"transient", "slow_ms", same(ts.slow_ms)},
      {"transient", "release_ms", same(ts.release_ms)},
      {"transient", "max_crest_db", {18, 22, 15, 18, 15}, Type::kNumber, "dB", 0, 100,
       "runs when the crest factor (peak re RMS) is below this"},
      {"compress", "enabled", {kOn, kOff, kOn, kOff, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"compress", "ratio", {2.5, 2, 2, 2, 1.5}},
      {"compress", "knee_db", same(6)},
      {"compress", "attack_ms", {5, 10, 20, 10, 20}},
      {"compress", "release_ms", {100, 150, 200, 150, 200}},
      {"compress", "makeup_db", same(0)},
      {"compress", "above_median_db", {3, 6, 3, 6, 6}, Type::kNumber, "dB", -96, 96,
       "threshold: the stem's median 10 ms peak level plus this"},
      {"compress", "min_spread_db", {8, 10, 6, 10, 12}, Type::kNumber, "dB", 0, 100,
       "runs when the 400 ms levels spread (95th - 10th percentile) exceeds this"},
      {"exciter", "enabled", {kOff, kOff, kOff, kOn, kOff}, kSwitch, "", 0, 1, kEnabled},
      {"exciter", "freq_hz", {5000, 6000, 3000, 4000, 5000}},
      {"exciter", "drive_db", same(12)},
      {"exciter", "mix", {0.05, 0.05, 0.05, 0.08, 0.05}},
      {"exciter", "max_rolloff_hz", {5000, 5000, 2000, 4000, 3000}, Type::kNumber, "Hz", 0,
       100000, "runs when 85 % of the energy lies below this"},
      // clang-format on
  };
  return r;
}

// The dsp settings table behind a block's parameters (nullptr: the block declares its own).
template <class F>
bool with_dsp_field(const std::string& block, const std::string& key, const F& f) {
  auto try_table = [&](const auto& fields) {
    const auto* field = params::find(fields, key);
    if (field) f(*field);
    return field != nullptr;
  };
  if (block == "denoise") return try_table(dsp::DenoiseSettings::fields());
  if (block == "demud" || block == "deess") return try_table(dsp::DynamicEqSettings::fields());
  if (block == "transient") return try_table(dsp::TransientShaperSettings::fields());
  if (block == "compress") return try_table(dsp::CompressorSettings::fields());
  if (block == "exciter") return try_table(dsp::ExciterSettings::fields());
  return false;
}

// Balanced defaults of a kind, from the table.
json kind_defaults(StemKind kind) {
  json chain = json::object();
  for (const Row& r : rows()) {
    const double v = r.defaults[static_cast<size_t>(kind)];
    json& b = chain[r.block];
    if (r.type == Type::kSwitch)
      b[r.key] = v != 0;
    else if (r.type == Type::kInteger)
      b[r.key] = static_cast<int>(v);
    else
      b[r.key] = v;
  }
  return chain;
}

double num(const json& block, const char* key) { return block.at(key).get<double>(); }

void scale(json& block, const char* key, double s) { block[key] = num(block, key) * s; }

// Keys that are moves (scaled by presets and intensity), per block.
void scale_block_moves(const std::string& name, json& b, double s) {
  if (name == "highpass") {
    const double f = num(b, "freq_hz");
    if (f > kHighpassFloorHz)
      b["freq_hz"] = kHighpassFloorHz * std::pow(f / kHighpassFloorHz, std::min(s, 1.0));
  } else if (name == "denoise") {
    scale(b, "strength_db", s);
    scale(b, "noise_band_depth_db", s);
  } else if (name == "demud" || name == "deess") {
    scale(b, "max_cut_db", s);
    b["ratio"] = 1.0 + (num(b, "ratio") - 1.0) * s;
  } else if (name == "low_focus" || name == "presence") {
    scale(b, "gain_db", s);
  } else if (name == "transient") {
    scale(b, "attack_gain_db", s);
    scale(b, "sustain_gain_db", s);
  } else if (name == "compress") {
    b["ratio"] = 1.0 + (num(b, "ratio") - 1.0) * s;
    scale(b, "makeup_db", s);
  } else if (name == "exciter") {
    b["mix"] = std::min(1.0, num(b, "mix") * s);
  }
}

}  // namespace

StemKind stem_kind(const std::string& n) {
  if (n == "vocals" || n == "vocal" || n == "voice") return StemKind::kVocals;
  if (n == "drums" || n == "drum" || n == "percussion") return StemKind::kDrums;
  if (n == "bass") return StemKind::kBass;
  if (n == "other" || n == "guitar" || n == "piano" || n == "keys" || n == "no_vocals" ||
      n == "no_drums" || n == "no_bass" || n == "no_other" || n == "no_guitar" || n == "no_piano")
    return StemKind::kOther;
  return StemKind::kMix;
}

std::string to_string(StemKind k) {
  switch (k) {
    case StemKind::kVocals:
      return "vocals";
    case StemKind::kDrums:
      return "drums";
    case StemKind::kBass:
      return "bass";
    case StemKind::kOther:
      return "other";
    case StemKind::kMix:
      break;
  }
  return "mix";
}

Preset parse_preset(const std::string& t) {
  if (t == "conservative") return Preset::kConservative;
  if (t == "balanced") return Preset::kBalanced;
  if (t == "aggressive") return Preset::kAggressive;
  throw UsageError(describe("unknown preset", t, "use conservative, balanced or aggressive"));
}

std::string to_string(Preset p) {
  switch (p) {
    case Preset::kConservative:
      return "conservative";
    case Preset::kAggressive:
      return "aggressive";
    case Preset::kBalanced:
      break;
  }
  return "balanced";
}

const std::vector<std::string>& block_names() {
  static const std::vector<std::string> names = {"highpass",  "denoise",  "demud",
                                                 "low_focus", "presence", "deess",
                                                 "transient", "compress", "exciter"};
  return names;
}

ChainParams default_chain(StemKind kind, Preset preset) {
  json chain = kind_defaults(kind);
  const PresetShape shape = preset_shape(preset);
  for (const auto& name : block_names()) scale_block_moves(name, chain[name], shape.move_scale);
  chain["denoise"]["max_snr_db"] = num(chain["denoise"], "max_snr_db") + shape.max_snr_shift_db;
  return chain;
}

void apply_overrides(ChainParams& chain, const json& overrides, const std::string& subject) {
  if (!overrides.is_object())
    throw UsageError(
        describe("bad enhance settings", subject, "a stem's settings must be an object"));
  for (const auto& [block, params] : overrides.items()) {
    const std::string where = subject + ": " + printable(block);
    if (!chain.contains(block))
      throw UsageError(describe("unknown block", where,
                                "blocks are highpass, denoise, demud, low_focus, presence, deess, "
                                "transient, compress, exciter"));
    if (!params.is_object())
      throw UsageError(describe("bad enhance settings", where, "must be an object"));
    for (const auto& [key, value] : params.items()) {
      json& target = chain[block];
      if (!target.contains(key))
        throw UsageError(describe("unknown parameter", where + "." + printable(key),
                                  "see rz-enhance --list-parameters"));
      const bool want_bool = target[key].is_boolean();
      if (want_bool ? !value.is_boolean() : !value.is_number())
        throw UsageError(describe("bad value", where + "." + printable(key),
                                  want_bool ? "must be true or false" : "must be a number"));
      target[key] = value;
    }
  }
}

void restrict_blocks(ChainParams& chain, const std::vector<std::string>& only) {
  for (const auto& name : only) {
    if (std::find(block_names().begin(), block_names().end(), name) == block_names().end())
      throw UsageError(describe("unknown block", name,
                                "blocks are highpass, denoise, demud, low_focus, presence, deess, "
                                "transient, compress, exciter"));
  }
  for (const auto& name : block_names())
    if (std::find(only.begin(), only.end(), name) == only.end()) chain[name]["enabled"] = false;
}

void scale_moves(ChainParams& chain, double intensity) {
  if (!(intensity >= 0.0 && intensity <= 1.0))
    throw UsageError(describe("bad intensity", fixed(intensity), "use 0..1"));
  for (const auto& name : block_names()) scale_block_moves(name, chain[name], intensity);
}

void validate_chain(const ChainParams& c, const std::string& stem, double rate) {
  try {
    // Every parameter the chain declares itself, against its range.
    for (const ChainParameter& p : chain_parameters()) {
      const json& v = c.at(p.block).at(p.key);
      if (p.is_switch || p.from_dsp) continue;
      const double x = v.get<double>();
      if (!params::in_range(x, p.min, p.max, p.min_exclusive) || (p.integer && std::floor(x) != x))
        params::throw_out_of_range(p.block + " " + p.key, x, p.min, p.max, p.min_exclusive, p.unit,
                                   p.integer);
    }
    const double order = num(c.at("highpass"), "order");
    if (order != 2 && order != 4)
      throw UsageError(describe("bad highpass order", fixed(order), "use 2 or 4"));
    // The dsp blocks' parameters as the blocks will get them, against the blocks' own tables
    // (named by the chain's block), then the blocks' rules between fields.
    params::check(denoise_settings(c), dsp::DenoiseSettings::fields(), "denoise ");
    for (const char* band : {"demud", "deess"}) {
      const dsp::DynamicEqSettings s = dynamic_eq_settings(c, band);
      params::check(s, dsp::DynamicEqSettings::fields(), std::string(band) + " ");
    }
    const dsp::TransientShaperSettings t = transient_settings(c);
    params::check(t, dsp::TransientShaperSettings::fields(), "transient ");
    t.validate();
    params::check(compressor_settings(c), dsp::CompressorSettings::fields(), "compress ");
    const dsp::ExciterSettings x = exciter_settings(c);
    params::check(x, dsp::ExciterSettings::fields(), "exciter ");
    x.validate();
    for (const RateBound& r : rate_bounds()) {
      const json& b = c.at(r.block);
      const double band = num(b, "freq_hz");
      if (b.at("enabled").get<bool>() && !(band < r.max_fraction * rate))
        throw UsageError(describe(std::string("bad ") + r.block + " freq_hz", fixed(band),
                                  "must be below " + fixed(r.max_fraction) + " of the " +
                                      fixed(rate, 0) + " Hz sample rate"));
    }
  } catch (const UsageError& e) {
    throw UsageError("stem '" + stem + "': " + e.what());
  } catch (const json::exception& e) {
    throw UsageError(describe("bad enhance settings", stem, io::json_reason(e)));
  }
}

const std::vector<RateBound>& rate_bounds() {
  static const std::vector<RateBound> bounds = {{"demud", 0.49},
                                                {"deess", 0.49},
                                                {"low_focus", 0.49},
                                                {"presence", 0.49},
                                                {"exciter", dsp::Exciter::kPassEdge}};
  return bounds;
}

std::vector<OutOfBand> disable_out_of_band(
    ChainParams& c, double rate, const std::function<bool(const std::string&)>& user_set) {
  std::vector<OutOfBand> out;
  for (const RateBound& r : rate_bounds()) {
    json& b = c.at(r.block);
    const double f = num(b, "freq_hz");
    if (!b.at("enabled").get<bool>() || f < r.max_fraction * rate || user_set(r.block)) continue;
    b["enabled"] = false;
    out.push_back({r.block, "band " + fixed(f, 0) + " Hz is not below " + fixed(r.max_fraction) +
                                " of the " + fixed(rate, 0) + " Hz rate"});
  }
  return out;
}

dsp::DenoiseSettings denoise_settings(const ChainParams& c) {
  dsp::DenoiseSettings s;
  params::from_json(s, dsp::DenoiseSettings::fields(), c.at("denoise"), "denoise");
  return s;
}

dsp::DynamicEqSettings dynamic_eq_settings(const ChainParams& c, const std::string& block) {
  dsp::DynamicEqSettings s;
  params::from_json(s, dsp::DynamicEqSettings::fields(), c.at(block), block);
  s.ratio = std::max(s.ratio, 1.0 + kNoMove);
  s.max_cut_db = std::max(s.max_cut_db, kNoMove);
  return s;
}

dsp::TransientShaperSettings transient_settings(const ChainParams& c) {
  dsp::TransientShaperSettings s;
  params::from_json(s, dsp::TransientShaperSettings::fields(), c.at("transient"), "transient");
  return s;
}

dsp::CompressorSettings compressor_settings(const ChainParams& c) {
  dsp::CompressorSettings s;
  params::from_json(s, dsp::CompressorSettings::fields(), c.at("compress"), "compress");
  return s;
}

dsp::ExciterSettings exciter_settings(const ChainParams& c) {
  dsp::ExciterSettings s;
  params::from_json(s, dsp::ExciterSettings::fields(), c.at("exciter"), "exciter");
  return s;
}

const std::vector<ChainParameter>& chain_parameters() {
  static const std::vector<ChainParameter> list = [] {
    std::vector<ChainParameter> out;
    for (const Row& r : rows()) {
      ChainParameter p;
      p.block = r.block;
      p.key = r.key;
      p.is_switch = r.type == Type::kSwitch;
      p.integer = r.type == Type::kInteger;
      p.from_dsp = with_dsp_field(r.block, r.key, [&](const auto& f) {
        p.unit = f.unit;
        p.min = f.min;
        p.max = f.max;
        p.min_exclusive = f.min_exclusive;
        p.meaning = f.meaning;
      });
      if (!p.from_dsp) {
        p.unit = r.unit;
        p.min = r.min;
        p.max = r.max;
        p.meaning = r.meaning;
      }
      out.push_back(p);
    }
    return out;
  }();
  return list;
}

}  // namespace rz::enhance
