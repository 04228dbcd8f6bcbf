// rz-restore: bandwidth restoration (highs above the phone's cutoff, sub-bass below its low cut)
// and de-clipping, each only where a measurement calls for it.
#include "rz/cli/params.hpp"
#include "rz/cli/tool.hpp"
#include "rz/error.hpp"
#include "rz/restore/restore.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-restore",
      "Give back what the phone took away, where the recording proves it was there: "
      "reconstruct clipped peaks, regenerate the highs above the detected bandwidth cutoff "
      "from the band below, and restore the fundamentals of bass notes below the phone's low "
      "cut (bass, drums and mix stems). Every measurement, decision and what each block added "
      "is recorded in the manifest.",
      "  rz-restore gig.ingest                     # every block the measurements call for\n"
      "  rz-restore gig.sep --stems bass,drums --only subbass\n"
      "  rz-restore gig.ingest --only declip --intensity 0.5 -o gig.rst\n"
      "  rz-restore gig.ingest --max-freq 16000\n");
  rz::restore::Options opt;
  std::vector<std::string> stems, only;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.rst)");
  tool.add_verify();
  auto& app = tool.app();
  rz::cli::add_options(app, opt, rz::restore::Options::fields());
  app.add_option("--stems", stems, "Stems to touch (comma-separated; others are copied)");
  app.add_option("--only", only, "Blocks allowed to run: declip, subbass, highs (comma-separated)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.stems = rz::cli::split_list(stems);
    opt.only = rz::cli::split_list(only);
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "rst"));
    auto rep = rz::restore::restore(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
