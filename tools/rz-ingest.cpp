// rz-ingest: decode, check and analyse recordings; write each as a 44.1 kHz stem directory.
#include <string>
#include <vector>

#include "rz/audio/resample.hpp"
#include "rz/cli/tool.hpp"
#include "rz/ingest/ingest.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool("rz-ingest",
                     "Decode, check and analyse recordings (WAV, FLAC, OGG, Opus, MP3; others via "
                     "ffmpeg) and write each as a stem directory with one 44.1 kHz stem 'mix'.",
                     "  rz-ingest gig.mp3                       # -> gig.ingest/\n"
                     "  rz-ingest --preview 30 gig.mp3 -o try   # loudest 30 s only\n"
                     "  rz-ingest --rate 48k --preview 0:20 gig.m4a -o gig.48k\n"
                     "  rz-ingest gig.wav -o live | rz-mix | rz-master -o gig.flac\n");
  rz::ingest::Options opt;
  std::string quality = rz::audio::to_string(opt.quality);
  tool.add_input("Recordings to ingest (or paths on stdin)", true);
  tool.add_output("Output stem directory (default: <input without extension>.ingest)");
  using rz::cli::Unit, rz::cli::with_unit;
  with_unit(tool.app().add_option("--preview", opt.preview_s,
                                  "Keep only the loudest SECONDS (default 30)"),
            Unit::kSeconds)
      ->option_text("[SECONDS]");
  with_unit(tool.app()
                .add_option("--rate", opt.sample_rate_hz, "Output sample rate")
                ->capture_default_str(),
            Unit::kHz);
  tool.app()
      .add_option("--resample-quality", quality, "best, medium or fast (libsamplerate sinc)")
      ->capture_default_str();
  tool.app().add_flag("!--no-ffmpeg", opt.allow_ffmpeg, "Never fall back to ffmpeg for decoding");
  tool.app().add_flag("--allow-truncated", opt.allow_truncated,
                      "Keep what a cut-off WAV/AIFF holds instead of refusing it");
  static char default_preview[] = "30";  // "--preview" may come without a value
  auto args =
      rz::cli::default_value_after(argc, argv, "--preview", default_preview, Unit::kSeconds);
  return tool.run(static_cast<int>(args.size()), args.data(), [&](rz::cli::Context& ctx) {
    opt.quality = rz::audio::parse_resample_quality(quality);
    return rz::cli::run_each_input(ctx, [&](const std::string& input) {
      const auto out = ctx.output_or(rz::ingest::default_output(input));
      ctx.info("ingesting " + input + " -> " + out.string());
      return rz::ingest::ingest(input, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    });
  });
}
