// rz-analyze: tempo and beats, key, onsets, pitch, loudness and per-stem activity of a stem
// directory or an audio file.
#include "rz/analyze/analyze.hpp"
#include "rz/cli/tool.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-analyze",
      "Musical analysis of a stem directory or an audio file: tempo and beats, key (with its "
      "Camelot code), onsets, a pitch track for monophonic stems (vocals, bass), the loudness "
      "curve, and where each stem plays. A stem directory gets the analysis in its manifest "
      "(\"music\", and a history entry; the audio is not touched); a file gets "
      "FILE.analysis.json beside it; -o writes a JSON file instead. Prints a table, or with "
      "--json the analysis itself.",
      "  rz-analyze gig.sep                     # into gig.sep/manifest.json\n"
      "  rz-analyze --json song.flac -o song.json | jq .key\n"
      "  rz-analyze gig.sep --pitch vocals,bass --min-bpm 70 --max-bpm 180\n");
  std::vector<std::string> pitch;
  rz::analyze::Options opt;
  tool.add_input("Stem directory or audio file (or its path on stdin)");
  tool.add_output(
      "JSON file for the analysis (default: the directory's manifest, or FILE.analysis.json)");
  tool.add_verify();
  tool.app()
      .add_option("--pitch", pitch,
                  "Stems to pitch-track: names, 'all' or 'none' (default: vocals, vocal, voice, "
                  "lead, bass)")
      ->allow_extra_args(false);
  tool.app()
      .add_option("--min-bpm", opt.tempo.min_bpm, "Slowest tempo considered")
      ->capture_default_str();
  tool.app()
      .add_option("--max-bpm", opt.tempo.max_bpm, "Fastest tempo considered")
      ->capture_default_str();
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.pitch_stems = rz::cli::split_list(pitch);
    opt.verify_hashes = ctx.verify();
    const auto sidecar = ctx.has_output() ? ctx.output_or({}) : std::filesystem::path();
    const auto rep = rz::analyze::analyze(ctx.input(), sidecar, ctx.force(), opt, ctx.provenance(),
                                          ctx.progress());
    auto result = rz::cli::stage_result(ctx, rep);
    result.text = rz::analyze::format_table(rep.analysis);
    return result;
  });
}
