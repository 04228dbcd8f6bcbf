// rz-separate: split the mix of a stem directory into sources with HTDemucs (Demucs v4) or a
// RoFormer (BS-RoFormer, Mel-Band RoFormer: crowd, denoise, de-reverb and vocal models).
#include "rz/cli/tool.hpp"
#include "rz/demucs/separate.hpp"
#include "rz/error.hpp"
#include "rz/nn/precision.hpp"

int main(int argc, char** argv) {
  rz::cli::Tool tool(
      "rz-separate",
      "Split the mix of a stem directory into sources with HTDemucs, Demucs v4 (drums, bass, "
      "other, vocals; guitar and piano with 6-source models), or with a BS-RoFormer or Mel-Band "
      "RoFormer of MSST (crowd, denoise, de-reverb, vocal models), on libtorch. Reads the "
      "official checkpoints; writes float32 stems as long as the input. Crowd, noise and reverb "
      "stems are marked removed (rz-mix and rz-master leave them out). Results are cached.",
      "  rz-separate gig.ingest                          # htdemucs, 1 shift\n"
      "  rz-separate gig.ingest --model htdemucs_ft --shifts 2 -o gig.sep\n"
      "  rz-separate gig.ingest --two-stems vocals -d cuda\n"
      "  rz-ingest gig.mp3 | rz-separate --model crowd | rz-separate --stem instrumental\n"
      "  rz-separate gig.ingest --model my.ckpt --model-config my.yaml --batch 2\n"
      "  rz-ingest gig.mp3 | rz-separate | rz-mix | rz-master -o gig.flac\n");
  tool.add_version_line(rz::demucs::torch_description());
  rz::demucs::SeparateOptions opt;
  double segment = 0;
  int batch = 0;
  std::string model_dir, cache_dir, model_config;
  tool.add_input("Stem directory (or its path on stdin)");
  tool.add_output("Output stem directory (default: <input>.sep)");
  tool.add_verify();
  auto& app = tool.app();
  app.add_option("-n,--model", opt.model,
                 "htdemucs, htdemucs_6s, htdemucs_ft, crowd, denoise, dereverb, vocals-bs, "
                 "vocals-mel, a name in the model directory, or a .th, .ckpt or .yaml path")
      ->capture_default_str();
  app.add_option("--model-dir", model_dir,
                 "Model directory (default: $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models)");
  app.add_option("--model-config", model_config,
                 "RoFormer: its MSST YAML config (default: the .yaml beside the .ckpt)");
  app.add_option("--model-type", opt.model_type,
                 "RoFormer: bs_roformer or mel_band_roformer (default: told by the config)");
  app.add_option("--shifts", opt.apply.shifts,
                 "Random time shifts averaged (0: none; HTDemucs only)")
      ->capture_default_str();
  app.add_option("--overlap", opt.apply.overlap,
                 "Overlap between segments, 0..1 (RoFormer: 1 - 1/num_overlap; default: the "
                 "config's)")
      ->capture_default_str();
  rz::cli::with_unit(
      app.add_option("--segment", segment,
                     "Segment length (default and maximum: the model's, 7.8 s for htdemucs; "
                     "RoFormer: the chunk, default the config's)"),
      rz::cli::Unit::kSeconds);
  auto* batch_opt =
      app.add_option("--batch,--batch-size", batch,
                     "Segments per model call (default: HTDemucs 1 on the CPU, from free memory on "
                     "CUDA; RoFormer the config's)");
  std::string precision = "fp32";
  app.add_option("--precision", precision,
                 "fp32, tf32 (CUDA), bf16 (fast on CPUs with AVX512-BF16 or AMX, and on CUDA) or "
                 "fp16 (CUDA)")
      ->capture_default_str();
  app.add_option("--seed", opt.apply.seed, "Seed of the shift offsets (Python random.seed)")
      ->capture_default_str();
  app.add_option("--two-stems", opt.two_stems, "Write only STEM and no_STEM (e.g. vocals)");
  app.add_option("--stem", opt.input_stem, "Stem to separate (default: mix)");
  app.add_option("-d,--device", opt.device, "auto, cpu, cuda, cuda:N or mps")
      ->capture_default_str();
  app.add_option("--threads", opt.threads, "CPU threads (default: every core)");
  app.add_flag("!--no-cache", opt.use_cache, "Recompute even when a cached result matches");
  app.add_option("--cache-dir", cache_dir,
                 "Cache directory (default: $XDG_CACHE_HOME/rz/separate)");
  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    if (app.count("--segment")) opt.apply.segment_s = segment;
    if (batch_opt->count() > 0) {  // 0 inside means "the default"; given, it is a mistake
      if (batch < 1)
        throw rz::UsageError("--batch must be 1 to " + std::to_string(rz::demucs::kMaxBatch));
      opt.batch = batch;
    }
    const auto parsed = rz::nn::parse_precision(precision);
    if (!parsed)
      throw rz::UsageError("--precision must be fp32, tf32, bf16 or fp16 (got '" + precision +
                           "')");
    opt.precision = *parsed;
    opt.overlap_given = app.count("--overlap") > 0;
    opt.shifts_given = app.count("--shifts") > 0;
    opt.model_config = model_config;
    opt.model_dir = model_dir;
    opt.cache_dir = cache_dir;
    const auto in = ctx.input_stem_dir();
    const auto out = ctx.output_or(rz::stems::default_output(in.path(), "sep"));
    auto rep = rz::demucs::separate(in, out, ctx.force(), opt, ctx.provenance(), ctx.progress());
    return rz::cli::stage_result(ctx, rep);
  });
}
