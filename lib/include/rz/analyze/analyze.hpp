// rz-analyze's library side: tempo and beats, key, onsets, pitch, loudness and per-stem activity
// of a stem directory or an audio file, streamed (memory does not grow with the recording's
// length but for the results: beat, onset and pitch lists).
//
// What is analysed:
// - The programme: the sum of the directory's ordinary stems as rz-mix makes it at unity (the
//   removed stems left out), or the one stem, or the file. Its tempo and beats (analyze/
//   rhythm.hpp), key (analyze/key.hpp), onsets (analyze/notes.hpp) and loudness curve.
// - Each stem: its activity (below), its onsets when there are several stems, and a pitch track
//   when it is monophonic by name (Options::pitch_stems).
// - Loudness: BS.1770 momentary (400 ms) and short-term (3 s) loudness every 100 ms
//   (metrics::LoudnessMeter's kSeries). The programme's curve is the short-term loudness every
//   kCurveStepS.
// - Activity: a stem plays during a 100 ms step when its momentary loudness is at least
//   kActivityGateLufs and within kActivityRangeLu of its own loud level (the 95th percentile of
//   its momentary loudness over the steps above -70 LUFS, BS.1770's absolute gate). Gaps shorter
//   than kActivityBridgeS are closed, then segments shorter than kActivityMinS dropped.
//   Separation leaves other sources in a stem 20 to 40 dB under its own (HTDemucs on MUSDB); 30 LU
//   keeps a quiet verse of a stem and leaves such bleed out.
//
// Output: the analysis as one JSON object (rz-analyze(1) lists its members). With an empty
// `sidecar` it goes into the stem directory's manifest ("music", plus a history entry; the
// manifest is replaced atomically and the audio files are not touched), or for an audio file into
// "<file>.analysis.json" beside it; otherwise into the JSON file `sidecar` (refused when it exists
// unless `force`).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/analyze/rhythm.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"

namespace rz::analyze {

inline constexpr double kCurveStepS = 0.5;
inline constexpr double kActivityGateLufs = -60;
inline constexpr double kActivityRangeLu = 30;
inline constexpr double kActivityBridgeS = 1.0;
inline constexpr double kActivityMinS = 0.5;

struct Options {
  TempoOptions tempo;
  // Stems to pitch-track: names, or "all", or "none"; empty: the stems named like a monophonic
  // source (vocals, vocal, voice, lead, bass).
  std::vector<std::string> pitch_stems;
  bool verify_hashes = false;
};

struct Report : stage::StageReport {
  nlohmann::json analysis;
};

Report analyze(const std::filesystem::path& input, const std::filesystem::path& sidecar, bool force,
               const Options& options, const nlohmann::json& provenance, const Progress& progress);

// The analysis as a short text table (rz-analyze's stdout without --json).
std::string format_table(const nlohmann::json& analysis);

}  // namespace rz::analyze
