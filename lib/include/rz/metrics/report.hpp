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
};

// {"path", "kind": "stem_dir"|"file", "sample_rate_hz", "channels", "stems": {NAME: {metrics...,
// "reference": {"sdr_db", "si_sdr_db", "lsd_db", "aligned_frames", "length_difference_frames"}}},
// "reference_unmatched": [stems without a reference]}. A reference matching no stem is an
// InputError.
nlohmann::json measure(const std::filesystem::path& path, const ReportOptions& options,
                       const Progress& progress);

// Checks each requirement against a report; returns the failures as one-line messages. A metric
// that no stem has is a UsageError.
std::vector<std::string> check(const nlohmann::json& report, const std::vector<Requirement>& reqs);

// Human-readable table of the main metrics, one column per stem.
std::string format_table(const nlohmann::json& report);

}  // namespace rz::metrics
