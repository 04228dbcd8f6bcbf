// rz-metrics: measurements of a stem directory or audio file, optional reference, CI thresholds.
#include "rz/cli/tool.hpp"
#include "rz/error.hpp"
#include "rz/metrics/report.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-metrics",
      "Measure a stem directory or an audio file: loudness, peaks, clipping, noise "
      "floor and SNR, spectrum, stereo; SDR, SI-SDR and log-spectral distance "
      "against --reference. --require turns it into a CI gate (exit 3 on failure). Given two "
      "versions, A and B, shows them side by side with B - A, and compares B with A at matched "
      "loudness (LSD, SDR).",
      "  rz-metrics gig.flac\n"
      "  rz-metrics gig.ingest gig.rz/gig.flac        # before and after, side by side\n"
      "  rz-metrics --json gig.sep --reference truth/\n"
      "  rz-metrics gig.flac --require 'integrated_lufs>=-15' --require 'true_peak_dbtp<=-1'\n");
  rz::metrics::ReportOptions opt;
  std::vector<std::string> requires_text;
  std::string reference;
  bool no_spectral = false;
  tool.add_input("Stem directory or audio file (or its path on stdin); two: A and B side by side",
                 true);
  tool.inputs_make_one_output();
  tool.add_verify();
  tool.app().add_option("--reference", reference, "Reference stem directory or audio file");
  tool.app()
      .add_option("--require", requires_text,
                  "[STEM.]METRIC OP VALUE, e.g. 'true_peak_dbtp<=-1' (repeatable)")
      ->allow_extra_args(false);
  tool.app().add_flag("--no-spectral", no_spectral, "Skip the spectral measurements (faster)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    std::vector<rz::metrics::Requirement> reqs;
    for (const auto& r : requires_text) reqs.push_back(rz::metrics::Requirement::parse(r));
    opt.reference = reference;
    opt.spectral = !no_spectral;
    opt.verify_hashes = ctx.verify();
    if (ctx.inputs().size() > 2)
      throw rz::UsageError("expected one input, or two to compare, got " +
                           std::to_string(ctx.inputs().size()));
    if (ctx.inputs().size() == 2) {
      if (!reference.empty() || !reqs.empty())
        throw rz::UsageError("--reference and --require take one input, not two to compare");
      rz::cli::Result result;
      result.record =
          rz::metrics::compare_versions(ctx.inputs()[0], ctx.inputs()[1], opt, ctx.progress());
      result.text = rz::metrics::format_comparison(result.record);
      return result;
    }
    auto report = rz::metrics::measure(ctx.input(), opt, ctx.progress());
    for (const auto& name : report.value("reference_unmatched", nlohmann::json::array())) {
      ctx.warn("stem '" + name.get<std::string>() + "' has no match in the reference");
    }
    const auto failures = rz::metrics::check(report, reqs);
    for (const auto& f : failures) ctx.error(f);
    report["requirements"] = {{"checked", requires_text}, {"failed", failures}};
    rz::cli::Result result;
    result.record = report;
    result.text = rz::metrics::format_table(report);
    result.exit_code = failures.empty() ? 0 : rz::kExitCheckFailed;
    return result;
  });
}
