// rz-run's library side (rz/pipeline/pipeline.hpp): each stage's own library call, in order.
#include "rz/pipeline/pipeline.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "rz/demucs/model_store.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace rz::pipeline {

namespace {

// The file every recording directory holds (the run's record), by which --force knows a
// directory rz-run wrote.
constexpr const char* kRecordFile = "rz-run.json";

// The master's containers (rz-master takes the format from the extension).
bool known_format(const std::string& f) {
  return f == "flac" || f == "wav" || f == "ogg" || f == "mp3";
}

// How often a wait for rz-separate looks at the interrupt flag.
constexpr auto kWaitPoll = std::chrono::milliseconds(50);

// Runs `argv` (argv[0] the program's absolute path) in the directory `cwd`, with stdout on
// /dev/null and stderr inherited; its exit status. A requested interrupt is passed on as SIGTERM.
int run_program(const std::vector<std::string>& argv, const fs::path& cwd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  pid_t pid = 0;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) throw IoError(describe("cannot run", argv[0], std::strerror(err)));
  bool passed_on = false;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    }
    if (r < 0 && errno != EINTR)
      throw IoError(describe("cannot wait for", argv[0], "waitpid failed"));
    if (interrupt_requested() && !passed_on) {
      kill(pid, SIGTERM);
      passed_on = true;
    }
    std::this_thread::sleep_for(kWaitPoll);
  }
}

std::string plain_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

Separator program_separator(const fs::path& program, int verbosity, bool progress) {
  return [program, verbosity, progress](const stems::StemDir& in, const fs::path& output,
                                        const Separation& s, const json& /*provenance*/,
                                        const Progress& /*progress*/) {
    const Separation defaults;
    // It runs beside its input and output (the recording's hidden temporary), named by their
    // plain names, so that its messages read "rz-separate: 3-dereverb: ...", not the
    // temporary's path; the paths the user gave are made absolute first.
    const fs::path cwd = output.parent_path();
    const auto absolute = [](const fs::path& p) { return fs::absolute(p).string(); };
    std::vector<std::string> argv = {absolute(program),
                                     in.path().lexically_relative(cwd).string(),
                                     "-o",
                                     output.filename().string(),
                                     "--model",
                                     s.model};
    if (s.model.find('/') != std::string::npos || fs::exists(s.model))
      argv.back() = absolute(s.model);
    if (s.shifts_given) argv.insert(argv.end(), {"--shifts", std::to_string(s.shifts)});
    if (s.overlap_given) argv.insert(argv.end(), {"--overlap", plain_number(s.overlap)});
    if (s.device != defaults.device) argv.insert(argv.end(), {"--device", s.device});
    if (s.threads > 0) argv.insert(argv.end(), {"--threads", std::to_string(s.threads)});
    if (!s.model_dir.empty()) argv.insert(argv.end(), {"--model-dir", absolute(s.model_dir)});
    if (!s.cache_dir.empty()) argv.insert(argv.end(), {"--cache-dir", absolute(s.cache_dir)});
    if (verbosity < 0) argv.push_back("-q");
    for (int v = 0; v < verbosity; ++v) argv.push_back("-v");
    if (progress) argv.push_back("--progress");
    const int status = run_program(argv, cwd);
    if (status == kExitInterrupted || interrupt_requested()) throw Interrupted();
    if (status == kExitUsage)
      throw UsageError(
          describe("rz-separate refused its options", program.string(), "see its message above"));
    if (status != 0)
      throw Error(describe(
          "separation failed", program.string(),
          "rz-separate exited with status " + std::to_string(status) + ", see its message above"));
    stage::StageReport rep;
    rep.output = output;
    return rep;
  };
}

Preset parse_preset(const std::string& name) {
  if (name == "preview") return Preset::kPreview;
  if (name == "studio") return Preset::kStudio;
  if (name == "max") return Preset::kMax;
  throw UsageError(describe("bad --preset", name, "use preview, studio or max"));
}

std::string to_string(Preset preset) {
  switch (preset) {
    case Preset::kPreview:
      return "preview";
    case Preset::kStudio:
      return "studio";
    case Preset::kMax:
      return "max";
  }
  return "studio";
}

void Options::apply_preset(Preset p) {
  const Separation defaults;
  preset = p;
  restore = p != Preset::kPreview;
  dereverb = p != Preset::kPreview;
  separation.model = p == Preset::kPreview ? "htdemucs" : "htdemucs_ft";
  const bool max = p == Preset::kMax;
  separation.shifts = max ? 2 : defaults.shifts;
  separation.shifts_given = max;
  separation.overlap = max ? 0.5 : defaults.overlap;
  separation.overlap_given = max;
  enhancing.preset = p == Preset::kPreview ? enhance::Preset::kConservative
                     : max                 ? enhance::Preset::kAggressive
                                           : enhance::Preset::kBalanced;
}

std::string describe_presets() {
  return "preview: ingest, separate (htdemucs), enhance (--preset conservative), mix, master; no "
         "restoration or dereverberation.\n"
         "studio (default): ingest, restore, dereverb, separate (htdemucs_ft), enhance "
         "(--preset balanced), mix, master: each tool's defaults.\n"
         "max: as studio, with separation at --shifts 2 --overlap 0.5 and enhance --preset "
         "aggressive.";
}

fs::path default_output(const fs::path& input) { return stems::default_output(input, "rz", true); }

Report run(const fs::path& input, const fs::path& output, bool force, const Options& options,
           const Separator& separate, const json& provenance, const Progress& progress,
           const Hooks& hooks) {
  if (!known_format(options.format))
    throw UsageError(describe("bad --format", options.format, "use flac, wav, ogg or mp3"));
  options.ingest.validate();  // before any work, naming the flags
  options.mastering.validate();
  stems::AtomicDir dir(output, force, kRecordFile);
  const fs::path tmp = dir.path();
  const std::string name = input.stem().string();
  Report rep;
  rep.output = output;
  rep.master = output / (name + "." + options.format);
  rep.stems = output / "stems";

  // Stage outputs: work/<n>-<verb> (kept with options.keep), the stems as mixed in stems/.
  int number = 0;
  fs::path current;  // the temporary path of the last stem directory
  auto final_name = [&](const fs::path& p) { return output / p.lexically_relative(tmp); };
  auto stage_provenance = [&](const std::string& tool, const fs::path& in) {
    json p = provenance;
    p["tool"] = tool;
    p["driver"] = "rz-run";
    p["input_paths"] = json::array({in.string()});
    p.erase("inputs_from_stdin");
    return p;
  };
  auto place = [&](const std::string& verb) {
    ++number;
    return tmp / "work" / (std::to_string(number) + "-" + verb);
  };
  auto finish = [&](Step step, std::chrono::steady_clock::time_point t0) {
    step.elapsed_s = stage::seconds_since(t0);
    if (step.skipped.empty()) step.output = final_name(step.report.output);
    if (hooks.on_step) hooks.on_step(step);
    rep.steps.push_back(std::move(step));
  };
  auto skip = [&](const std::string& tool, const std::string& verb, const std::string& why) {
    Step s;
    s.tool = tool;
    s.verb = verb;
    s.skipped = why;
    finish(std::move(s), std::chrono::steady_clock::now());
  };
  fs::create_directories(tmp / "work");

  {  // ingest
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path out = place("ingest");
    auto r = ingest::ingest(input, out, false, options.ingest,
                            stage_provenance("rz-ingest", fs::absolute(input).lexically_normal()),
                            progress);
    const auto ingested = stems::StemDir::open(out);
    const auto& m = ingested.manifest();
    rep.audio_s = m.sample_rate_hz > 0 ? static_cast<double>(m.frames) / m.sample_rate_hz : 0;
    if (hooks.on_duration) hooks.on_duration(rep.audio_s);
    current = out;
    finish(Step{"rz-ingest", "ingest", std::move(r), {}, 0, ""}, t0);
  }
  // A stem-rewriting stage from `current` into `out`.
  auto stage = [&](const std::string& tool, const std::string& verb, const fs::path& out,
                   const std::function<stage::StageReport(const stems::StemDir&, const fs::path&,
                                                          const json&)>& call) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto in = stems::StemDir::open(current);
    auto r = call(in, out, stage_provenance(tool, final_name(current)));
    current = out;
    finish(Step{tool, verb, std::move(r), {}, 0, ""}, t0);
  };
  if (options.restore) {
    stage("rz-restore", "restore", place("restore"),
          [&](const stems::StemDir& in, const fs::path& out, const json& p) {
            return restore::restore(in, out, false, options.restoring, p, progress);
          });
  }
  if (options.dereverb) {
    stage("rz-dereverb", "dereverb", place("dereverb"),
          [&](const stems::StemDir& in, const fs::path& out, const json& p) {
            return dereverb::dereverb(in, out, false, options.dereverbing, p, progress);
          });
  }
  // Separation, when asked for, built in, and its weights are installed.
  std::string why_not;
  Separation separation = options.separation;
  if (!options.separate) {
    why_not = "--no-separate";
  } else if (!separate) {
    why_not = "rz-separate is not installed beside rz-run";
  } else {
    const fs::path model_dir =
        separation.model_dir.empty() ? demucs::default_model_dir() : separation.model_dir;
    try {
      demucs::resolve_model(separation.model, model_dir);
    } catch (const InputError& e) {
      why_not = e.what();
    }
  }
  if (why_not.empty()) {
    stage("rz-separate", "separate", place("separate"),
          [&](const stems::StemDir& in, const fs::path& out, const json& p) {
            return separate(in, out, separation, p, progress);
          });
  } else {
    skip("rz-separate", "separate", why_not);
  }
  stage("rz-enhance", "enhance", tmp / "stems",
        [&](const stems::StemDir& in, const fs::path& out, const json& p) {
          return enhance::enhance(in, out, false, options.enhancing, p, progress);
        });
  stage("rz-mix", "mix", place("mix"),
        [&](const stems::StemDir& in, const fs::path& out, const json& p) {
          return mix::mix(in, out, false, options.mixing, p, progress);
        });
  {  // master
    const auto t0 = std::chrono::steady_clock::now();
    const auto in = stems::StemDir::open(current);
    auto r = master::master(in, tmp / rep.master.filename(), false, options.mastering,
                            stage_provenance("rz-master", final_name(current)), progress);
    finish(Step{"rz-master", "master", std::move(r), {}, 0, ""}, t0);
  }

  if (!options.keep) fs::remove_all(tmp / "work");
  json steps = json::array();
  for (const auto& s : rep.steps) {
    json j = {{"tool", s.tool}, {"verb", s.verb}, {"elapsed_s", s.elapsed_s}};
    if (!s.skipped.empty()) {
      j["skipped"] = s.skipped;
    } else {
      j["notes"] = s.report.notes;
      j["warnings"] = s.report.warnings;
      if (options.keep || s.verb == "enhance" || s.verb == "master")
        j["output"] = s.output.string();
    }
    steps.push_back(j);
  }
  rep.record = {{"input", fs::absolute(input).lexically_normal().string()},
                {"output", output.string()},
                {"master", rep.master.string()},
                {"stems", rep.stems.string()},
                {"preset", to_string(options.preset)},
                {"audio_s", rep.audio_s},
                {"steps", steps}};
  stems::write_text_file(tmp / kRecordFile, io::dump_json(rep.record, 2) + "\n");
  dir.commit();
  return rep;
}

}  // namespace rz::pipeline
