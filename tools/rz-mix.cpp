// rz-mix: gain-staged sum of the stems of a stem directory (mute, solo, gain, pan).

#include "rz/cli/tool.hpp"
#include "rz/mix/mix.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool("rz-mix",
                     "Sum the stems of a stem directory into one stem 'mix', with per-stem gain, "
                     "mute, solo and pan. Defaults are unity: the sum of a separation gives back "
                     "its input, less the stems it marked as removed (crowd, noise, reverb), "
                     "which are left out with a note unless --keep or --solo names them. Never "
                     "clips (float).",
                     "  rz-mix gig.ingest.sep                       # unity sum\n"
                     "  rz-mix gig.sep --gain vocals=+3dB --mute other --pan bass=-0.2\n"
                     "  rz-mix gig.decrowd --keep crowd --gain crowd=-12   # a little crowd back\n"
                     "  rz-mix gig.sep --settings mix.json -o gig.balanced\n");
  std::vector<std::string> gains, pans, mutes, solos, keeps;
  std::string settings;
  double master_gain_db = 0;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.mix)");
  tool.add_verify();
  using rz::cli::Unit;
  rz::cli::with_named_unit(tool.app().add_option("--gain", gains, "Gain of stem NAME (repeatable)"),
                           Unit::kDb)
      ->allow_extra_args(false);
  tool.app()
      .add_option("--pan", pans, "NAME=P balance of a stereo stem, -1 left .. 1 right")
      ->allow_extra_args(false);
  tool.app()
      .add_option("--mute", mutes, "Leave stem NAME out (repeatable)")
      ->allow_extra_args(false);
  tool.app()
      .add_option("--solo", solos, "Play only the soloed stems (repeatable)")
      ->allow_extra_args(false);
  tool.app()
      .add_option("--keep", keeps,
                  "Mix in removed stem NAME (crowd, noise, reverb; left out by default; "
                  "repeatable)")
      ->allow_extra_args(false);
  rz::cli::with_unit(tool.app().add_option("--master-gain", master_gain_db, "Gain of the sum"),
                     Unit::kDb);
  tool.app().add_option("--settings", settings,
                        "JSON file with the same settings (flags override)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    rz::mix::Options opt;
    if (!settings.empty()) {
      opt = rz::mix::Options::from_json(rz::cli::read_settings_json(settings, "mix settings file"),
                                        settings);
    }
    if (tool.app().count("--master-gain")) opt.master_gain_db = master_gain_db;
    opt.apply_flags(gains, pans, mutes, solos);
    opt.keep.insert(opt.keep.end(), keeps.begin(), keeps.end());
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "mix"));
    auto rep = rz::mix::mix(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
