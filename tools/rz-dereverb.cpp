// rz-dereverb: remove the venue's late reverberation (WPE), with a dry/wet blend.
#include "rz/cli/tool.hpp"
#include "rz/dereverb/dereverb.hpp"
#include "rz/error.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-dereverb",
      "Remove the venue's late reverberation from each stem with WPE (weighted prediction "
      "error: per-frequency multichannel linear prediction in the STFT domain, both channels "
      "of a stereo stem), protecting sustained tones, blended dry/wet. The reverberation time "
      "(T60) is estimated before and after and recorded in the manifest.",
      "  rz-dereverb gig.sep                       # defaults for music at 44.1 kHz\n"
      "  rz-dereverb gig.sep --stems vocals --strength 0.7 --wet 0.8\n"
      "  rz-dereverb gig.ingest --taps 20 --delay 3 --iterations 3 -o gig.dry\n");
  rz::dereverb::Options opt;
  std::vector<std::string> stems;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.drv)");
  tool.add_verify();
  auto& app = tool.app();
  auto& w = opt.wpe;
  app.add_option("--strength", w.strength,
                 "Scale of the subtracted reverberation estimate, 0..1 (0: exact copy)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--wet", w.wet, "Dry/wet blend, 0 (dry input) .. 1 (processed)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--taps", w.taps,
                 "Prediction taps per channel (STFT frames); 0: by channel count (mono needs more)")
      ->capture_default_str();
  app.add_option("--delay", w.delay_frames, "Prediction delay in STFT frames (keeps the early sound)")
      ->capture_default_str();
  app.add_option("--iterations", w.iterations, "WPE iterations (variance re-estimation)")
      ->capture_default_str();
  app.add_option("--block", w.block_s, "Processing block in seconds (bounds memory)")
      ->capture_default_str();
  app.add_option("--tonal-max-cut", w.tonal_max_reduction_db,
                 "Most a sustained tone may lose, dB (the tonal guard; larger = weaker guard)")
      ->capture_default_str();
  app.add_option("--threads", w.threads, "Worker threads, 1..16 (default: the cores; the frequency bins are shared out)")
      ->capture_default_str();
  app.add_option("--stems", stems, "Stems to touch (comma-separated; others are copied)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    opt.stems = rz::cli::split_list(stems);
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "drv"));
    auto rep = rz::dereverb::dereverb(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
