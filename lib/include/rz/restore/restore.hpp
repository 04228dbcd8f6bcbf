// rz-restore's library side: give back what the phone took away, under "reveal, don't fabricate".
//
// For each selected stem:
// 1. Measure (one streaming pass): the shared analysis of rz-ingest (metrics::Analyzer: the high
//    bandwidth cutoff, the low cut of the phone's high-pass, loudness, peaks) and the clipping
//    detector (dsp::ClipDetector: clip levels, clipped runs, soft-limited tops).
// 2. Decide, each block only on evidence that the capture lost something (issue 13), at an
//    intensity scaled by its confidence (0..1), recorded with the evidence:
//    - declip:  clipped runs were found (confidence 1);
//    - subbass: the stem is bass, drums or a mix, a low cut was detected at a phone's corner,
//               the band over it holds a steady (audience) floor, and the capture is dry enough
//               to place a fundamental in phase (a short reverberation reading);
//    - highs:   a high cutoff was detected that leaves a band to regenerate
//               (dsp::HfRegenSettings::has_band: at most 0.9 Nyquist and at least a twelfth of
//               an octave under --max-freq and Nyquist), lies where capture chains cut, and the
//               programme reached it (the band under it near the loudest level).
//    The thresholds and their reasons are in restore.cpp and rz-restore(1).
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

#include "rz/params.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::restore {

// The blocks, by the names --only takes.
const std::vector<std::string>& block_names();  // declip, subbass, highs

struct Options {
  double intensity = 1.0;          // 0..1, scales every block; 0 = exact pass-through
  double max_freq_hz = 20000.0;    // top of the regenerated band (clamped to Nyquist)
  std::vector<std::string> stems;  // stems to touch (empty: all); the rest are copied
  std::vector<std::string> only;   // blocks allowed to run (empty: all)
  // The one declaration of the numeric settings (key, unit, range, meaning, flag): rz-restore's
  // options and validate() derive from it.
  static const params::Fields<Options>& fields();
  void validate(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

using Report = stage::StageReport;

Report restore(const stems::StemDir& in, const std::filesystem::path& output, bool force,
               const Options& options, const nlohmann::json& provenance, const Progress& progress);

}  // namespace rz::restore
