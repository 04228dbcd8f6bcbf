// rz-run's frame (rz/cli/run.hpp).
#include "rz/cli/run.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace rz::cli {

namespace {

// "3.2 s, 9.1x real time".
std::string timing(double elapsed_s, double audio_s) {
  char buf[64];
  if (audio_s > 0 && elapsed_s > 0)
    std::snprintf(buf, sizeof(buf), "%.1f s, %.1fx real time", elapsed_s, audio_s / elapsed_s);
  else
    std::snprintf(buf, sizeof(buf), "%.1f s", elapsed_s);
  return buf;
}

// What a stage changed and why, on stderr.
void tell(const Context& ctx, const pipeline::Step& step, double audio_s) {
  const std::string& verb = step.verb;
  if (!step.skipped.empty()) {
    ctx.note(verb + ": skipped: " + step.skipped);
    return;
  }
  // Its notes, else (mix, master) its details.
  const auto& r = step.report;
  for (const auto& w : r.warnings) ctx.warn(verb + ": " + w);
  for (const auto& n : r.notes.empty() ? r.details : r.notes) ctx.note(verb + ": " + n);
  if (r.notes.empty() && r.details.empty()) ctx.note(verb + ": done");
  if (ctx.verbosity() < 1) return;
  ctx.info(verb + ": " + timing(step.elapsed_s, audio_s));
  if (!r.notes.empty())
    for (const auto& d : r.details) ctx.info(verb + ": " + d);
  for (const auto& d : recorded_decisions(r.output)) ctx.info(verb + ": " + d);
}

}  // namespace

Result run_recordings(const Context& ctx, const pipeline::Options& options) {
  // Separation is rz-separate's, the program installed beside this one (the only tool that loads
  // libtorch); without it, the pipeline says so and runs the rest.
  std::error_code ec;
  const fs::path program = fs::read_symlink("/proc/self/exe", ec).parent_path() / "rz-separate";
  pipeline::Separator separator;
  if (!ec && access(program.c_str(), X_OK) == 0) {
    separator = pipeline::program_separator(program, ctx.verbosity(),
                                            ctx.progress() && !isatty(STDERR_FILENO));
  }
  const bool several = ctx.inputs().size() > 1;
  return run_each_input(ctx, [&](const std::string& input) {
    fs::path out = pipeline::default_output(input);
    if (ctx.has_output() && (several || ctx.output().back() == '/')) {
      out = fs::path(ctx.output()) / out.filename();  // an input may lie in that directory
      fs::create_directories(ctx.output());
    } else {
      out = ctx.output_or(out);
    }
    double audio_s = 0;
    pipeline::Hooks hooks;
    hooks.on_duration = [&](double s) {
      audio_s = s;
      ctx.set_media_seconds(s);
    };
    hooks.on_step = [&](const pipeline::Step& step) { tell(ctx, step, audio_s); };
    auto rep = pipeline::run(input, out, ctx.force(), options, separator, ctx.provenance(),
                             ctx.progress(), hooks);
    stage::StageReport result;
    result.output = rep.output;
    result.record = rep.record;
    return result;
  });
}

}  // namespace rz::cli
