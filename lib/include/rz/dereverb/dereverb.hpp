// rz-dereverb's library side: remove the venue's late reverberation from each stem with WPE
// (dsp::Dereverberator: per-frequency multichannel linear prediction in the STFT domain, both
// channels of a stereo stem, block-wise so memory stays flat), blended dry/wet, with the
// reverberation time (dsp::ReverbTimeEstimator, blind) measured before and after in the same pass
// and recorded in the manifest together with the settings and the block's statistics.
// Strength 0 or wet 0 copies the stems bit for bit.
//
// Decision (issue 13): a first pass measures the stem's reverberation time
// (dsp::ReverbTimeEstimator); WPE runs only when that reading says the capture is reverberant
// (dsp::reverberation_confidence > 0) and the crowd does not swamp the tail (the blind SNR over
// 5 dB, fully over 7 dB: a ramp chosen on the corpus's tuning part, dereverb.cpp), with its
// strength scaled by the product, and the reading, the confidences and the rule are recorded under
// "reverberation". A dry stem (a studio recording, or a record with its own short ambience) is
// copied bit for bit. `force_wpe` runs WPE at the given strength whatever the reading.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/dsp/wpe.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::dereverb {

struct Options {
  dsp::WpeSettings wpe;            // strength, wet, taps, delay, iterations, block length
  std::vector<std::string> stems;  // stems to touch (empty: all); the rest are copied
  bool force_wpe = false;          // dereverberate without evidence of a room (--force-wpe)
  void validate(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

using Report = stage::StageReport;

Report dereverb(const stems::StemDir& in, const std::filesystem::path& output, bool force,
                const Options& options, const nlohmann::json& provenance, const Progress& progress);

}  // namespace rz::dereverb
