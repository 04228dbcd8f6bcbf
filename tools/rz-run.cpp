// rz-run: the whole job in one command, each stage's library call in the documented order.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "rz/cli/params.hpp"
#include "rz/cli/tool.hpp"
#include "rz/error.hpp"
#include "rz/pipeline/pipeline.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-run",
      "Run the whole job on each recording: ingest, restore, dereverb, separate, enhance, mix "
      "and master, each stage the same library call its own tool makes, with the same history "
      "in the manifest. Writes one directory per recording: the master (NAME.flac and its "
      ".json), the stems as mixed (stems/) and, with --keep, every stage's stem directory "
      "(work/). Separation runs when its weights are installed (rz-fetch-models); without them "
      "rz-run says so and treats the whole mix as one stem. Every stage still acts only where "
      "its measurements call for it; after each, a line says what it changed and why.",
      "  rz-run gig.mp3                              # -> gig.rz/ (gig.flac, stems/)\n"
      "  rz-run gig.mp3 --preset preview --preview 30s -o try.rz\n"
      "  rz-run *.m4a -o masters/ --preset max --format wav\n"
      "  rz-run gig.wav --keep -v --target -16LUFS -o kept.rz  # every stage and decision\n");
  std::string preset = "studio", format = "flac", model, device = "auto", model_dir, cache_dir;
  bool keep = false, no_separate = false;
  int threads = 0;
  rz::ingest::Options ingest;
  rz::master::Options mastering;
  tool.add_input("Recordings (or their paths on stdin)", true);
  tool.add_output(
      "Output directory: the recording's with one input (default: <input without "
      "extension>.rz), else the one that receives <name>.rz for each");
  tool.inputs_make_one_output();
  auto& app = tool.app();
  using rz::cli::Unit, rz::cli::with_unit;
  app.add_option("--preset", preset, rz::pipeline::describe_presets())
      ->check(CLI::IsMember({"preview", "studio", "max"}))
      ->capture_default_str();
  app.add_option("--format", format, "Container of the master: flac, wav, ogg or mp3")
      ->check(CLI::IsMember({"flac", "wav", "ogg", "mp3"}))
      ->capture_default_str();
  app.add_flag("--keep", keep, "Keep every stage's stem directory in <output>/work");
  with_unit(app.add_option("--preview", ingest.preview_s,
                           "Work on the loudest SECONDS only (as rz-ingest --preview)"),
            Unit::kSeconds);
  with_unit(app.add_option("--rate", ingest.sample_rate_hz, "Rate of the stem directories")
                ->capture_default_str(),
            Unit::kHz);
  rz::cli::add_options(app, mastering, rz::master::Options::fields());
  app.add_flag("--no-separate", no_separate, "Do not separate, even with the weights installed");
  app.add_option("-n,--model", model, "Separation model (default: the preset's)");
  app.add_option("-d,--device", device, "Separation device: auto, cpu, cuda, cuda:N or mps")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads of the separation (default: every core)");
  app.add_option("--model-dir", model_dir,
                 "Model directory (default: $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models)");
  app.add_option("--cache-dir", cache_dir,
                 "Separation cache (default: $XDG_CACHE_HOME/rz/separate)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    auto opt = rz::pipeline::Options::for_preset(rz::pipeline::parse_preset(preset));
    opt.format = format;
    opt.keep = keep;
    opt.separate = !no_separate;
    opt.ingest.preview_s = ingest.preview_s;
    opt.ingest.sample_rate_hz = ingest.sample_rate_hz;
    opt.ingest.validate();
    mastering.validate();
    opt.mastering = mastering;
    if (!model.empty()) opt.separation.model = model;
    opt.separation.device = device;
    opt.separation.threads = threads;
    opt.separation.model_dir = model_dir;
    opt.separation.cache_dir = cache_dir;
    // Separation is rz-separate's, the program installed beside this one (the only tool that
    // loads libtorch); without it, rz-run says so and runs the rest.
    std::error_code ec;
    const auto separate_program =
        std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "rz-separate";
    rz::pipeline::Separator separator;
    if (!ec && access(separate_program.c_str(), X_OK) == 0) {
      separator = rz::pipeline::program_separator(separate_program, ctx.verbosity(),
                                                  ctx.progress() && !isatty(STDERR_FILENO));
    }
    const bool several = ctx.inputs().size() > 1;
    return rz::cli::run_each_input(ctx, [&](const std::string& input) {
      // With several inputs, or -o ending in '/', -o is the directory that receives <name>.rz
      // for each (an input may lie in it); else the recording's directory.
      std::filesystem::path out = rz::pipeline::default_output(input);
      const bool into = several || (ctx.has_output() && ctx.output().back() == '/');
      if (into && ctx.has_output()) {
        out = std::filesystem::path(ctx.output()) / out.filename();
        std::filesystem::create_directories(ctx.output());
      } else {
        out = ctx.output_or(out);
      }
      double audio_s = 0;
      rz::pipeline::Hooks hooks;
      hooks.on_duration = [&](double s) {
        audio_s = s;
        ctx.set_media_seconds(s);
      };
      hooks.on_step = [&](const rz::pipeline::Step& step) {
        if (!step.skipped.empty()) {
          ctx.note(step.verb + ": skipped: " + step.skipped);
          return;
        }
        // What the stage changed: its notes, else (mix, master) its details.
        const auto& r = step.report;
        for (const auto& w : r.warnings) ctx.warn(step.verb + ": " + w);
        for (const auto& n : r.notes.empty() ? r.details : r.notes) ctx.note(step.verb + ": " + n);
        if (r.notes.empty() && r.details.empty()) ctx.note(step.verb + ": done");
        ctx.info(step.verb + ": " + timing(step.elapsed_s, audio_s));
        if (!r.notes.empty())
          for (const auto& d : r.details) ctx.info(step.verb + ": " + d);
        if (ctx.verbosity() >= 1)
          for (const auto& d : rz::cli::recorded_decisions(step.report.output))
            ctx.info(step.verb + ": " + d);
      };
      auto rep = rz::pipeline::run(input, out, ctx.force(), opt, separator, ctx.provenance(),
                                   ctx.progress(), hooks);
      rz::stage::StageReport result;
      result.output = rep.output;
      result.record = rep.record;
      return result;
    });
  });
}
