// rz-enhance's repair chains: which blocks each kind of stem gets, their parameters in physical
// units, presets, intensity scaling and JSON overrides.
//
// A chain is an ordered list of blocks, each with an "enabled" switch, its settings and the
// threshold of the measurement that decides whether it runs (see enhance.hpp):
//   highpass   rumble high-pass (linear phase)              runs when low_energy_db > min_energy_db
//              (energy below the corner re the octave above it)
//   denoise    STFT noise reduction (dsp/denoise.hpp)       runs when snr_db < max_snr_db
//   demud      dynamic cut of a low-mid band                runs when mud_excess_db > min_excess_db
//   low_focus  peaking boost of the fundamentals            runs when low_balance_db <
//   max_balance_db presence   peaking boost around 3 kHz                   runs when centroid_hz <
//   max_centroid_hz deess      dynamic cut of the sibilance band            runs when sibilance_db
//   > min_sibilance_db transient  transient shaper                             runs when crest_db <
//   max_crest_db compress   compressor                                   runs when spread_db >
//   min_spread_db exciter    oversampled harmonic exciter                 runs when rolloff_hz <
//   max_rolloff_hz
// Every parameter, its unit and its default per stem kind are listed by `rz-enhance
// --list-parameters` and in rz-enhance(1).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"

namespace rz::enhance {

// The kind of source a stem holds, from its name: vocals, drums, bass, other (also guitar,
// piano, no_vocals...), mix (also any unknown name: the conservative subset).
enum class StemKind { kVocals, kDrums, kBass, kOther, kMix };
StemKind stem_kind(const std::string& stem_name);
std::string to_string(StemKind kind);

enum class Preset { kConservative, kBalanced, kAggressive };
Preset parse_preset(const std::string& text);  // UsageError for unknown names
std::string to_string(Preset preset);

// Block names in chain order.
const std::vector<std::string>& block_names();

// Parameters of one stem's chain: {"highpass": {"enabled": true, "freq_hz": 90, ...}, ...} with
// every block present. Values are numbers or booleans.
using ChainParams = nlohmann::json;

// The defaults of a kind at a preset (before intensity).
ChainParams default_chain(StemKind kind, Preset preset);

// Applies overrides {"BLOCK": {"PARAM": value}} (UsageError naming `subject` and the key for an
// unknown block or parameter, or a value of the wrong type).
void apply_overrides(ChainParams& chain, const nlohmann::json& overrides,
                     const std::string& subject);

// Disables every block not in `only` (UsageError for unknown names).
void restrict_blocks(ChainParams& chain, const std::vector<std::string>& only);

// Scales every move by `intensity` (0..1): strengths, gains, cuts, ratio - 1, makeup, exciter mix;
// the high-pass corner moves from 20 Hz (intensity 0) to its value (1) on a log scale.
void scale_moves(ChainParams& chain, double intensity);

// Checks every value's range through the blocks' own validate(); UsageError naming stem and block.
// The bands of enabled blocks must lie below their limit at `sample_rate_hz` (rate_bounds()).
void validate_chain(const ChainParams& chain, const std::string& stem, double sample_rate_hz);

// The blocks whose band must stay below a fraction of the sample rate: `freq_hz` of `block` below
// `max_fraction` * rate.
struct RateBound {
  const char* block;
  double max_fraction;
};
const std::vector<RateBound>& rate_bounds();

// A block disabled because the recording's rate cannot hold its band.
struct OutOfBand {
  std::string block;
  std::string why;  // "band 6500 Hz is not below 0.49 of the 8000 Hz rate"
};
// Disables the enabled blocks whose band `sample_rate_hz` cannot hold (de-essing at 6.5 kHz in an
// 8 kHz recording has nothing to act on), except where `user_set(block)` says the user's settings
// chose that band: those stay, and validate_chain refuses them. Returns what it disabled.
std::vector<OutOfBand> disable_out_of_band(ChainParams& chain, double sample_rate_hz,
                                           const std::function<bool(const std::string&)>& user_set);

// The blocks' settings read from a chain's parameters (not validated: validate_chain does that).
// The dynamic thresholds follow the stem and are left at their defaults: rz-enhance sets them
// from its measurements. A ratio of 1 or a cut of 0 (intensity 0) is nudged just inside the
// blocks' ranges, where it still does nothing audible.
dsp::DenoiseSettings denoise_settings(const ChainParams& chain);
dsp::DynamicEqSettings dynamic_eq_settings(const ChainParams& chain, const std::string& block);
dsp::TransientShaperSettings transient_settings(const ChainParams& chain);
dsp::CompressorSettings compressor_settings(const ChainParams& chain);
dsp::ExciterSettings exciter_settings(const ChainParams& chain);

// A parameter of the chains, as declared once (chain.cpp's table, or the dsp block's settings
// table for its own parameters): what --list-parameters, validate_chain and rz-enhance(1) use.
struct ChainParameter {
  std::string block, key;
  std::string unit;  // "Hz", "dB", "ms", "s", "" for ratios, counts and switches
  double min = 0, max = 0;
  bool min_exclusive = false;
  bool is_switch = false;  // "enabled"
  bool integer = false;
  bool from_dsp = false;  // unit, range and meaning from the dsp block's settings table
  std::string meaning;
};
// Every parameter, block by block in chain order, each block's decision threshold last.
const std::vector<ChainParameter>& chain_parameters();

}  // namespace rz::enhance
