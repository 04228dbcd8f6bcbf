// Unit tests of rz::roformer::read_config: the shared MSST configs, the defaults of each family,
// and one refusal per class of bad config (each an rz::InputError of one line naming the key).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rz/error.hpp"
#include "rz/roformer/config.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using rz::roformer::Config;
using rz::roformer::Family;
using rz::roformer::read_config;

namespace {

// MSST's DEFAULT_FREQS_PER_BANDS: 2 x 24, 4 x 12, 12 x 8, 24 x 8, 48 x 8, 128, 129.
std::vector<int64_t> default_bands() {
  std::vector<int64_t> b;
  for (const auto& [count, width] : std::vector<std::pair<int, int64_t>>{
           {24, 2}, {12, 4}, {8, 12}, {8, 24}, {8, 48}, {1, 128}, {1, 129}}) {
    b.insert(b.end(), static_cast<size_t>(count), width);
  }
  return b;
}

// A small config assembled from its sections; tests change one part at a time.
struct Yaml {
  std::string audio = "audio:\n  chunk_size: 131584\n  sample_rate: 44100\n";
  std::string model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 8\n";
  std::string training = "training:\n  instruments: [vocals, other]\n  target_instrument: vocals\n";
  std::string inference = "inference:\n  batch_size: 1\n  num_overlap: 2\n";
  std::string text() const { return audio + model + training + inference; }
};

fs::path write(const rz::test::TempDir& dir, const std::string& text,
               const std::string& name = "config.yaml") {
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// The message of the rz::InputError that reading `text` throws, checked to be one line in the
// "bad model config '<path>': ..." form ("" when nothing is thrown).
std::string refusal(const std::string& text, std::optional<Family> family = {}) {
  const rz::test::TempDir dir;
  const fs::path p = write(dir, text);
  try {
    read_config(p, family);
  } catch (const rz::InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.rfind("bad model config '" + p.string() + "': ", 0) == 0);
    return msg;
  }
  return "";
}

#define CHECK_REFUSED(text, needle)                \
  do {                                             \
    const std::string msg_ = refusal(text);        \
    INFO(msg_);                                    \
    CHECK(msg_.find(needle) != std::string::npos); \
  } while (false)

}  // namespace

TEST_CASE("the shared RoFormer models' configs read as their architecture table says",
          "[roformer][config]") {
  const fs::path models = rz::test::require_shared("roformer/models");

  const Config bs = read_config(models / "tiny_bs.yaml");
  CHECK(bs.family == Family::kBandSplit);
  CHECK(bs.model.dim == 16);
  CHECK(bs.model.depth == 2);
  CHECK(bs.model.freqs_per_bands == default_bands());  // the public 62-band layout
  CHECK(bs.model.stft_n_fft == 2048);
  CHECK(bs.model.stft_hop_length == 441);
  CHECK(bs.model.stft_win_length == 2048);
  CHECK(bs.model.mask_estimator_depth == 2);
  CHECK(bs.model.mlp_expansion_factor == 2);
  CHECK_FALSE(bs.model.skip_connection);
  CHECK(bs.model.zero_dc);  // key absent
  CHECK(bs.model.heads == 2);
  CHECK(bs.model.dim_head == 64);
  CHECK(bs.model.time_transformer_depth == 1);
  CHECK(bs.model.freq_transformer_depth == 1);
  CHECK(bs.model.linear_transformer_depth == 0);
  CHECK(bs.model.num_stems == 2);
  CHECK(bs.model.stereo);
  CHECK(bs.channels == 2);
  CHECK(bs.sample_rate_hz == 44100);
  CHECK(bs.instruments == std::vector<std::string>{"vocals", "other"});
  CHECK(bs.target_instrument.empty());  // null
  CHECK(bs.model_stems() == std::vector<std::string>{"vocals", "other"});
  CHECK_FALSE(bs.use_amp);
  CHECK(bs.inference.chunk_size == 352800);  // from audio.chunk_size
  CHECK(bs.inference.num_overlap == 2);
  CHECK(bs.inference.batch_size == 4);
  CHECK_FALSE(bs.inference.normalize);

  const Config mel = read_config(models / "tiny_mel.yaml");
  CHECK(mel.family == Family::kMelBand);
  CHECK(mel.model.dim == 16);
  CHECK(mel.model.depth == 2);
  CHECK(mel.model.num_bands == 60);
  CHECK(mel.model.freqs_per_bands.empty());
  CHECK(mel.model.sample_rate_hz == 44100);
  CHECK(mel.model.stft_n_fft == 2048);
  CHECK(mel.model.stft_hop_length == 441);
  CHECK(mel.model.stft_win_length == 2048);
  CHECK(mel.model.mask_estimator_depth == 2);
  CHECK(mel.model.mlp_expansion_factor == 4);  // key absent
  CHECK_FALSE(mel.model.skip_connection);      // key absent
  CHECK(mel.model.zero_dc);                    // key absent
  CHECK_FALSE(mel.model.match_input_audio_length);
  CHECK(mel.model.num_stems == 1);
  CHECK(mel.instruments == std::vector<std::string>{"crowd", "other"});
  CHECK(mel.target_instrument == "crowd");
  CHECK(mel.model_stems() == std::vector<std::string>{"crowd"});
  CHECK(mel.inference.chunk_size == 352800);
  CHECK(mel.inference.num_overlap == 4);
  CHECK(mel.inference.batch_size == 2);

  const Config melx = read_config(models / "tiny_melx.yaml");
  CHECK(melx.family == Family::kMelBand);
  CHECK(melx.model.dim == 16);
  CHECK(melx.model.depth == 3);
  CHECK(melx.model.num_bands == 60);
  CHECK(melx.model.stft_n_fft == 4096);
  CHECK(melx.model.stft_hop_length == 882);
  CHECK(melx.model.stft_win_length == 4096);
  CHECK(melx.model.mask_estimator_depth == 1);
  CHECK(melx.model.mlp_expansion_factor == 1);
  CHECK(melx.model.skip_connection);
  CHECK_FALSE(melx.model.zero_dc);
  CHECK(melx.model.num_stems == 2);
  CHECK(melx.model_stems() == std::vector<std::string>{"vocals", "other"});
  CHECK(melx.inference.chunk_size == 352800);
  CHECK(melx.inference.num_overlap == 2);
  CHECK(melx.inference.batch_size == 1);
}

TEST_CASE("the shared reference cases' configs give their inference settings",
          "[roformer][config]") {
  const fs::path refs = rz::test::require_shared("roformer/refs");
  struct Case {
    const char* name;
    Family family;
    int64_t chunk, overlap, batch;
    bool normalize;
    std::vector<std::string> stems;
  };
  const std::vector<Case> cases = {
      {"tiny_bs_80srock", Family::kBandSplit, 352800, 2, 4, false, {"vocals", "other"}},
      {"tiny_bs_80srock2s_c1s_ov4_b3_norm",
       Family::kBandSplit,
       44100,
       4,
       3,
       true,
       {"vocals", "other"}},
      {"tiny_mel_80srock", Family::kMelBand, 352800, 4, 2, false, {"crowd"}},
      {"tiny_mel_80srock2s_c1s_ov2_b1", Family::kMelBand, 44100, 2, 1, false, {"crowd"}},
      {"tiny_melx_80srock", Family::kMelBand, 352800, 2, 1, false, {"vocals", "other"}},
      {"tiny_melx_80srock2s_c2s_ov3_b2_norm",
       Family::kMelBand,
       88200,
       3,
       2,
       true,
       {"vocals", "other"}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const fs::path path = refs / c.name / "config.yaml";
    // The model type is not in the file (cases.json has it): told from the keys, and given.
    for (const std::optional<Family> given : {std::optional<Family>{}, std::optional(c.family)}) {
      const Config cfg = read_config(path, given);
      CHECK(cfg.family == c.family);
      CHECK(cfg.inference.chunk_size == c.chunk);
      CHECK(cfg.inference.num_overlap == c.overlap);
      CHECK(cfg.inference.batch_size == c.batch);
      CHECK(cfg.inference.normalize == c.normalize);
      CHECK(cfg.model_stems() == c.stems);
      CHECK(cfg.sample_rate_hz == 44100);
      CHECK(cfg.channels == 2);
    }
  }
}

TEST_CASE("absent model keys take the defaults of their family", "[roformer][config]") {
  const rz::test::TempDir dir;
  Yaml mel;
  mel.model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 60\n";
  mel.inference = "";
  const Config m = read_config(write(dir, mel.text()));
  CHECK(m.family == Family::kMelBand);
  CHECK(m.model.mask_estimator_depth == 1);  // MelBandRoformer's default
  CHECK(m.model.num_bands == 60);
  CHECK(m.model.sample_rate_hz == 44100);
  CHECK(m.model.freqs_per_bands.empty());

  Yaml bs;
  bs.model = "model:\n  dim: 8\n  depth: 1\n  freqs_per_bands: [1024, 1]\n";
  const Config b = read_config(write(dir, bs.text()));
  CHECK(b.family == Family::kBandSplit);
  CHECK(b.model.mask_estimator_depth == 2);                         // BSRoformer's default
  CHECK(b.model.freqs_per_bands == std::vector<int64_t>{1024, 1});  // a plain list is read too

  // BS with no band keys at all (the type given): the 62-band default.
  Yaml bare;
  bare.model = "model:\n  dim: 8\n  depth: 1\n";
  const Config d = read_config(write(dir, bare.text()), Family::kBandSplit);
  CHECK(d.model.freqs_per_bands == default_bands());
  CHECK(std::accumulate(d.model.freqs_per_bands.begin(), d.model.freqs_per_bands.end(),
                        int64_t{0}) == 1025);

  for (const Config* c : {&m, &b, &d}) {
    CHECK(c->model.time_transformer_depth == 2);
    CHECK(c->model.freq_transformer_depth == 2);
    CHECK(c->model.linear_transformer_depth == 0);
    CHECK(c->model.heads == 8);
    CHECK(c->model.dim_head == 64);
    CHECK(c->model.stft_n_fft == 2048);
    CHECK(c->model.stft_hop_length == 512);
    CHECK(c->model.stft_win_length == 2048);
    CHECK_FALSE(c->model.stft_normalized);
    CHECK(c->model.zero_dc);
    CHECK(c->model.mlp_expansion_factor == 4);
    CHECK_FALSE(c->model.skip_connection);
    CHECK(c->model.num_stems == 1);
    CHECK_FALSE(c->model.stereo);
    CHECK(c->channels == 1);
    CHECK(c->sample_rate_hz == 44100);
    CHECK(c->use_amp);
    CHECK(c->inference.chunk_size == 131584);  // audio.chunk_size
    CHECK_FALSE(c->inference.normalize);
  }
  CHECK(m.inference.num_overlap == 2);  // no inference section
  CHECK(m.inference.batch_size == 1);
}

TEST_CASE("the model type is told from the keys, or given", "[roformer][config]") {
  Yaml y;
  y.model = "model:\n  dim: 8\n  depth: 1\n";
  CHECK(refusal(y.text()).find("--model-type") != std::string::npos);
  y.model = "model:\n  dim: 8\n  depth: 1\n  sample_rate: 44100\n";
  CHECK(refusal(y.text()).empty());  // sample_rate alone says Mel
  y.model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 8\n  freqs_per_bands: [1024, 1]\n";
  CHECK(refusal(y.text()).find("model.num_bands") != std::string::npos);
  // A key of the other family is not an argument of the class given.
  Yaml mel;
  const std::string msg = refusal(mel.text(), Family::kBandSplit);
  CHECK(msg.find("model.num_bands") != std::string::npos);
  CHECK(msg.find("BSRoformer") != std::string::npos);
  CHECK(rz::roformer::parse_family("bs_roformer") == Family::kBandSplit);
  CHECK(rz::roformer::parse_family("mel_band_roformer") == Family::kMelBand);
  CHECK_FALSE(rz::roformer::parse_family("htdemucs"));
  CHECK(std::string(rz::roformer::family_name(Family::kMelBand)) == "mel_band_roformer");
}

TEST_CASE("accepted forms: tuple tag, ignored keys and sections, YAML 1.1 scalars",
          "[roformer][config]") {
  Yaml y;
  y.model =
      "model:\n  dim: 8\n  depth: 1\n  num_bands: 8\n  stereo: yes\n  flash_attn: True\n"
      "  attn_dropout: 0.1\n  multi_stft_resolutions_window_sizes: !!python/tuple\n  - 4096\n"
      "  - 2048\n  dim_freqs_in: 1025\n  stft_window_fn: null\n  use_pope: false\n"
      "  heads: 0x4\n  dim_head: 3_2\n";
  y.audio += "  dim_f: 1024\n  num_channels: 2\n";
  y.inference += "  dim_t: 256\n  normalize: on\n";
  const rz::test::TempDir dir;
  const Config c = read_config(write(dir, y.text() + "lora:\n  r: 8\n"));
  CHECK(c.model.stereo);
  CHECK(c.model.heads == 4);
  CHECK(c.model.dim_head == 32);
  CHECK(c.inference.normalize);
}

TEST_CASE("every class of bad config is refused naming the key", "[roformer][config]") {
  const Yaml ok;
  REQUIRE(refusal(ok.text()).empty());
  auto model_with = [&](const std::string& lines) {
    Yaml y;
    y.model += lines;
    return y.text();
  };

  SECTION("model keys the constructor does not take or this port does not run") {
    CHECK_REFUSED(model_with("  foo_bar: 1\n"), "model.foo_bar");
    CHECK_REFUSED(model_with("  sage_attention: true\n"), "model.sage_attention");
    CHECK_REFUSED(model_with("  linear_transformer_depth: 1\n"), "model.linear_transformer_depth");
    CHECK_REFUSED(model_with("  use_pope: true\n"), "model.use_pope");
    CHECK_REFUSED(model_with("  stft_window_fn: hann\n"), "model.stft_window_fn");
  }
  SECTION("Python object tags") {
    CHECK_REFUSED(model_with("  dim_freqs_in: !!python/object:builtins.int {}\n"),
                  "model.dim_freqs_in");
    CHECK_REFUSED(model_with("  dim_freqs_in: !!python/object:builtins.int {}\n"),
                  "!!python/object");
    CHECK_REFUSED(model_with("  flash_attn: !!python/name:os.system ''\n"), "model.flash_attn");
    CHECK_REFUSED(model_with("  flash_attn: !custom 1\n"), "model.flash_attn");
  }
  SECTION("wrong types and ranges") {
    Yaml y;
    y.model = "model:\n  dim: '8'\n  depth: 1\n  num_bands: 8\n";
    CHECK_REFUSED(y.text(), "model.dim");
    y.model = "model:\n  dim: 8.0\n  depth: 1\n  num_bands: 8\n";
    CHECK_REFUSED(y.text(), "model.dim");
    y.model = "model:\n  dim: 0\n  depth: 1\n  num_bands: 8\n";
    CHECK_REFUSED(y.text(), "model.dim");
    y.model = "model:\n  depth: 1\n  num_bands: 8\n";
    CHECK_REFUSED(y.text(), "model.dim");
    CHECK_REFUSED(model_with("  stereo: 1\n"), "model.stereo");
    CHECK_REFUSED(model_with("  heads: [8]\n"), "model.heads");
    CHECK_REFUSED(model_with("  dim_head: 33\n"), "model.dim_head");
    CHECK_REFUSED(model_with("  stft_win_length: 4096\n"), "model.stft_win_length");
    y.model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 1\n";
    CHECK_REFUSED(y.text(), "model.num_bands");
    y.model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 1000\n";  // empty mel bands
    CHECK_REFUSED(y.text(), "model.num_bands");
    CHECK_REFUSED(model_with("  stft_hop_length: 441\n"), "audio.chunk_size");  // Mel: not hops
    y = Yaml{};
    y.model = "model:\n  dim: 8\n  depth: 1\n  freqs_per_bands: !!python/tuple [1000, 24]\n";
    CHECK_REFUSED(y.text(), "model.freqs_per_bands");
    y.model = "model:\n  dim: 8\n  depth: 1\n  freqs_per_bands: [1025]\n";
    CHECK_REFUSED(y.text(), "model.freqs_per_bands");
    y.model = "model:\n  dim: 8\n  depth: 1\n  freqs_per_bands: [1024, 0, 1]\n";
    CHECK_REFUSED(y.text(), "model.freqs_per_bands[1]");
    y.model = "model:\n  dim: 8\n  depth: 1\n  freqs_per_bands: [1024, 1]\n  stft_n_fft: 4096\n";
    CHECK_REFUSED(y.text(), "model.freqs_per_bands");
    y.model = "model:\n  dim: 8\n  depth: 1\n  num_bands: 8\n  dim: 9\n";
    CHECK_REFUSED(y.text(), "model.dim: given twice");
  }
  SECTION("inference and audio") {
    Yaml y;
    y.inference += "  foo: 1\n";
    CHECK_REFUSED(y.text(), "inference.foo");
    y = Yaml{};
    y.inference += "  batch_size: 1\n";  // twice
    CHECK_REFUSED(y.text(), "inference.batch_size");
    y = Yaml{};
    y.inference += "  normalize: 1\n";
    CHECK_REFUSED(y.text(), "inference.normalize");
    y = Yaml{};
    y.inference += "  chunk_size: 1\n  num_overlap: 4\n";
    CHECK_REFUSED(y.text(), "inference.num_overlap");
    y = Yaml{};
    y.inference = "inference: [1, 2]\n";
    CHECK_REFUSED(y.text(), "inference");
    y = Yaml{};
    y.audio = "audio:\n  sample_rate: 44100\n";
    y.inference = "";
    CHECK_REFUSED(y.text(), "chunk_size");
    y.audio = "audio:\n  sample_rate: 100\n  chunk_size: 131584\n";
    CHECK_REFUSED(y.text(), "audio.sample_rate");
  }
  SECTION("not an MSST config") {
    CHECK_REFUSED("- model\n- dim\n", "list");
    CHECK_REFUSED("just a scalar\n", "scalar");
    CHECK_REFUSED("", "empty");
    CHECK_REFUSED("audio:\n  chunk_size: 1\n", "no 'model:' section");
    CHECK_REFUSED("model: 1\n", "model");
    CHECK_REFUSED("model:\n  dim: [8\n", "not YAML");
    CHECK_REFUSED(ok.text() + "---\n" + ok.text(), "YAML documents");
    // Aliases nested 9 deep, 10 each: 10^9 nodes from a few hundred bytes.
    std::string bomb = ok.text() + "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
    for (int i = 1; i < 9; ++i) {
      const std::string prev = "*a" + std::to_string(i - 1);
      bomb += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
      for (int k = 1; k < 10; ++k) bomb += ", " + prev;
      bomb += "]\n";
    }
    CHECK_REFUSED(bomb, "YAML nodes");
  }
  SECTION("stems") {
    Yaml y;
    y.training = "training:\n  instruments: [vocals, other]\n  target_instrument: drums\n";
    CHECK_REFUSED(y.text(), "training.target_instrument");
    y.training = "training:\n  instruments: [vocals, other]\n";  // 2 names, num_stems 1
    CHECK_REFUSED(y.text(), "model.num_stems");
    y.training = "training:\n  instruments: [vocals, other]\n";
    y.model += "  num_stems: 2\n";
    CHECK(refusal(y.text()).empty());
    y = Yaml{};
    y.model += "  num_stems: 2\n";  // target set: one stem
    CHECK_REFUSED(y.text(), "model.num_stems");
    y.training = "training:\n  lr: 1.0\n";
    CHECK_REFUSED(y.text(), "training.instruments");
    y.training = "training:\n  instruments: [vocals, vocals]\n";
    CHECK_REFUSED(y.text(), "training.instruments");
    y.training = "training:\n  instruments: [vocals, ../x]\n";
    CHECK_REFUSED(y.text(), "training.instruments");
    y.training = "training:\n  instruments: [vocals, 5]\n  target_instrument: vocals\n";
    CHECK_REFUSED(y.text(), "training.instruments[1]");
  }
}

TEST_CASE("a missing or unreadable config file is refused naming it", "[roformer][config]") {
  const rz::test::TempDir dir;
  for (const fs::path& p : {dir / "absent.yaml", dir.path()}) {
    try {
      read_config(p);
      FAIL("no error for " << p);
    } catch (const rz::InputError& e) {
      const std::string msg = e.what();
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find("bad model config '" + p.string() + "'") != std::string::npos);
    }
  }
}
