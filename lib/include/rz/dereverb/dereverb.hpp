// rz-dereverb's library side: remove the venue's late reverberation from each stem with WPE
// (dsp::Dereverberator: per-frequency multichannel linear prediction in the STFT domain, both
// channels of a stereo stem, block-wise so memory stays flat), blended dry/wet, with the
// reverberation time (dsp::ReverbTimeEstimator, blind) measured before and after in the same pass
// and recorded in the manifest together with the settings and the block's statistics.
// Strength 0 or wet 0 copies the stems bit for bit.
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
  void validate(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

using Report = stage::StageReport;

Report dereverb(const stems::StemDir& in, const std::filesystem::path& output, bool force,
                const Options& options, const nlohmann::json& provenance, const Progress& progress);

}  // namespace rz::dereverb
