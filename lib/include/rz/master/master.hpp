// rz-master's library side: EQ, loudness normalisation, true-peak limiting, dither, export.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rz/audio/file.hpp"
#include "rz/params.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::master {

struct Options {
  double target_lufs = -14.0;
  double ceiling_dbtp = -1.0;
  double highpass_hz = 0.0;  // 0: off
  double tilt_db = 0.0;      // +: brighter. Low shelf -tilt/2 and high shelf +tilt/2 around 1 kHz
  std::string stem;          // empty: the unity sum of all stems (removed ones left out)
  std::vector<std::string> keep;  // removed stems to bring into the sum (not with `stem`)
  std::optional<audio::SampleFormat> sample_format;  // default: the container's
  bool dither = true;                                // TPDF when writing integer PCM
  uint64_t seed = 0;                                 // dither noise
  double lossy_quality = 0.9;
  double lookahead_ms = 5.0;
  double release_ms = 80.0;
  double tolerance_lu = 0.05;  // each pass aims this close; the promise is 0.2 LU
  int max_passes = 12;
  // The one declaration of the settings rz-master takes on its command line (key, unit, range,
  // meaning, flag): its options and validate() derive from it.
  static const params::Fields<Options>& fields();
  void validate() const;  // throws UsageError naming the flag
};

struct Measurement {
  double integrated_lufs = 0;
  double true_peak_dbtp = 0;
  double sample_peak_dbfs = 0;
  double loudness_range_lu = 0;
  nlohmann::json to_json() const;
};

struct Report : stage::StageReport {
  std::filesystem::path sidecar;  // OUTPUT.json
  Measurement before;             // of the input (sum), before EQ and gain
  Measurement after;              // of the samples written (decoded back for integer PCM)
  double gain_db = 0;
  double max_limiting_db = 0;
  int passes = 0;
};

// Masters `in` to the audio file `output` (format from its extension) and writes OUTPUT.json beside
// it with the measurements and the history. Both appear only when the run succeeds. The sum leaves
// removed stems out unless `options.keep` names them (mix::Options::admits), with a note for each;
// a bad --keep, or nothing but removed stems, is a UsageError before any output exists.
Report master(const stems::StemDir& in, const std::filesystem::path& output, bool force,
              const Options& options, const nlohmann::json& provenance, const Progress& progress);

// The same into the open file descriptor `fd` (rz-master -o -: stdout, for a pipe into a player
// or an encoder) in `container` ("wav", "flac", ...: as an extension names it). The file is
// mastered completely into a hidden temporary directory under $TMPDIR first (a container's
// header holds its length), then copied to `fd`; the temporary and its .json go with it. A reader
// that goes away (EPIPE) ends the copy quietly; another write error is an IoError. The report's
// output and sidecar are empty.
Report master_to_fd(const stems::StemDir& in, int fd, const std::string& container,
                    const Options& options, const nlohmann::json& provenance,
                    const Progress& progress);

// Default output file: "<input>.master.flac".
std::filesystem::path default_output(const std::filesystem::path& input);

}  // namespace rz::master
