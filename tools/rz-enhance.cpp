// rz-enhance: per-stem repair chains, decided by measurements and rolled back when they hurt.
#include <iostream>

#include "rz/cli/params.hpp"
#include "rz/cli/tool.hpp"
#include "rz/enhance/enhance.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-enhance",
      "Repair each stem of a stem directory with a chain suited to its source (vocals, drums, "
      "bass, other, mix): rumble high-pass, noise reduction, de-mudding, low-end focus, "
      "presence, de-essing, transient shaping, compression, exciter. Each block runs only when "
      "the stem's measurements call for it; a result that measures worse than the input is "
      "retried milder, then rolled back. Every decision is recorded in the manifest.",
      "  rz-enhance gig.sep                              # balanced preset, every stem\n"
      "  rz-enhance gig.ingest --only denoise --noise-profile auto\n"
      "  rz-enhance gig.sep --preset conservative --intensity 0.5 --stems vocals,other\n"
      "  rz-enhance gig.sep --config chains.json -o gig.enh\n"
      "  rz-enhance --list-parameters\n");
  std::string preset = "balanced", config;
  std::vector<std::string> stems, only;
  rz::enhance::Options opt;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.enh)");
  tool.add_verify();
  auto& app = tool.app();
  app.add_option("--preset", preset, "conservative, balanced or aggressive")
      ->check(CLI::IsMember({"conservative", "balanced", "aggressive"}))
      ->capture_default_str();
  rz::cli::add_options(app, opt, rz::enhance::Options::fields());
  app.add_option("--config", config, "JSON file {STEM or \"*\": {BLOCK: {PARAM: value}}}");
  app.add_option("--stems", stems, "Stems to touch (comma-separated; others are copied)");
  app.add_option("--only", only, "Blocks allowed to run (comma-separated)");
  app.add_option("--noise-profile", opt.noise_profile,
                 "Noise sample (audio file of the crowd alone) or 'auto' (learn it from the "
                 "recording's crowd-only stretches); default: blind tracking");
  app.add_flag("!--no-rollback", opt.rollback, "Keep results that fail the comparison");
  app.add_flag_callback(
      "--list-parameters",
      [] {
        std::cout << rz::enhance::describe_parameters();
        throw CLI::Success();
      },
      "Print every parameter of every chain with units and defaults, and exit");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.preset = rz::enhance::parse_preset(preset);
    opt.stems = rz::cli::split_list(stems);
    opt.only = rz::cli::split_list(only);
    if (!config.empty()) {
      opt.config = rz::cli::read_settings_json(config, "enhance settings file");
      opt.config_subject = config;
    }
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "enh"));
    auto rep = rz::enhance::enhance(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
