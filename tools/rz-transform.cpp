// rz-transform: pitch shift and tempo change of the stems of a stem directory, kept aligned.
#include "rz/cli/tool.hpp"
#include "rz/transform/transform.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-transform",
      "Shift the pitch of chosen stems of a stem directory and change the tempo of all of them, "
      "with Rubber Band, keeping the stems sample-aligned with each other (one time map for "
      "all). --pitch applies to the stems --stems names (default: all); --tempo to every stem, "
      "since a directory's stems share one length. Stems left alone are copied bit for bit. "
      "This tool links Rubber Band (GPL-2.0-or-later).",
      "  rz-transform gig.sep --pitch -2                    # whole band down a tone\n"
      "  rz-transform gig.sep --tempo 0.8 -o gig.practice   # 80 % speed, same pitch\n"
      "  rz-transform gig.sep --pitch 3 --formant preserve --stems vocals\n"
      "  rz-transform gig.sep --pitch 0.5 --tempo 1.02 --window short   # quick preview\n");
  rz::transform::Options opt;
  std::string formant = "shift", window = "standard";
  std::vector<std::string> stems;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.tf)");
  tool.add_verify();
  auto& app = tool.app();
  app.add_option("--pitch", opt.pitch_semitones,
                 "Semitones up (negative: down; fractions are cents, 0.5 = 50 cents), -24..24")
      ->capture_default_str();
  app.add_option("--tempo", opt.tempo, "Tempo ratio, 0.25..4 (1.25: 25 % faster and shorter)")
      ->capture_default_str();
  app.add_option("--formant", formant,
                 "shift (formants move with the pitch) or preserve (the voice keeps its "
                 "character: for sung and spoken stems)")
      ->check(CLI::IsMember({"shift", "preserve"}))
      ->capture_default_str();
  app.add_option("--stems", stems, "Stems whose pitch changes (comma-separated; default: all)");
  app.add_option("--window", window,
                 "standard (Rubber Band R3's multi-resolution analysis: the sharpest attacks) or "
                 "short (one short window: about 3x faster, softer attacks when the tempo rises)")
      ->check(CLI::IsMember({"short", "standard"}))
      ->capture_default_str();
  tool.add_version_line("rubberband " + rz::transform::library_version());
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.preserve_formants = formant == "preserve";
    opt.window = rz::transform::parse_window(window);
    opt.stems = rz::cli::split_list(stems);
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "tf"));
    auto rep =
        rz::transform::transform(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
