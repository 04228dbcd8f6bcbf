// rz-run: the whole job in one command, each stage's library call in the documented order.
#include "rz/cli/params.hpp"
#include "rz/cli/run.hpp"

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
  std::string preset = "studio", model;
  rz::pipeline::Options opt;
  tool.add_input("Recordings (or their paths on stdin)", true);
  tool.add_output(
      "Output directory: the recording's with one input (default: <input without "
      "extension>.rz), else (or ending in '/') the one that receives <name>.rz for each");
  tool.inputs_make_one_output();
  auto& app = tool.app();
  using rz::cli::Unit, rz::cli::with_unit;
  app.add_option("--preset", preset, rz::pipeline::describe_presets())
      ->check(CLI::IsMember({"preview", "studio", "max"}))
      ->capture_default_str();
  app.add_option("--format", opt.format, "Container of the master")
      ->check(CLI::IsMember({"flac", "wav", "ogg", "mp3"}))
      ->capture_default_str();
  app.add_flag("--keep", opt.keep, "Keep every stage's stem directory in <output>/work");
  with_unit(app.add_option("--preview", opt.ingest.preview_s,
                           "Work on the loudest SECONDS only (as rz-ingest --preview)"),
            Unit::kSeconds);
  with_unit(app.add_option("--rate", opt.ingest.sample_rate_hz, "Rate of the stem directories")
                ->capture_default_str(),
            Unit::kHz);
  rz::cli::add_options(app, opt.mastering, rz::master::Options::fields());
  app.add_flag("!--no-separate", opt.separate, "Do not separate, even with the weights installed");
  app.add_option("-n,--model", model, "Separation model (default: the preset's)");
  app.add_option("-d,--device", opt.separation.device, "Separation device: auto, cpu, cuda, mps")
      ->capture_default_str();
  app.add_option("--threads", opt.separation.threads, "CPU threads of the separation");
  app.add_option("--model-dir", opt.separation.model_dir, "Model directory (as rz-separate's)");
  app.add_option("--cache-dir", opt.separation.cache_dir, "Separation cache (as rz-separate's)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.apply_preset(rz::pipeline::parse_preset(preset));
    if (!model.empty()) opt.separation.model = model;
    return rz::cli::run_recordings(ctx, opt);
  });
}
