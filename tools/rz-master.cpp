// rz-master: loudness-normalise, true-peak limit, dither and export a stem directory.
#include "rz/audio/file.hpp"
#include "rz/cli/master.hpp"
#include "rz/cli/params.hpp"
#include "rz/cli/tool.hpp"
#include "rz/error.hpp"
#include "rz/master/master.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool("rz-master",
                     "Master a stem directory (one stem, or the sum of all) to a delivery file: "
                     "optional high-pass and tilt EQ, loudness to a target, true-peak limiting, "
                     "TPDF dither. Writes OUTPUT and OUTPUT.json (measurements and history). The "
                     "sum leaves stems marked as removed (crowd, noise, reverb) out, with a note, "
                     "unless --keep names them.",
                     "  rz-master gig.mix -o gig.flac                 # -14 LUFS, -1 dBTP, 24-bit\n"
                     "  rz-master gig.mix -o gig.wav --bits 16 --target -16\n"
                     "  rz-master gig.sep --stem vocals -o vocals.flac --highpass 80\n"
                     "  rz-master gig.decrowd --keep crowd -o gig-with-crowd.flac\n"
                     "  rz-master gig.mix -o - | ffplay -nodisp -autoexit -   # WAV on stdout\n"
                     "  rz-master gig.mix -o - | ffmpeg -v error -i - -c:a aac gig.m4a\n"
                     "  rz-master gig.mix -o - --format flac --target -16LUFS > gig.flac\n");
  rz::master::Options opt;
  std::string bits, format;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output(
      "Output audio file, format from the extension (default: <input>.master.flac); '-': "
      "stdout, in --format");
  tool.app().add_option("--format", format,
                        "Container with -o -: wav (default), flac, ogg, mp3, opus, aiff, w64, "
                        "caf; otherwise it must match the extension");
  tool.add_verify();
  rz::cli::add_options(tool.app(), opt, rz::master::Options::fields());
  tool.app().add_option("--stem", opt.stem,
                        "Master only this stem, removed or not (default: the sum of all)");
  tool.app()
      .add_option("--keep", opt.keep,
                  "Bring removed stem NAME into the sum (left out by default; repeatable)")
      ->allow_extra_args(false);
  tool.app().add_option("--bits", bits,
                        "16, 24, 32 (integer) or float (default: 24 for FLAC, float for WAV)");
  tool.app().add_flag("!--no-dither", opt.dither, "Quantise without dither");
  tool.app().add_option("--seed", opt.seed, "Seed of the dither noise")->capture_default_str();
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    if (!bits.empty()) opt.sample_format = rz::audio::parse_sample_format(bits);
    const auto in = ctx.input_stem_dir();
    if (ctx.output() == "-") return rz::cli::master_to_stdout(ctx, in, format, opt);
    const auto out = ctx.output_or(rz::master::default_output(in.path()));
    if (!format.empty() &&
        rz::audio::container_for_path(out) != rz::audio::container_for_path("x." + format))
      throw rz::UsageError("--format " + format + " does not match the extension of '" +
                           out.string() + "'");
    auto rep = rz::master::master(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
