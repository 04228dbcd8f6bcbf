// rz-make-roformer: writes a RoFormer checkpoint with random weights for the architecture of an
// MSST config, so that the benchmarks can time full-size models whose trained weights cannot be
// downloaded here (bench/roformer.sh). Speed does not depend on the weights.
//
// Usage: rz-make-roformer CONFIG.yaml OUT.ckpt [SEED]
// Writes OUT.ckpt (torch::pickle_save of the state dict: a torch.save zip that torch.load and
// rz-separate read) and prints one JSON line on stdout: the parameter count and the work of one
// model call on one chunk, in GFLOP (matrix products and attention; elementwise work left out).
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "rz/roformer/config.hpp"
#include "rz/roformer/model.hpp"

namespace {

// Multiply-adds of one forward on one chunk: every Linear once per token it sees, and the two
// attention products per sequence and head.
double gflop_per_chunk(const rz::roformer::Config& c, rz::roformer::Roformer& model) {
  const auto& m = c.model;
  const double frames = 1.0 + static_cast<double>(c.inference.chunk_size / m.stft_hop_length);
  double bands = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().rfind("band_split.to_features.", 0) == 0 &&
        p.key().find(".1.weight") != std::string::npos)
      bands += 1;
  double flop = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.value().dim() == 2) flop += 2.0 * static_cast<double>(p.value().numel());
  }
  // Every 2-D weight sees one token per (frame, band) (the per-band Linears one per frame, and
  // there are `bands` of them but each sees only its band: divide those back).
  double per_band = 0;
  for (const auto& p : model->named_parameters())
    if (p.value().dim() == 2 &&
        (p.key().rfind("band_split.", 0) == 0 || p.key().rfind("mask_estimators.", 0) == 0))
      per_band += 2.0 * static_cast<double>(p.value().numel());
  flop = (flop - per_band) * frames * bands + per_band * frames;
  const double d = static_cast<double>(m.dim_head), h = static_cast<double>(m.heads);
  const double attn_time = 4.0 * frames * frames * d * h * bands;  // q k^T and attn v
  const double attn_freq = 4.0 * bands * bands * d * h * frames;
  flop +=
      static_cast<double>(m.depth) * (static_cast<double>(m.time_transformer_depth) * attn_time +
                                      static_cast<double>(m.freq_transformer_depth) * attn_freq);
  return flop / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: rz-make-roformer CONFIG.yaml OUT.ckpt [SEED]\n");
    return 2;
  }
  try {
    const auto config = rz::roformer::read_config(argv[1]);
    torch::manual_seed(argc == 4 ? std::stoull(argv[3]) : 0);
    rz::roformer::Roformer model(config);
    c10::Dict<std::string, at::Tensor> state;
    int64_t params = 0;
    for (const auto& p : model->named_parameters()) {
      state.insert(p.key(), p.value().detach().contiguous());
      params += p.value().numel();
    }
    const std::vector<char> bytes = torch::pickle_save(state);
    std::ofstream out(argv[2], std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::fprintf(stderr, "rz-make-roformer: error: cannot write '%s'\n", argv[2]);
      return 1;
    }
    std::printf("{\"parameters\": %lld, \"gflop_per_chunk\": %.1f}\n",
                static_cast<long long>(params), gflop_per_chunk(config, model));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rz-make-roformer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
