// rz-metrics' library side: measure a stem directory or an audio file, compare with a reference,
// check --require thresholds, format a table.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/progress.hpp"

namespace rz::metrics {

// "[STEM.]METRIC OP VALUE", OP one of >= <= > < == !=, e.g. "integrated_lufs>=-15",
// "vocals.sdr_db>5". Without STEM it applies to every stem.
struct Requirement {
  std::string text;
  std::string stem;
  std::string metric;
  std::string op;
  double value = 0;
  static Requirement parse(const std::string& text);  // throws UsageError
};

struct ReportOptions {
  std::filesystem::path reference;  // optional: stem directory or audio file
  bool spectral = true;
  bool allow_ffmpeg = true;
  bool verify_hashes = false;  // stem directories: check SHA-256s against their manifests
  // Gain applied to the measured audio where it meets the reference (SDR, SI-SDR, LSD), not to
  // its own measurements: compare_versions() matches loudness with it.
  double compare_gain_db = 0;
  std::string only_stem;  // non-empty: measure this stem only
};

// {"path", "kind": "stem_dir"|"file", "sample_rate_hz", "channels", "stems": {NAME: {metrics...,
// "reference": {"sdr_db", "si_sdr_db", "lsd_db", "aligned_frames", "length_difference_frames"}}},
// "reference_unmatched": [stems without a reference], "recording": {...}}. "recording" (stem
// directories written by rz-ingest) is the source recording as rz-ingest measured it, at its own
// rate before resampling: its clipping above all, which resampling smooths out of the stems. A
// reference matching no stem is an InputError.
nlohmann::json measure(const std::filesystem::path& path, const ReportOptions& options,
                       const Progress& progress);

// Checks each requirement against a report; returns the failures as one-line messages. A metric
// that no stem has is a UsageError.
std::vector<std::string> check(const nlohmann::json& report, const std::vector<Requirement>& reqs);

// Human-readable table of the main metrics, one column per stem (and "recording" when the report
// has one).
std::string format_table(const nlohmann::json& report);

// Two versions side by side (rz-metrics A B): each measured, and B compared with A, its loudness
// matched to A's first so that LSD and SDR measure the difference in sound, not in level.
// {"a": report of A, "b": report of B, "stems": {NAME: {"a": {...}, "b": {...}, "delta": {metric:
// b - a}, "level_matched": {"gain_db", "sdr_db", "si_sdr_db", "lsd_db"}}}}. Stems pair by name;
// two single-stem versions (files, or one-stem directories) pair whatever their names. No pair at
// all is an InputError.
nlohmann::json compare_versions(const std::filesystem::path& a, const std::filesystem::path& b,
                                const ReportOptions& options, const Progress& progress);

// The side-by-side table of compare_versions(): per stem, each metric of A and B and B - A, then
// the level-matched comparison.
std::string format_comparison(const nlohmann::json& comparison);

}  // namespace rz::metrics
