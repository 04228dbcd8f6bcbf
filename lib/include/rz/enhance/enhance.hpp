// rz-enhance's library side: per-stem repair chains whose every move is decided by a measurement,
// checked against the unprocessed stem afterwards and rolled back when it made things worse.
//
// For each selected stem:
// 1. Measure (one streaming pass): levels, loudness, crest factor, 400 ms level spread, long-term
//    spectrum (centroid, 85 % rolloff, band balances: energy below the high-pass corner, low-mid
//    octave excess, 40-100 Hz re 150-400 Hz, sibilance re 1-4 kHz), the 10 ms peak levels of the
//    dynamic bands and of the stem (their medians set the dynamic thresholds), and the noise
//    analysis (dsp::NoiseAnalyzer: SNR estimate, crowd-only stretches).
// 2. Decide: each enabled block runs only when its measurement calls for it (chain.hpp lists the
//    rules); every decision is recorded with the number that made it.
// 3. Process the chain (latency compensated: the output lines up with the input, same length).
// 4. Compare before and after (a second stream over both): loudness change, new samples over full
//    scale, energy change in the band the stem should own beyond what the removed noise explains,
//    energy change at the stem's strongest tonal peaks, and the musical-noise index (mean
//    frame-to-frame jump of the per-bin gain, dB). Any measure over its threshold fails the
//    attempt; the chain is retried at half intensity, then the unprocessed stem is kept. Each
//    attempt and its scores go to the manifest.
// Intensity 0, or a stem where no block is called for, is copied bit for bit.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/enhance/chain.hpp"
#include "rz/params.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::enhance {

// Rollback thresholds (see step 4).
struct RollbackLimits {
  double max_loudness_change_db =
      3.0;  // |after - before| integrated loudness beyond the noise removed
  double max_new_overs_ratio = 1e-4;  // new samples with |x| > 1 per sample
  double max_band_loss_db = 3.0;      // loss in the owned band beyond the noise removed
  double max_tonal_loss_db = 2.0;     // loss at the strongest tonal peaks
  double max_gain_flux_db = 4.0;      // musical-noise index
  nlohmann::json to_json() const;
};

// The chain a stem would get with Options (defaults, preset, config, --only, intensity) at
// `sample_rate_hz`, and the blocks disabled because that rate cannot hold their band
// (disable_out_of_band; recorded in the manifest as the stem's "out_of_band").
struct ResolvedChain {
  ChainParams params;
  std::vector<OutOfBand> out_of_band;
};

struct Options {
  Preset preset = Preset::kBalanced;
  double intensity = 1.0;  // 0..1, scales every move; 0 = exact pass-through
  nlohmann::json config = nlohmann::json::object();  // {"STEM" or "*": {BLOCK: {PARAM: value}}}
  std::string config_subject = "--config";
  // Stems to touch (empty: all but the removed ones, see stems::kRoleRemoved); the rest are
  // copied bit for bit. Naming a removed stem here processes it.
  std::vector<std::string> stems;
  std::vector<std::string> only;   // blocks allowed to run (empty: all)
  std::string noise_profile;       // "" blind, "auto", or an audio file of the noise alone
  bool rollback = true;
  RollbackLimits limits;
  // The one declaration of the numeric settings rz-enhance takes on its command line (key, unit,
  // range, meaning, flag): its options and the range checks derive from it.
  static const params::Fields<Options>& fields();
  // Checks these options against `in` and resolves every stem's chain, once (resolve_chain,
  // validate_chain): stem name -> chain. Throws UsageError naming what is wrong.
  std::map<std::string, ResolvedChain> resolve(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

ResolvedChain resolve_chain(const std::string& stem, const Options& options, double sample_rate_hz);

using Report = stage::StageReport;

Report enhance(const stems::StemDir& in, const std::filesystem::path& output, bool force,
               const Options& options, const nlohmann::json& provenance, const Progress& progress);

// Every parameter of every kind's chain at a preset, as text; without a preset, at each preset in
// turn, a blank line after each (rz-enhance --list-parameters).
std::string describe_parameters(Preset preset);
std::string describe_parameters();

}  // namespace rz::enhance
