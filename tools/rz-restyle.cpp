// rz-restyle: re-style stems granularly with the grains of another sound.
#include "rz/cli/params.hpp"
#include "rz/cli/tool.hpp"
#include "rz/restyle/restyle.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-restyle",
      "Re-style each chosen stem of a stem directory granularly: detect its onsets, track the "
      "pitch of each segment, cut a style sound into grains (split on silence, pitch per grain) "
      "and replace each segment by the nearest-pitch grain, shaped by the original's envelope "
      "and matched to its level, with crossfades at every seam. Every choice (onset, pitch, "
      "grain, gain) is recorded in the manifest; --seed decides among equally near grains.",
      "  rz-restyle gig.sep --style choir.wav --stems vocals     # vocals sung by the choir\n"
      "  rz-restyle gig.sep --style marimba.flac --grain-ms 80ms --stems bass,other\n"
      "  rz-restyle gig.sep --style noise.wav --no-pitch-map --seed 7 -o gig.noisy\n"
      "  rz-restyle gig.sep --style pad.wav --no-envelope         # the segment's level only\n");
  rz::restyle::Options opt;
  std::string style;
  std::vector<std::string> stems;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.sty)");
  tool.add_verify();
  auto& app = tool.app();
  app.add_option("--style", style,
                 "The sound whose grains re-style the stems (any audio file rz-ingest reads)");
  rz::cli::add_options(app, opt, rz::restyle::Options::fields());
  app.add_option("--stems", stems, "Stems to re-style (comma-separated; others are copied)");
  app.add_option("--seed", opt.seed, "Seed of the choices among equally near grains")
      ->capture_default_str();
  app.add_flag("!--no-pitch-map", opt.pitch_map,
               "Choose grains at random (seeded), whatever their pitch");
  app.add_flag("!--no-envelope", opt.envelope, "Match each segment's level only, not its envelope");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.style = style;
    opt.stems = rz::cli::split_list(stems);
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "sty"));
    auto rep = rz::restyle::restyle(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
