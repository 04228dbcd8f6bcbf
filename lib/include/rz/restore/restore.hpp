// rz-restore's library side: give back what the phone took away, under "reveal, don't fabricate".
//
// For each selected stem:
// 1. Measure (one streaming pass): the shared analysis of rz-ingest (metrics::Analyzer: the high
//    bandwidth cutoff, the low cut of the phone's high-pass, loudness, peaks) and the clipping
//    detector (dsp::ClipDetector: clip levels, clipped runs, soft-limited tops).
// 2. Decide, each block only when its measurement calls for it, the number recorded:
//    - declip:  clipped runs were found;
//    - subbass: the stem is bass, drums or a mix and a low cut was detected;
//    - highs:   a high cutoff was detected more than a twelfth of an octave below --max-freq.
// 3. Process, in the order the damage was done undone backwards: declip, then sub-bass, then the
//    highs (latency compensated: the output lines up with the input, same length).
// 4. Measure the result with the same analysis and record it beside the input's, with each
//    block's settings and statistics (what it added, how often it acted).
// Intensity 0, or a stem where nothing is called for, is copied bit for bit.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/progress.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::restore {

// The blocks, by the names --only takes.
const std::vector<std::string>& block_names();  // declip, subbass, highs

// A cutoff less than a twelfth of an octave under --max-freq leaves nothing to regenerate (the
// smallest band dsp::HfRegenerator accepts): cutoffs above 2^(-1/12) of the top are left alone.
inline constexpr double kHighsMinGapRatio = 0.94387431268;  // 2^(-1/12)

struct Options {
  double intensity = 1.0;           // 0..1, scales every block; 0 = exact pass-through
  double max_freq_hz = 20000.0;     // top of the regenerated band (clamped to Nyquist)
  std::vector<std::string> stems;   // stems to touch (empty: all); the rest are copied
  std::vector<std::string> only;    // blocks allowed to run (empty: all)
  void validate(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

struct Report {
  std::filesystem::path output;
  std::vector<std::string> warnings;
  std::vector<std::string> notes;  // one line per stem: what ran
  nlohmann::json record;
};

Report restore(const stems::StemDir& in, const std::filesystem::path& output, bool force,
               const Options& options, const nlohmann::json& provenance, const Progress& progress);

}  // namespace rz::restore
