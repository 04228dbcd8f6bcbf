// CLI test helpers: run an rz- tool without a shell; list and snapshot directories.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rz::cli_test {

// Where the tools live (RZ_BIN_DIR, or $RZ_BIN_DIR at run time when set).
std::filesystem::path bin_dir();
// bin_dir()/tool.
std::filesystem::path tool_path(const std::string& tool);

struct RunResult {
  int exit_code = -1;   // the process's exit status; 128 + N when killed by signal N
  int term_signal = 0;  // N when killed by signal N (exit 130 is then SIGINT, not an exit(130))
  std::string out;      // everything written to stdout
  std::string err;      // everything written to stderr
  double wall_s = 0;    // how long it ran
  bool signal_sent = false;  // RunOptions::signal was sent while the child still ran

  // Non-empty lines of stderr.
  std::vector<std::string> err_lines() const;
  // Non-empty lines of stdout.
  std::vector<std::string> out_lines() const;
  // For failure messages: exit code, stdout and stderr.
  std::string describe() const;
};

struct RunOptions {
  // Bytes to feed on stdin; when absent, stdin is /dev/null (not a TTY, empty).
  std::optional<std::string> stdin_text;
  // Working directory of the child; empty: the test's own.
  std::filesystem::path cwd;
  // Wall-clock limit after which the child is killed (SIGKILL) and exit_code reads 137.
  double timeout_s = 300;
  // Changes to the child's environment (the rest is inherited): NAME -> value, or NAME -> nullopt
  // to remove NAME.
  std::map<std::string, std::optional<std::string>> env;
  // When non-zero: this signal is sent to the child `signal_after_s` seconds after it started,
  // if it is still running then.
  int signal = 0;
  double signal_after_s = 0;
};

// Options for a run in working directory `cwd`, optionally with `stdin_text` on stdin.
RunOptions in_dir(const std::filesystem::path& cwd,
                  std::optional<std::string> stdin_text = std::nullopt);

// Fork/execs bin_dir()/tool with `args` (no shell). stdout and stderr go to separate pipes read
// with poll(), so a chatty child cannot deadlock against a full pipe.
RunResult run(const std::string& tool, const std::vector<std::string>& args,
              const RunOptions& options = {});
// run() that must succeed: a non-zero exit fails the test (REQUIRE) with the tool's output.
RunResult run_ok(const std::string& tool, const std::vector<std::string>& args,
                 const RunOptions& options = {});

// Same, for an arbitrary program (absolute path or found through PATH by execvp).
RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const RunOptions& options = {});

// Names of the entries directly inside `dir` (hidden ones included), sorted.
std::vector<std::string> list_dir(const std::filesystem::path& dir);
// Entries of `dir` whose names are a writer's temporary sibling (".NAME.rz-tmp-XXXXXX").
std::vector<std::string> temp_entries(const std::filesystem::path& dir);

// SHA-256 of every regular file under `path` (recursively; a file maps to itself under ""), plus
// one "<dir>/" entry per directory and the kind of every other entry (a symlink with its target,
// never followed; a FIFO; a device), so that added, removed or changed entries all compare
// unequal.
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot(const std::filesystem::path& path);

// Whole file as bytes; text files written by the tests.
std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);
nlohmann::json read_json(const std::filesystem::path& path);

// Asserts (Catch2) the refusal contract of STYLE.md: exit status `exit_code`, nothing on stdout,
// and exactly one stderr line, starting "<tool>: error: ".
void check_refusal(const RunResult& r, const std::string& tool, int exit_code);

// A hand-made stem directory: each stem a float32 WAV "<name>.wav" (interleaved samples, all the
// same length), and a manifest.json following rz-manifest(5) with the real frames, bytes and
// SHA-256.
struct StemSpec {
  std::string name;
  std::vector<float> samples;
};
void write_stem_dir(const std::filesystem::path& dir, const std::vector<StemSpec>& stems,
                    int sample_rate_hz, int channels);
// Sets the "role" of stem `stem` in the manifest of `dir` (as a separation writes it, e.g.
// rz::stems::kRoleRemoved; "" removes the member). Fails the test when there is no such stem.
void set_role(const std::filesystem::path& dir, const std::string& stem, const std::string& role);
// Absolute path of shared_dir()/relative; skips the test visibly when it is absent.
std::string shared(const std::string& relative);

// The last history entry of the manifest of stem directory `dir`, which must be `tool`'s.
nlohmann::json last_history_entry(const std::filesystem::path& dir, const std::string& tool);

// The decision recorded for `block` in a stem's record (rz-enhance, rz-restore); fails when absent.
nlohmann::json decision(const nlohmann::json& stem_record, const std::string& block);

// rz-metrics' comparison of stem `stem` of `target` (stem directory or audio file, relative to
// `cwd`) against `reference`: {"sdr_db", "si_sdr_db", "lsd_db", "aligned_frames", ...}.
nlohmann::json compare_to(const std::filesystem::path& cwd, const std::string& target,
                          const std::string& reference, const std::string& stem = "mix");

// Re-measures bytes and SHA-256 of every stem file into manifest.json (after a test rewrote one).
void refresh_manifest_hashes(const std::filesystem::path& dir);

}  // namespace rz::cli_test
