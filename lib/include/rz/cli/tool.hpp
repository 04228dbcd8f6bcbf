// The shared frame of every rz- tool: common flags, stdin input, logging, progress, exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/cli/units.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::cli {

// What a tool's body hands back: output paths (printed one per line), or a JSON record (printed
// with --json), or a text report; and an exit code (3 for failed checks).
struct Result {
  std::vector<std::filesystem::path> outputs;
  nlohmann::json record;  // with --json; default {"output": path} (or "outputs" for several)
  std::string text;       // printed instead of the output paths when non-empty
  int exit_code = 0;
};

class Context {
 public:
  // Positional inputs, or when none were given and stdin is not a terminal, the paths read from
  // stdin (one per line, or the "output"/"outputs" of a previous tool's --json record).
  const std::vector<std::string>& inputs() const { return inputs_; }
  // Exactly one input (UsageError otherwise).
  std::filesystem::path input() const;
  // input() opened as a stem directory, its hashes checked with --verify. Its length becomes the
  // progress line's measure of speed (set_media_seconds).
  stems::StemDir input_stem_dir() const;
  // -o when given, else `fallback`.
  std::filesystem::path output_or(const std::filesystem::path& fallback) const;
  bool has_output() const { return !output_.empty(); }
  const std::string& output() const { return output_; }  // -o as given ("" without)
  bool force() const { return force_; }
  bool verify() const { return verify_; }
  bool json() const { return json_; }
  int verbosity() const { return verbosity_; }  // -1 quiet, 0 default, 1 -v, 2 -vv

  // Messages on stderr, "<tool>: [<subject>: ]<message>". Each first clears an open progress
  // line on a terminal, so that a message never lands in the middle of one. `subject` names the
  // recording or directory a message is about when the tool has several inputs (or always, for a
  // driver such as rz-run); set_subject("") drops it.
  void set_subject(const std::string& subject) const { *subject_ = subject; }
  void error(const std::string& message) const;  // shown even with -q
  void warn(const std::string& message) const;
  void note(const std::string& message) const;   // default verbosity, not a warning
  void info(const std::string& message) const;   // shown with -v
  void debug(const std::string& message) const;  // shown with -vv
  const Progress& progress() const { return progress_; }
  // The length of the audio the next stages go through, in seconds: the progress line shows
  // their speed as a multiple of real time and an estimate of the time left. 0: unknown (only
  // the time left is shown).
  void set_media_seconds(double seconds) const;
  // Clears an open progress line (before anything else is written to stderr).
  void clear_progress() const;

  // The common part of this run's history entry: tool, version, args, the input paths (also when
  // they came on stdin), started (UTC).
  nlohmann::json provenance() const;
  double elapsed_s() const;

 private:
  friend class Tool;
  std::string tool_;
  std::vector<std::string> args_;
  std::vector<std::string> inputs_;
  std::string output_;
  bool inputs_from_stdin_ = false;
  bool force_ = false;
  bool verify_ = false;
  bool json_ = false;
  int verbosity_ = 0;
  Progress progress_;
  std::shared_ptr<struct ProgressLine> line_;
  std::shared_ptr<std::string> subject_ = std::make_shared<std::string>();
  void say(const char* kind, const std::string& message) const;
  std::chrono::steady_clock::time_point start_;
  std::string started_utc_;
};

class Tool {
 public:
  // `examples`: runnable command lines shown at the end of --help.
  Tool(std::string name, std::string description, std::string examples);
  CLI::App& app() { return app_; }
  // Declares the positional input(s). `multiple`: several files (rz-ingest).
  void add_input(const std::string& help, bool multiple = false);
  // Declares -o/--output and --force.
  void add_output(const std::string& help);
  // The inputs together make one output (rz-report's page of several versions): -o is allowed
  // with several inputs. Otherwise each input has its own output and -o takes one input.
  void inputs_make_one_output() { one_output_ = true; }
  // Declares --verify: check every stem's SHA-256 against the manifest before reading.
  void add_verify();
  // Parses, installs signal handlers, runs `body`, prints its result, maps exceptions to exit
  // codes.
  int run(int argc, char** argv, const std::function<Result(Context&)>& body);
  const std::string& name() const { return name_; }
  // Appends a line to --version (e.g. the libtorch version and the devices it can use).
  void add_version_line(const std::string& line);

 private:
  std::string name_;
  std::string version_text_;
  CLI::App app_;
  Context ctx_;
  bool multiple_inputs_ = false;
  bool one_output_ = false;
  bool has_input_ = false;
  bool show_progress_ = false;
  int verbose_count_ = 0;
  bool quiet_ = false;
};

// The decisions recorded by the last history entry of `output` (a stem directory's manifest, or
// an audio file's OUTPUT.json), one line each (stage::decision_lines); empty when there is none.
std::vector<std::string> recorded_decisions(const std::filesystem::path& output);

// A stage's report as the tool's result: its warnings, notes and (-v) details and recorded
// decisions on stderr, its output path and --json record.
Result stage_result(const Context& ctx, const stage::StageReport& report);

// Runs `body` on each input in turn, like gzip with several files: a failing one is reported
// and skipped, the others still run, and the exit status says something failed (with one input,
// or on interruption, its error is the tool's). Each report's warnings are shown prefixed with
// its input. The --json record is the one report's, else {"outputs": [...], "records": [...]}.
Result run_each_input(const Context& ctx,
                      const std::function<stage::StageReport(const std::string& input)>& body);

// argv with `value` inserted after each `flag` that is not followed by a quantity in `unit`
// ("30", "20s", "0:30"): an option whose value may be left out (rz-ingest --preview [SECONDS]).
// `value` must outlive the result.
std::vector<char*> default_value_after(int argc, char** argv, const std::string& flag, char* value,
                                       Unit unit);

// A JSON settings file named on the command line (rz-enhance --config, rz-mix --settings): a
// regular file of at most 1 MiB holding one JSON document (io::parse_json's limits). Throws
// UsageError "bad settings file '<path>': <reason>" (exit 2).
nlohmann::json read_settings_json(const std::string& path, const char* kind);

// Comma-separated list options ("--stems vocals,drums --stems bass") flattened, empties dropped.
std::vector<std::string> split_list(const std::vector<std::string>& items);

std::string library_versions();

}  // namespace rz::cli
