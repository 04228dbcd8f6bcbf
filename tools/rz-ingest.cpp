// rz-ingest: decode, check and analyse recordings; write each as a 44.1 kHz stem directory.
#include <cstdlib>
#include <string>
#include <vector>

#include "rz/audio/resample.hpp"
#include "rz/cli/tool.hpp"
#include "rz/error.hpp"
#include "rz/ingest/ingest.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool("rz-ingest",
                     "Decode, check and analyse recordings (WAV, FLAC, OGG, Opus, MP3; others via "
                     "ffmpeg) and write each as a stem directory with one 44.1 kHz stem 'mix'.",
                     "  rz-ingest gig.mp3                       # -> gig.ingest/\n"
                     "  rz-ingest --preview 30 gig.mp3 -o try   # loudest 30 s only\n"
                     "  rz-ingest gig.wav | rz-mix | rz-master -o gig.flac\n");
  rz::ingest::Options opt;
  std::string quality = rz::audio::to_string(opt.quality);
  tool.add_input("Recordings to ingest (or paths on stdin)", true);
  tool.add_output("Output stem directory (default: <input without extension>.ingest)");
  tool.app()
      .add_option("--preview", opt.preview_s, "Keep only the loudest SECONDS (default 30)")
      ->option_text("[SECONDS]");
  tool.app()
      .add_option("--rate", opt.sample_rate_hz, "Output sample rate in Hz")
      ->capture_default_str();
  tool.app()
      .add_option("--resample-quality", quality, "best, medium or fast (libsamplerate sinc)")
      ->capture_default_str();
  tool.app().add_flag("!--no-ffmpeg", opt.allow_ffmpeg, "Never fall back to ffmpeg for decoding");
  tool.app().add_flag("--allow-truncated", opt.allow_truncated,
                      "Keep what a cut-off WAV/AIFF holds instead of refusing it");
  // "--preview" may come without a value: supply the default when the next word is no number.
  std::vector<char*> args(argv, argv + argc);
  static char default_preview[] = "30";
  for (size_t i = 1; i < args.size(); ++i) {
    if (std::string(args[i]) != "--preview") continue;
    char* end = nullptr;
    if (i + 1 == args.size() ||
        (std::strtod(args[i + 1], &end), end == args[i + 1] || *end != '\0')) {
      args.insert(args.begin() + static_cast<long>(i) + 1, default_preview);
    }
  }
  return tool.run(static_cast<int>(args.size()), args.data(), [&](rz::cli::Context& ctx) {
    opt.quality = rz::audio::parse_resample_quality(quality);
    rz::cli::Result result;
    nlohmann::json records = nlohmann::json::array();
    // Like gzip with several files: a bad one is reported and skipped, the others still run, and
    // the exit status says something failed.
    for (const auto& input : ctx.inputs()) {
      const auto out = ctx.output_or(rz::ingest::default_output(input));
      ctx.info("ingesting " + input + " -> " + out.string());
      try {
        auto rep =
            rz::ingest::ingest(input, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
        for (const auto& w : rep.warnings) ctx.warn(input + ": " + w);
        result.outputs.push_back(rep.output);
        records.push_back(rep.record);
      } catch (const rz::Error& e) {
        if (ctx.inputs().size() == 1 || e.exit_code() == rz::kExitInterrupted) throw;
        ctx.error(e.what());
        result.exit_code = rz::kExitFailure;
      }
    }
    if (records.size() == 1) {
      result.record = records.front();
    } else {
      nlohmann::json paths = nlohmann::json::array();
      for (const auto& p : result.outputs) paths.push_back(p.string());
      result.record = {{"outputs", paths}, {"records", records}};
    }
    return result;
  });
}
