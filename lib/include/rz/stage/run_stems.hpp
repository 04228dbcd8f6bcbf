// The loop of every stage that rewrites a stem directory stem by stem (rz-restore, rz-dereverb,
// rz-enhance): select, copy through, measure, decide, process, judge, record, commit. A stage
// supplies only its plan for one stem; the runner does everything else the same way for all.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rz/dsp/processor.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::stage {

// One way to process a stem: its blocks in order, each with the name its statistics() are
// recorded under, and what watches the input go by beside the chain's output for it.
struct Chain {
  std::vector<std::unique_ptr<dsp::Processor>> blocks;
  std::vector<std::string> names;  // one per block
  stems::BlockObserver observer;   // may be empty

  void add(std::string name, std::unique_ptr<dsp::Processor> block) {
    names.push_back(std::move(name));
    blocks.push_back(std::move(block));
  }
  bool empty() const { return blocks.empty(); }
};

// A stem as its plan sees it.
struct Stem {
  const stems::StemEntry& entry;
  std::filesystem::path path;  // its file in the input directory
  int channels = 0;
  int sample_rate_hz = 0;
  nlohmann::json& record;  // its member of the history entry's "stems"; input_sha256 is set
  StageReport& report;     // for warnings
  const Progress& progress;

  const std::string& name() const { return entry.name; }
};

// What a processed attempt turned out to be, as its stage judges it.
struct Verdict {
  bool keep = true;
  std::string result = "processed";  // the record's "result" when kept
  std::string note;  // the stderr line when kept, after "<stem>: " (default: result)
};

// What a stage decided for one stem.
struct Plan {
  // Copy the stem through unchanged. `why` is recorded; `note` goes to stderr after "<stem>: "
  // ("<why>, copied" when empty). `measured`: the plan read the stem before deciding (then the
  // stem's elapsed_s is recorded, as rz-manifest(5) says).
  static Plan copy(std::string why, bool measured, std::string note = "");
  // Process: attempt(i) builds attempt i's chain (i = 0, 1, ...; nullopt when there is no
  // other). After the chain has run over the stem, judge(i, statistics) records what it
  // measured and says whether the output stays; `statistics` holds {name: block.statistics()}
  // of the blocks that report something. When none stays the stem is copied: `rejected_why` is
  // recorded and `rejected_note` goes to stderr.
  static Plan process(
      std::function<std::optional<Chain>(size_t attempt)> attempt,
      std::function<Verdict(size_t attempt, const nlohmann::json& statistics)> judge,
      std::string rejected_why = "", std::string rejected_note = "");

  bool copies = true;
  bool measured = false;
  std::string why, note;
  std::function<std::optional<Chain>(size_t)> attempt;
  std::function<Verdict(size_t, const nlohmann::json&)> judge;
};

// One stem-rewriting stage.
struct StemStage {
  std::string verb;                // "restore": progress shows "restore <stem>"
  std::vector<std::string> stems;  // the stems to touch (--stems; empty: all); others are copied
  // The history entry's "parameters".
  nlohmann::json parameters;
  // Decides for one selected stem: measures what it needs (recording it in stem.record), then
  // returns the plan.
  std::function<Plan(Stem& stem)> plan;
  // Optional: adds to every stem's record before anything else (e.g. the stem's kind).
  std::function<void(const stems::StemEntry& stem, nlohmann::json& record)> describe;
};

// Runs `stage` over every stem of `in` into a new stem directory at `output` (refused if it
// exists unless `force`), then commits it with the input's manifest carried over and one history
// entry: `provenance` plus inputs, parameters, the per-stem records and elapsed_s. Each stem's
// record gets input_sha256, its role when it has one, result ("processed", "unprocessed" with
// why, or what the verdict says), and elapsed_s unless it was copied without being read. Every
// output stem keeps its input stem's role, processed or copied. The entry's elapsed_s is the
// runner's wall-clock time. Nothing is left at `output` when this throws.
StageReport run_stems(const stems::StemDir& in, const std::filesystem::path& output, bool force,
                      const StemStage& stage, const nlohmann::json& provenance,
                      const Progress& progress);

}  // namespace rz::stage
