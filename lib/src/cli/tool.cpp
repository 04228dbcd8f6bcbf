// Tool/Context: the Unix contract of rz- tools in one place (see STYLE.md and rz(7)).
#include "rz/cli/tool.hpp"

#include <ebur128.h>
#include <samplerate.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>

#include "rz/audio/file.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/stage/decisions.hpp"
#include "rz/version.hpp"

namespace fs = std::filesystem;

namespace rz::cli {

namespace {

constexpr size_t kMaxStdinBytes = 1 << 20;
// A settings file (rz-enhance --config, rz-mix --settings) holds a few dozen parameters.
constexpr size_t kMaxSettingsBytes = 1 << 20;
constexpr double kProgressIntervalS = 0.2;
// A manifest read back for -v's decisions: rz's own, a few hundred kB for many stems.
constexpr size_t kMaxManifestBytes = 64 << 20;

extern "C" void on_signal(int) { request_interrupt(); }

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// Paths from stdin: plain lines, or JSON records with "output" / "outputs".
std::vector<std::string> read_stdin_inputs() {
  std::string data;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxStdinBytes) throw UsageError("stdin: more than 1 MiB; expected paths");
  }
  std::vector<std::string> paths;
  std::istringstream lines(data);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '{') {
      nlohmann::json j;
      try {
        j = io::parse_json(line, "stdin", "bad record");
      } catch (const Error& e) {
        throw UsageError(std::string("stdin: a line starting with '{' is not a JSON record (") +
                         e.what() + ")");
      }
      if (const auto output = io::get_checked<std::string>(j, "output")) {
        paths.push_back(*output);
      } else if (j.contains("outputs") && j["outputs"].is_array()) {
        for (const auto& p : j["outputs"]) {
          const auto path = io::get_checked<std::string>(p);
          if (!path)
            throw UsageError("stdin: JSON record has an \"outputs\" entry that is not a path");
          paths.push_back(*path);
        }
      } else {
        throw UsageError("stdin: JSON record has no \"output\" path");
      }
    } else {
      paths.push_back(line);
    }
  }
  return paths;
}

// A message on one line whatever a file name in it holds: control characters (a newline in a
// hostile name, an escape sequence) become '?'.
std::string one_line(std::string_view text) { return printable(text, text.size()); }

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string library_versions() {
  int major = 0, minor = 0, patch = 0;
  ebur128_get_version(&major, &minor, &patch);
  return audio::library_versions() + ", " + src_get_version() + ", libebur128 " +
         std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

fs::path Context::input() const {
  if (inputs_.empty()) throw UsageError("no input: give one as an argument or pipe its path in");
  if (inputs_.size() > 1)
    throw UsageError("expected one input, got " + std::to_string(inputs_.size()));
  return fs::path(inputs_.front());
}

stems::StemDir Context::input_stem_dir() const {
  auto dir =
      stems::StemDir::open(input(), verify_ ? stems::Verify::kHashes : stems::Verify::kHeaders);
  const auto& m = dir.manifest();
  if (m.sample_rate_hz > 0) set_media_seconds(static_cast<double>(m.frames) / m.sample_rate_hz);
  return dir;
}

// The progress line on stderr: on a terminal one line rewritten in place ("\r", erase line),
// otherwise (--progress into a file) one line per update.
struct ProgressLine {
  bool tty = false;
  bool open = false;  // a line is on the terminal without its newline
  double media_s = 0;
  std::string stage;  // the label of the stage shown, whose speed is being measured
  double last_fraction = 0;
  std::chrono::steady_clock::time_point stage_start, last_shown;

  void clear() {
    if (tty && open) std::fputs("\r\033[K", stderr);
    open = false;
  }
};

namespace {

// "0:07", "12:30", "1:02:03".
std::string clock_text(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// The speed and the time left are shown once the stage has run this long and this far: before,
// an estimate swings with the first block's setup.
constexpr double kMinEstimateS = 1.0;
constexpr double kMinEstimateFraction = 0.02;

}  // namespace

void Context::set_media_seconds(double seconds) const {
  if (line_) line_->media_s = seconds > 0 ? seconds : 0;
}

void Context::clear_progress() const {
  if (line_) line_->clear();
}

void Context::say(const char* kind, const std::string& m) const {
  clear_progress();
  // A message that already names its subject in quotes (most errors quote their file) is not
  // given it twice.
  const std::string subject =
      subject_->empty() || m.find("'" + *subject_ + "'") != std::string::npos
          ? ""
          : one_line(*subject_) + ": ";
  std::fprintf(stderr, "%s: %s%s%s\n", tool_.c_str(), kind, subject.c_str(), m.c_str());
}

namespace {

// True when `inner` is `outer` or lies below it (both already absolute and normal).
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : r;
}

}  // namespace

fs::path Context::output_or(const fs::path& fallback) const {
  const fs::path out = output_.empty() ? fallback : fs::path(output_);
  // Replacing the input, or a directory that holds it, or writing inside it, would destroy the
  // input (with --force) before the new output is complete.
  const fs::path o = resolved(out);
  for (const auto& input : inputs_) {
    const fs::path i = resolved(input);
    if (is_within(o, i) || is_within(i, o)) {
      throw UsageError(describe("bad output", out.string(),
                                "it is, holds or lies inside the input '" + input + "'"));
    }
  }
  return out;
}

void Context::error(const std::string& m) const { say("error: ", m); }
void Context::warn(const std::string& m) const {
  if (verbosity_ >= 0) say("warning: ", m);
}
void Context::note(const std::string& m) const {
  if (verbosity_ >= 0) say("", m);
}
void Context::info(const std::string& m) const {
  if (verbosity_ >= 1) say("", m);
}
void Context::debug(const std::string& m) const {
  if (verbosity_ >= 2) say("", m);
}

nlohmann::json Context::provenance() const {
  nlohmann::json j = {
      {"tool", tool_}, {"version", kVersion}, {"args", args_}, {"started", started_utc_}};
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : inputs_) {
    std::error_code ec;
    paths.push_back(fs::absolute(p, ec).lexically_normal().string());
  }
  j["input_paths"] = paths;
  if (inputs_from_stdin_) j["inputs_from_stdin"] = true;
  return j;
}

double Context::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

Tool::Tool(std::string name, std::string description, std::string examples)
    : name_(std::move(name)), app_(std::move(description), name_) {
  ctx_.tool_ = name_;
  app_.footer("\nExamples:\n" + examples +
              "\nExit status: 0 ok, 1 failure, 2 usage error, 3 a check "
              "failed, 130 interrupted. See " +
              name_ + "(1).");
  version_text_ = name_ + " " + kVersion + "\n" + library_versions();
  app_.set_version_flag("--version", version_text_);
  app_.add_flag("--json", ctx_.json_, "Print one JSON object on stdout instead of the output path");
  app_.add_flag("-q,--quiet", quiet_, "Errors only on stderr");
  app_.add_flag("-v,--verbose", verbose_count_, "More detail on stderr (-vv: timings)");
  app_.add_flag("--progress", show_progress_,
                "Show progress on stderr even when it is not a terminal");
}

void Tool::add_input(const std::string& help, bool multiple) {
  multiple_inputs_ = multiple;
  has_input_ = true;
  app_.add_option(multiple ? "inputs" : "input", ctx_.inputs_, help)
      ->expected(0, multiple ? -1 : 1);
}

void Tool::add_output(const std::string& help) {
  app_.add_option("-o,--output", ctx_.output_, help);
  app_.add_flag("-f,--force", ctx_.force_, "Replace an existing output");
}

void Tool::add_verify() {
  app_.add_flag("--verify", ctx_.verify_,
                "Check every stem's SHA-256 against the manifest before reading (slower)");
}

void Tool::add_version_line(const std::string& line) {
  version_text_ += "\n" + line;
  app_.set_version_flag("--version", version_text_);
}

int Tool::run(int argc, char** argv, const std::function<Result(Context&)>& body) {
  ctx_.start_ = std::chrono::steady_clock::now();
  ctx_.started_utc_ = utc_now();
  for (int i = 1; i < argc; ++i) ctx_.args_.push_back(argv[i]);
  if (takes_units(app_)) app_.footer(app_.get_footer() + "\n" + units_help());
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  try {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      std::cout << app_.help();
      return kExitOk;
    } catch (const CLI::CallForAllHelp& e) {
      std::cout << app_.help("", CLI::AppFormatMode::All);
      return kExitOk;
    } catch (const CLI::CallForVersion& e) {
      std::cout << e.what() << "\n";
      return kExitOk;
    } catch (const CLI::Success&) {
      // An option that did its job while parsing (rz-enhance --list-parameters).
      return kExitOk;
    } catch (const CLI::ParseError& e) {
      std::fprintf(
          stderr, "%s: error: %s\n", name_.c_str(),
          describe("bad command line", name_, std::string(e.what()) + " (see --help)").c_str());
      return kExitUsage;
    }
    ctx_.verbosity_ = quiet_ ? -1 : verbose_count_;
    if (has_input_ && ctx_.inputs_.empty() && !isatty(STDIN_FILENO)) {
      ctx_.inputs_ = read_stdin_inputs();
      ctx_.inputs_from_stdin_ = true;
    }
    if (has_input_ && ctx_.inputs_.empty()) {
      throw UsageError("no input: give one as an argument or pipe its path in (see --help)");
    }
    if (ctx_.has_output() && ctx_.inputs_.size() > 1 && !one_output_) {
      throw UsageError("-o/--output takes one input, got " + std::to_string(ctx_.inputs_.size()));
    }
    // With several inputs, run_each_input() names each as it goes.
    if (ctx_.inputs_.size() == 1) ctx_.set_subject(ctx_.inputs_.front());
    if (ctx_.verbosity_ >= 1) {
      // The resolved settings, defaults included, on one line.
      std::string settings, line;
      std::istringstream config(app_.config_to_str(true, false));
      while (std::getline(config, line)) {
        if (!line.empty() && line[0] != '#') settings += (settings.empty() ? "" : ", ") + line;
      }
      ctx_.info("settings: " + settings);
    }
    const bool tty = isatty(STDERR_FILENO);
    ctx_.line_ = std::make_shared<ProgressLine>();
    ctx_.line_->tty = tty;
    if ((tty || show_progress_) && ctx_.verbosity_ >= 0) {
      auto line = ctx_.line_;
      auto name = name_;
      auto subject = ctx_.subject_;
      ctx_.progress_ = [line, name, subject](std::string_view stage, double fraction) {
        const auto now = std::chrono::steady_clock::now();
        if (stage != line->stage || fraction < line->last_fraction) {
          line->stage = std::string(stage);
          line->stage_start = now;
        }
        line->last_fraction = fraction;
        if (fraction < 1.0 &&
            std::chrono::duration<double>(now - line->last_shown).count() < kProgressIntervalS)
          return;
        line->last_shown = now;
        const double ran = std::chrono::duration<double>(now - line->stage_start).count();
        std::string rate;
        if (ran >= kMinEstimateS && fraction >= kMinEstimateFraction) {
          char buf[64];
          if (line->media_s > 0) {
            std::snprintf(buf, sizeof(buf), ", %.1fx real time", line->media_s * fraction / ran);
            rate += buf;
          }
          if (fraction < 1.0) rate += ", " + clock_text(ran * (1 - fraction) / fraction) + " left";
        }
        const std::string who = subject->empty() ? "" : one_line(*subject) + ": ";
        std::fprintf(stderr, "%s%s: %s%.*s %3d%%%s%s", line->tty ? "\r\033[K" : "", name.c_str(),
                     who.c_str(), static_cast<int>(stage.size()), stage.data(),
                     static_cast<int>(fraction * 100), rate.c_str(), line->tty ? "" : "\n");
        std::fflush(stderr);
        line->open = line->tty;
      };
    }
    Result result = body(ctx_);
    ctx_.clear_progress();
    if (ctx_.verbosity_ >= 2) {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      char buf[160];
      std::snprintf(buf, sizeof(buf), "elapsed %.2f s, cpu %.2f s, peak memory %.1f MB",
                    ctx_.elapsed_s(),
                    usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                        1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec),
                    usage.ru_maxrss / 1024.0);
      ctx_.debug(buf);
    }
    std::string out;
    if (ctx_.json_) {
      nlohmann::json record = result.record;
      if (record.is_null()) record = nlohmann::json::object();
      if (result.outputs.size() == 1 && !record.contains("output")) {
        record["output"] = result.outputs.front().string();
      } else if (result.outputs.size() > 1 && !record.contains("outputs")) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& p : result.outputs) list.push_back(p.string());
        record["outputs"] = list;
      }
      out = io::dump_json(record) + "\n";
    } else if (!result.text.empty()) {
      out = result.text;
    } else {
      for (const auto& p : result.outputs) out += p.string() + "\n";
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      if (errno == EPIPE) return result.exit_code;  // the reader went away: a clean stop
      std::fprintf(stderr, "%s: error: cannot write to stdout\n", name_.c_str());
      return kExitFailure;
    }
    return result.exit_code;
  } catch (const Error& e) {
    ctx_.say("error: ", one_line(e.what()));
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    ctx_.say("error: ", "out of memory");
    return kExitFailure;
  } catch (const nlohmann::json::exception& e) {
    // Never expected (outside data is read through io::parse_json and checked getters); if one
    // slips through, say so without nlohmann's "[json.exception...]" prefix.
    ctx_.say("error: ", "internal error: " + one_line(io::json_reason(e)));
    return kExitFailure;
  } catch (const std::exception& e) {
    ctx_.say("error: ", one_line(e.what()));
    return kExitFailure;
  }
}

nlohmann::json read_settings_json(const std::string& path, const char* kind) {
  try {
    return io::read_json_file(path, kMaxSettingsBytes, kind, "bad settings file");
  } catch (const InputError& e) {
    throw UsageError(e.what());  // a file named on the command line: a usage error (exit 2)
  }
}

std::vector<std::string> recorded_decisions(const fs::path& output) {
  std::error_code ec;
  const fs::path record =
      fs::is_directory(output, ec) ? output / "manifest.json" : fs::path(output.string() + ".json");
  try {
    const auto j = io::read_json_file(record, kMaxManifestBytes, "manifest", "bad manifest");
    if (j.contains("history") && j["history"].is_array() && !j["history"].empty())
      return stage::decision_lines(j["history"].back());
  } catch (const Error&) {
    // No record to read (an output on stdout): nothing to show.
  }
  return {};
}

Result stage_result(const Context& ctx, const stage::StageReport& report) {
  for (const auto& w : report.warnings) ctx.warn(w);
  for (const auto& n : report.notes) ctx.note(n);
  for (const auto& d : report.details) ctx.info(d);
  if (ctx.verbosity() >= 1)
    for (const auto& d : recorded_decisions(report.output)) ctx.info(d);
  Result result;
  result.outputs.push_back(report.output);
  result.record = report.record;
  return result;
}

Result run_each_input(const Context& ctx,
                      const std::function<stage::StageReport(const std::string& input)>& body) {
  Result result;
  nlohmann::json records = nlohmann::json::array();
  for (const auto& input : ctx.inputs()) {
    ctx.set_subject(input);
    try {
      const stage::StageReport rep = body(input);
      for (const auto& w : rep.warnings) ctx.warn(w);
      for (const auto& n : rep.notes) ctx.note(n);
      for (const auto& d : rep.details) ctx.info(d);
      result.outputs.push_back(rep.output);
      records.push_back(rep.record);
    } catch (const Error& e) {
      if (ctx.inputs().size() == 1 || e.exit_code() == kExitInterrupted) throw;
      ctx.error(e.what());
      result.exit_code = kExitFailure;
    }
  }
  if (ctx.inputs().size() > 1) ctx.set_subject("");
  if (records.size() == 1) {
    result.record = records.front();
  } else {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& p : result.outputs) paths.push_back(p.string());
    result.record = {{"outputs", paths}, {"records", records}};
  }
  return result;
}

std::vector<char*> default_value_after(int argc, char** argv, const std::string& flag, char* value,
                                       Unit unit) {
  std::vector<char*> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] != flag) continue;
    if (i + 1 == args.size() || !parse_quantity(args[i + 1], unit))
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, value);
  }
  return args;
}

std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      const size_t comma = item.find(',', start);
      const std::string part =
          item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace rz::cli
