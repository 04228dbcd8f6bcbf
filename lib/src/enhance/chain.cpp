// Default chains per stem kind, presets, overrides and intensity scaling for rz-enhance.
#include "rz/enhance/chain.hpp"

#include <algorithm>
#include <cmath>

#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"

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

json highpass(bool on, double freq_hz) {
  return {{"enabled", on}, {"freq_hz", freq_hz}, {"order", 4}, {"min_energy_db", -6.0}};
}
json denoise(bool on, double strength_db, double max_snr_db) {
  const dsp::DenoiseSettings d;
  return {{"enabled", on},
          {"strength_db", strength_db},
          {"smoothing", d.smoothing},
          {"tracker_window_s", d.tracker_window_s},
          {"low_cap_hz", d.low_cap_hz},
          {"max_snr_db", max_snr_db}};
}
json dynamic_band(bool on, double freq_hz, double q, double ratio, double max_cut_db,
                  double attack_ms, double release_ms, double above_median_db, const char* measure,
                  double measure_threshold) {
  return {{"enabled", on},          {"freq_hz", freq_hz},       {"q", q},
          {"ratio", ratio},         {"max_cut_db", max_cut_db}, {"attack_ms", attack_ms},
          {"release_ms", release_ms}, {"above_median_db", above_median_db},
          {measure, measure_threshold}};
}
json peak(bool on, double freq_hz, double q, double gain_db, const char* measure, double threshold) {
  return {{"enabled", on}, {"freq_hz", freq_hz}, {"q", q}, {"gain_db", gain_db}, {measure, threshold}};
}
json transient(bool on, double attack_gain_db, double sustain_gain_db, double max_crest_db) {
  const dsp::TransientShaperSettings t;
  return {{"enabled", on},
          {"attack_gain_db", attack_gain_db},
          {"sustain_gain_db", sustain_gain_db},
          {"fast_ms", t.fast_ms},
          {"slow_ms", t.slow_ms},
          {"release_ms", t.release_ms},
          {"max_crest_db", max_crest_db}};
}
json compress(bool on, double ratio, double attack_ms, double release_ms, double above_median_db,
              double min_spread_db) {
  return {{"enabled", on},          {"ratio", ratio},
          {"knee_db", 6.0},         {"attack_ms", attack_ms},
          {"release_ms", release_ms}, {"makeup_db", 0.0},
          {"above_median_db", above_median_db}, {"min_spread_db", min_spread_db}};
}
json exciter(bool on, double freq_hz, double mix, double max_rolloff_hz) {
  return {{"enabled", on},   {"freq_hz", freq_hz}, {"drive_db", 12.0},
          {"mix", mix},      {"max_rolloff_hz", max_rolloff_hz}};
}

// Balanced defaults per kind, from how engineers treat each source.
json kind_defaults(StemKind kind) {
  switch (kind) {
    case StemKind::kVocals:
      // Rumble high-pass, noise reduction, presence, de-essing, gentle compression.
      return {{"highpass", highpass(true, 90)},
              {"denoise", denoise(true, 10, 13)},
              {"demud", dynamic_band(false, 300, 1.0, 3, 3, 5, 120, 4, "min_excess_db", 3)},
              {"low_focus", peak(false, 100, 1.0, 1.5, "max_balance_db", -6)},
              {"presence", peak(true, 3000, 0.9, 2.5, "max_centroid_hz", 2500)},
              {"deess", dynamic_band(true, 6500, 1.5, 4, 6, 1, 60, 6, "min_sibilance_db", -12)},
              {"transient", transient(false, 2, 0, 18)},
              {"compress", compress(true, 2.5, 5, 100, 3, 8)},
              {"exciter", exciter(false, 5000, 0.05, 5000)}};
    case StemKind::kDrums:
      // Transient shaping, low-mid cleanup; no noise reduction by default (cymbal wash and room
      // sound are not noise).
      return {{"highpass", highpass(true, 30)},
              {"denoise", denoise(false, 6, 6)},
              {"demud", dynamic_band(true, 350, 1.2, 3, 4, 5, 120, 4, "min_excess_db", 2)},
              {"low_focus", peak(false, 60, 1.0, 1.5, "max_balance_db", -6)},
              {"presence", peak(false, 4000, 0.9, 1.5, "max_centroid_hz", 2000)},
              {"deess", dynamic_band(false, 8000, 1.5, 3, 4, 1, 60, 6, "min_sibilance_db", -6)},
              {"transient", transient(true, 4, -1, 22)},
              {"compress", compress(false, 2, 10, 150, 6, 10)},
              {"exciter", exciter(false, 6000, 0.05, 5000)}};
    case StemKind::kBass:
      // High-pass at 30 Hz, low-end focus, light compression.
      return {{"highpass", highpass(true, 30)},
              {"denoise", denoise(false, 6, 6)},
              {"demud", dynamic_band(true, 250, 1.0, 2.5, 3, 10, 150, 4, "min_excess_db", 3)},
              {"low_focus", peak(true, 80, 0.8, 2.0, "max_balance_db", 0)},
              {"presence", peak(false, 1500, 1.0, 1.5, "max_centroid_hz", 300)},
              {"deess", dynamic_band(false, 6500, 1.5, 3, 4, 1, 60, 6, "min_sibilance_db", 0)},
              {"transient", transient(false, 2, 0, 15)},
              {"compress", compress(true, 2, 20, 200, 3, 6)},
              {"exciter", exciter(false, 3000, 0.05, 2000)}};
    case StemKind::kOther:
      // De-mud around 250 Hz, presence, exciter when the highs are dull.
      return {{"highpass", highpass(true, 40)},
              {"denoise", denoise(true, 8, 10)},
              {"demud", dynamic_band(true, 250, 1.0, 3, 4, 5, 120, 4, "min_excess_db", 2)},
              {"low_focus", peak(false, 100, 1.0, 1.5, "max_balance_db", -6)},
              {"presence", peak(true, 3000, 0.8, 1.5, "max_centroid_hz", 1800)},
              {"deess", dynamic_band(false, 7000, 1.5, 3, 4, 1, 60, 6, "min_sibilance_db", -6)},
              {"transient", transient(false, 2, 0, 18)},
              {"compress", compress(false, 2, 10, 150, 6, 10)},
              {"exciter", exciter(true, 4000, 0.08, 4000)}};
    case StemKind::kMix:
      break;
  }
  // The whole mix (or an unknown stem): the conservative subset: rumble high-pass, noise
  // reduction, a dynamic low-mid cut; no tonal boosts, no dynamics changes.
  return {{"highpass", highpass(true, 25)},
          {"denoise", denoise(true, 10, 13)},
          {"demud", dynamic_band(true, 250, 1.0, 2, 3, 5, 150, 6, "min_excess_db", 3)},
          {"low_focus", peak(false, 80, 1.0, 1.5, "max_balance_db", -6)},
          {"presence", peak(false, 3000, 0.9, 1.5, "max_centroid_hz", 1500)},
          {"deess", dynamic_band(false, 6500, 1.5, 3, 4, 1, 60, 6, "min_sibilance_db", -6)},
          {"transient", transient(false, 2, 0, 15)},
          {"compress", compress(false, 1.5, 20, 200, 6, 12)},
          {"exciter", exciter(false, 5000, 0.05, 3000)}};
}

double num(const json& block, const char* key) { return block.at(key).get<double>(); }

void scale(json& block, const char* key, double s) { block[key] = num(block, key) * s; }

// Keys that are moves (scaled by presets and intensity), per block.
void scale_block_moves(const std::string& name, json& b, double s) {
  if (name == "highpass") {
    const double f = num(b, "freq_hz");
    if (f > kHighpassFloorHz) b["freq_hz"] = kHighpassFloorHz * std::pow(f / kHighpassFloorHz, std::min(s, 1.0));
  } else if (name == "denoise") {
    scale(b, "strength_db", s);
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
  static const std::vector<std::string> names = {"highpass", "denoise",   "demud",
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
    throw UsageError(describe("bad enhance settings", subject, "a stem's settings must be an object"));
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
    const json& hp = c.at("highpass");
    const double f = num(hp, "freq_hz");
    if (!(f >= 10 && f <= 1000)) throw UsageError(describe("bad highpass freq_hz", fixed(f), "use 10..1000 Hz"));
    const double order = num(hp, "order");
    if (order != 2 && order != 4) throw UsageError(describe("bad highpass order", fixed(order), "use 2 or 4"));
    denoise_settings(c).validate();
    for (const char* band : {"demud", "deess"}) dynamic_eq_settings(c, band).validate();
    for (const char* band : {"low_focus", "presence"}) {
      const json& b = c.at(band);
      const double fz = num(b, "freq_hz"), q = num(b, "q"), g = num(b, "gain_db");
      if (!(fz >= 20)) throw UsageError(describe(std::string("bad ") + band + " freq_hz", fixed(fz), "use 20 Hz .. 0.49 of the sample rate"));
      if (!(q >= 0.1 && q <= 20)) throw UsageError(describe(std::string("bad ") + band + " q", fixed(q), "use 0.1..20"));
      if (!(g >= -12 && g <= 12)) throw UsageError(describe(std::string("bad ") + band + " gain_db", fixed(g), "use -12..12 dB"));
    }
    transient_settings(c).validate();
    compressor_settings(c).validate();
    exciter_settings(c).validate();
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

std::vector<OutOfBand> disable_out_of_band(ChainParams& c, double rate,
                                           const std::function<bool(const std::string&)>& user_set) {
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
  const json& b = c.at("denoise");
  dsp::DenoiseSettings s;
  s.strength_db = num(b, "strength_db");
  s.smoothing = num(b, "smoothing");
  s.tracker_window_s = num(b, "tracker_window_s");
  s.low_cap_hz = num(b, "low_cap_hz");
  return s;
}

dsp::DynamicEqSettings dynamic_eq_settings(const ChainParams& c, const std::string& block) {
  const json& b = c.at(block);
  dsp::DynamicEqSettings s;
  s.freq_hz = num(b, "freq_hz");
  s.q = num(b, "q");
  s.ratio = std::max(num(b, "ratio"), 1.0 + kNoMove);
  s.max_cut_db = std::max(num(b, "max_cut_db"), kNoMove);
  s.attack_ms = num(b, "attack_ms");
  s.release_ms = num(b, "release_ms");
  return s;
}

dsp::TransientShaperSettings transient_settings(const ChainParams& c) {
  const json& b = c.at("transient");
  dsp::TransientShaperSettings s;
  s.attack_gain_db = num(b, "attack_gain_db");
  s.sustain_gain_db = num(b, "sustain_gain_db");
  s.fast_ms = num(b, "fast_ms");
  s.slow_ms = num(b, "slow_ms");
  s.release_ms = num(b, "release_ms");
  return s;
}

dsp::CompressorSettings compressor_settings(const ChainParams& c) {
  const json& b = c.at("compress");
  dsp::CompressorSettings s;
  s.ratio = num(b, "ratio");
  s.knee_db = num(b, "knee_db");
  s.attack_ms = num(b, "attack_ms");
  s.release_ms = num(b, "release_ms");
  s.makeup_db = num(b, "makeup_db");
  return s;
}

dsp::ExciterSettings exciter_settings(const ChainParams& c) {
  const json& b = c.at("exciter");
  dsp::ExciterSettings s;
  s.freq_hz = num(b, "freq_hz");
  s.drive_db = num(b, "drive_db");
  s.mix = num(b, "mix");
  return s;
}

const std::map<std::string, ParamDoc>& parameter_docs() {
  static const std::map<std::string, ParamDoc> docs = {
      {"*.enabled", {"", "run the block (when its measurement calls for it)"}},
      {"highpass.freq_hz", {"Hz", "-3 dB corner of the linear-phase rumble high-pass"}},
      {"highpass.order", {"", "filter order, 2 or 4"}},
      {"highpass.min_energy_db", {"dB", "runs when the energy below freq_hz, re the octave above it, exceeds this"}},
      {"denoise.strength_db", {"dB", "deepest attenuation of any time-frequency bin"}},
      {"denoise.smoothing", {"", "decision-directed weight of the previous frame (0.5..0.995)"}},
      {"denoise.tracker_window_s", {"s", "minimum-statistics window of the blind noise tracker"}},
      {"denoise.low_cap_hz", {"Hz", "bass guard: below it the blind noise estimate falls 6 dB/octave in power (0 = off)"}},
      {"denoise.max_snr_db", {"dB", "runs when the stem's SNR estimate is below this"}},
      {"demud.freq_hz", {"Hz", "centre of the low-mid band cut when it swells"}},
      {"demud.q", {"", "band-pass quality of the band"}},
      {"demud.ratio", {"", "cut slope above the threshold"}},
      {"demud.max_cut_db", {"dB", "deepest cut"}},
      {"demud.attack_ms", {"ms", "cut attack time"}},
      {"demud.release_ms", {"ms", "cut release time"}},
      {"demud.above_median_db", {"dB", "threshold: the band's median 10 ms peak level plus this"}},
      {"demud.min_excess_db", {"dB", "runs when the band's octave exceeds the mean of its neighbours by this"}},
      {"low_focus.freq_hz", {"Hz", "centre of the peaking boost of the fundamentals"}},
      {"low_focus.q", {"", "quality of the peak"}},
      {"low_focus.gain_db", {"dB", "boost"}},
      {"low_focus.max_balance_db", {"dB", "runs when energy 40-100 Hz re 150-400 Hz is below this"}},
      {"presence.freq_hz", {"Hz", "centre of the presence boost"}},
      {"presence.q", {"", "quality of the peak"}},
      {"presence.gain_db", {"dB", "boost"}},
      {"presence.max_centroid_hz", {"Hz", "runs when the spectral centroid is below this"}},
      {"deess.freq_hz", {"Hz", "centre of the sibilance band"}},
      {"deess.q", {"", "band-pass quality of the band"}},
      {"deess.ratio", {"", "cut slope above the threshold"}},
      {"deess.max_cut_db", {"dB", "deepest cut"}},
      {"deess.attack_ms", {"ms", "cut attack time"}},
      {"deess.release_ms", {"ms", "cut release time"}},
      {"deess.above_median_db", {"dB", "threshold: the band's median 10 ms peak level plus this"}},
      {"deess.min_sibilance_db", {"dB", "runs when the band's energy re 1-4 kHz exceeds this"}},
      {"transient.attack_gain_db", {"dB", "gain on attacks"}},
      {"transient.sustain_gain_db", {"dB", "gain on sustains"}},
      {"transient.fast_ms", {"ms", "fast envelope time constant"}},
      {"transient.slow_ms", {"ms", "slow envelope time constant"}},
      {"transient.release_ms", {"ms", "level envelope release"}},
      {"transient.max_crest_db", {"dB", "runs when the crest factor (peak re RMS) is below this"}},
      {"compress.ratio", {"", "compression ratio"}},
      {"compress.knee_db", {"dB", "soft-knee width"}},
      {"compress.attack_ms", {"ms", "attack time"}},
      {"compress.release_ms", {"ms", "release time"}},
      {"compress.makeup_db", {"dB", "make-up gain"}},
      {"compress.above_median_db", {"dB", "threshold: the stem's median 10 ms peak level plus this"}},
      {"compress.min_spread_db", {"dB", "runs when the 400 ms levels spread (95th - 10th percentile) exceeds this"}},
      {"exciter.freq_hz", {"Hz", "lower edge of the excited band"}},
      {"exciter.drive_db", {"dB", "gain into the saturator"}},
      {"exciter.mix", {"", "amount of generated harmonics added (0..1)"}},
      {"exciter.max_rolloff_hz", {"Hz", "runs when 85 % of the energy lies below this"}},
  };
  return docs;
}

}  // namespace rz::enhance
