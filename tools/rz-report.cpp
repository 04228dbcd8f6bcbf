// rz-report: a static A/B page comparing versions of a recording (spectrograms, waveforms,
// loudness, a level-matched player, measurements, the stages' decisions).
#include "rz/cli/tool.hpp"
#include "rz/reporting/report.hpp"
#include "rz/stems/stem_dir.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-report",
      "Build a self-contained page that compares versions of a recording (stem directories or "
      "audio files, in order: typically the phone recording, later stages, the master): "
      "spectrograms, waveforms and loudness per stem and version, an A/B player switching "
      "between level-matched excerpts at the same playhead, the measurements side by side and "
      "each stage's decisions. With one stem directory, its source recording is the other "
      "version. Open OUTPUT/index.html in a browser (works from file://).",
      "  rz-report gig.ingest gig.ingest.rst.enh -o report\n"
      "  rz-report gig.wav gig.flac -o ab --start 60 --excerpt 20\n"
      "  rz-report gig.ingest            # compared with the recording it came from\n");
  rz::reporting::Options opt;
  tool.add_input("Stem directories or audio files, in order (or their paths on stdin)", true);
  tool.add_output("Output directory (default: the last input plus .report)");
  tool.inputs_make_one_output();
  tool.add_verify();
  using rz::cli::Unit, rz::cli::with_unit;
  with_unit(tool.app()
                .add_option("--excerpt", opt.excerpt_s, "Length of the A/B excerpt")
                ->capture_default_str(),
            Unit::kSeconds);
  with_unit(tool.app().add_option("--start", opt.excerpt_start_s,
                                  "Start of the A/B excerpt (default: the loudest stretch of the "
                                  "first version)"),
            Unit::kSeconds);
  tool.app()
      .add_option("--width", opt.width, "Pixels across the whole recording")
      ->capture_default_str()
      ->check(CLI::Range(200, 8000));
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.verify_hashes = ctx.verify();
    std::vector<std::filesystem::path> inputs(ctx.inputs().begin(), ctx.inputs().end());
    const auto out = ctx.output_or(rz::stems::default_output(inputs.back(), "report", true));
    auto rep =
        rz::reporting::build(inputs, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
