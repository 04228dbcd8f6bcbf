// rz-ingest's library side: decode, validate, analyse, resample to 44.1 kHz, write a stem
// directory.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/audio/resample.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"

namespace rz::ingest {

struct Options {
  int sample_rate_hz = 44100;  // every stem directory runs at this rate
  audio::ResampleQuality quality = audio::ResampleQuality::kMedium;
  double preview_s = 0;  // > 0: keep only the loudest window of this length
  bool allow_ffmpeg = true;
  bool allow_truncated = false;  // keep what a cut-off file holds instead of refusing it
  double min_duration_s = 1.0;   // shorter recordings are refused
  double silence_dbfs = -90.0;   // a recording whose peak is below this is refused as silent
  int min_input_rate_hz = 4000;  // outside [min, max]: refused as an absurd rate
  int max_input_rate_hz = 768000;
  int max_channels = 32;
  void validate() const;  // throws UsageError
};

struct Report : stage::StageReport {
  metrics::Analysis analysis;  // of the source recording at its own rate
};

// Ingests `input` into the stem directory `output` (refusing an existing one unless `force`).
// `provenance` is the history entry's common part (tool, version, args, started). Nothing is left
// at `output` when this throws.
Report ingest(const std::filesystem::path& input, const std::filesystem::path& output, bool force,
              const Options& options, const nlohmann::json& provenance, const Progress& progress);

// Default output directory for an input recording: "gig.mp3" -> "gig.ingest".
std::filesystem::path default_output(const std::filesystem::path& input);

}  // namespace rz::ingest
