// rz-run's library side: the whole job on one recording, each stage's own library call in the
// documented order (ingest, restore, dereverb, separate, enhance, mix, master), with the presets
// of the product. Not a second pipeline: every stage writes the same history entry it writes when
// its tool runs alone with the same settings (tool, parameters, per-stem records), plus the name
// of the driver.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/dereverb/dereverb.hpp"
#include "rz/enhance/enhance.hpp"
#include "rz/ingest/ingest.hpp"
#include "rz/master/master.hpp"
#include "rz/mix/mix.hpp"
#include "rz/progress.hpp"
#include "rz/restore/restore.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::pipeline {

// preview: quick: htdemucs, conservative enhancement, no restoration or dereverberation.
// studio: htdemucs_ft, restoration, dereverberation, balanced enhancement (each tool's default).
// max: htdemucs_ft with 2 shifts and 50 % overlap, restoration, dereverberation, aggressive
// enhancement. Every stage still acts only where its measurements call for it.
enum class Preset { kPreview, kStudio, kMax };

// "preview", "studio", "max"; UsageError otherwise.
Preset parse_preset(const std::string& name);
std::string to_string(Preset preset);

// What rz-separate is asked for (the options of rz-separate that a preset or rz-run sets).
struct Separation {
  std::string model = "htdemucs_ft";
  int shifts = 1;
  double overlap = 0.25;
  bool shifts_given = false;  // as rz-separate's --shifts and --overlap given on its command line
  bool overlap_given = false;
  std::string device = "auto";
  int threads = 0;
  std::filesystem::path model_dir;  // empty: the default (demucs::default_model_dir)
  std::filesystem::path cache_dir;  // empty: the default
};

// A preset's settings, as the tools' options.
struct Options {
  Preset preset = Preset::kStudio;
  bool restore = true;
  bool dereverb = true;
  bool separate = true;  // false: --no-separate
  Separation separation;
  ingest::Options ingest;
  restore::Options restoring;
  dereverb::Options dereverbing;
  enhance::Options enhancing;
  mix::Options mixing;
  master::Options mastering;
  std::string format = "flac";  // the master's container: flac, wav, ogg, mp3
  bool keep = false;            // keep every stage's stem directory under work/

  // Sets what `preset` decides (preset, restore, dereverb, separation.model, shifts and overlap,
  // enhancing.preset) and leaves the rest.
  void apply_preset(Preset p);
};

// Each preset's settings, one paragraph each, for --help and rz-run(1).
std::string describe_presets();

// The separation itself, handed in by the tool so that this layer never links libtorch.
using Separator = std::function<stage::StageReport(
    const stems::StemDir& in, const std::filesystem::path& output, const Separation& settings,
    const nlohmann::json& provenance, const Progress& progress)>;

// A Separator that runs the program rz-separate at `program` on the stem directory, with the
// options `settings` sets (each only when it differs from rz-separate's default, so that the
// history entry is the one a user's own rz-separate call writes), its stderr the caller's: its
// notes and progress line appear as its own. `verbosity` -1, 0, 1, 2 passes -q, nothing, -v or
// -vv; `progress` passes --progress. Waits for it; a signal that asks this process to stop
// (interrupt_requested) is passed on. Throws Interrupted when it was stopped, UsageError for its
// exit status 2 and Error for any other failure. rz-run separates through the program rather
// than the library call so that it starts without libtorch, as every tool but rz-separate does,
// and builds in minutes.
Separator program_separator(const std::filesystem::path& program, int verbosity, bool progress);

// One stage as it ran (or was skipped, with `skipped` saying why).
struct Step {
  std::string tool;  // "rz-restore"
  std::string verb;  // "restore"
  stage::StageReport report;
  std::filesystem::path output;  // where its result lies (under work/ with --keep)
  double elapsed_s = 0;
  std::string skipped;  // non-empty: not run, and why
};

struct Hooks {
  // Called as each stage finishes (or is skipped), for a summary as the run goes.
  std::function<void(const Step& step)> on_step;
  // The recording's length once ingest knows it, for the progress line's speed.
  std::function<void(double seconds)> on_duration;
};

struct Report {
  std::filesystem::path output;  // the recording's directory
  std::filesystem::path master;  // <output>/<name>.<format> (+ .json beside it)
  std::filesystem::path stems;   // <output>/stems: the stems as mixed
  std::vector<Step> steps;
  double audio_s = 0;
  nlohmann::json record;  // the --json record
};

// The recording's directory for `input` when -o is not given: "gig.mp3" -> "gig.rz".
std::filesystem::path default_output(const std::filesystem::path& input);

// Runs the job on `input` into the directory `output` (refused if it exists unless `force`):
// <output>/<name>.<format> and its .json (rz-master's), <output>/stems (the last stem directory
// before the mix, its manifest holding every stage's history entry) and, with options.keep,
// <output>/work/<n>-<verb> for every stage. `separate` empty, options.separate false, or the
// model's weights absent: separation is skipped with the reason in its Step (the rest runs on the
// whole mix). Each stage's history entry is `provenance` (rz-run's) with "tool" the stage's tool,
// "driver" "rz-run" and "input_paths" the stage's input as it is named after the run. The
// directory appears only when everything succeeded (built in a hidden temporary beside it).
Report run(const std::filesystem::path& input, const std::filesystem::path& output, bool force,
           const Options& options, const Separator& separate, const nlohmann::json& provenance,
           const Progress& progress, const Hooks& hooks = {});

}  // namespace rz::pipeline
