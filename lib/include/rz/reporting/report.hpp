// rz-report's library side: a static, self-contained A/B page comparing versions of a recording
// (stem directories or audio files: typically the phone recording, later stages, the master).
//
// The page (index.html, with img/ and audio/ beside it; nothing is fetched from the network, and
// it works from file://):
// - per version and per stem (the programme, then each stem of directories with several): a
//   spectrogram, a waveform overview and the short-term loudness curve (render.hpp);
// - an A/B player: the preview excerpt of each version's programme (the loudest kExcerptS of
//   the first version unless set), level-matched (each scaled to the quietest version's integrated
//   loudness over the excerpt, and all lowered alike where one would peak above -1 dBFS), Ogg
//   Opus at 48 kHz (libsndfile). All
//   versions play at once from one Web Audio clock and the toggle switches which one is heard, so
//   switching is sample-aligned and keeps the playhead; a region can loop;
// - the rz-metrics measurements of each version side by side;
// - each version's manifest history as a timeline of stages, with every decision and its reason.
// The programme is the file, the one stem, or the unity sum of the ordinary stems (rz-mix's).
// Versions are aligned at their start (rz's stages keep the timeline; their rates may differ).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/progress.hpp"
#include "rz/stage/report.hpp"

namespace rz::reporting {

inline constexpr double kExcerptS = 30;

struct Options {
  double excerpt_s = kExcerptS;
  double excerpt_start_s = -1;  // < 0: the loudest stretch of the first version
  int width = 960;              // pixels across the whole recording
  int spectrogram_height = 200;
  int waveform_height = 56;
  bool verify_hashes = false;
};

// Builds the page for `inputs` (one or more stem directories or audio files) in the directory
// `output` (refused when it exists, unless `force` and it is an rz-report page). With one stem
// directory whose manifest names its source recording (rz-ingest's "source.path", present and
// with the same SHA-256), that recording is shown first, as the version compared with. Nothing
// is left at `output` when this throws.
stage::StageReport build(const std::vector<std::filesystem::path>& inputs,
                         const std::filesystem::path& output, bool force, const Options& options,
                         const nlohmann::json& provenance, const Progress& progress);

// The marker file every page holds ("rz-report.json": what it was built from); --force replaces
// only a directory holding it.
inline constexpr const char* kMarkerFile = "rz-report.json";

}  // namespace rz::reporting
