// BS-RoFormer and Mel-Band RoFormer against the official MSST code: every case of
// ../shared/roformer/cases.json run through rz::roformer (checkpoint and config loaded as
// published, the official inference around demix streamed) and compared stem by stem with the
// reference outputs; and one direct forward compared layer by layer with the recorded activations.
#include <torch/torch.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "npy.hpp"
#include "rz/error.hpp"
#include "rz/roformer/checkpoint.hpp"
#include "rz/roformer/config.hpp"
#include "rz/roformer/demix.hpp"
#include "rz/roformer/model.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The fixtures' suggested bars for a float32 CPU port (../shared/roformer/README.md, "How to
// compare"): the official code's own noise floor is 132-138 dB (threads, attention op order) and
// a float64 FFT costs 93-96 dB, while a wrong layer lands far below 60 dB. The max-difference
// bound catches demix bookkeeping: fades chosen per chunk instead of per batch still reach 63 dB
// but move samples by 4e-3 to 1e-2; round-off moved them by at most 6e-6.
constexpr double kParitySnrDb = 60.0;
constexpr double kParityMaxAbs = 1e-4;
// Layer by layer on the noise-filled activation input: round-off (a float64 FFT) kept every
// tensor at >= 106 dB; a layout mistake moves every frame.
constexpr double kActivationSnrDb = 60.0;
// The thread count the references were made with; results do not depend on it beyond round-off.
constexpr int kThreads = 2;

fs::path shared_path(const std::string& cases_path) {
  const std::string prefix = "shared/";
  REQUIRE(cases_path.rfind(prefix, 0) == 0);
  return rz::test::require_shared(cases_path.substr(prefix.size()));
}

double snr_db(const float* cand, const float* ref, size_t n, double* max_abs) {
  double signal = 0, noise = 0;
  *max_abs = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = ref[i], d = static_cast<double>(cand[i]) - r;
    signal += r * r;
    noise += d * d;
    *max_abs = std::max(*max_abs, std::fabs(d));
  }
  return noise == 0 ? HUGE_VAL : 10 * std::log10(signal / noise);
}

// Runs case `c` through the library and compares every stem with its reference.
void check_case(const json& c) {
  torch::set_num_threads(kThreads);
  const auto family = rz::roformer::parse_family(c.at("model_type").get<std::string>());
  REQUIRE(family);
  const rz::roformer::Config config =
      rz::roformer::read_config(shared_path(c.at("config_yaml")), family);
  const fs::path ckpt = shared_path(c.at("model_files").at(0).at("path"));
  const rz::roformer::Checkpoint ck = rz::roformer::read_checkpoint(ckpt);
  CHECK(ck.sha256 == c.at("model_files").at(0).at("sha256").get<std::string>());
  auto model = rz::roformer::load_roformer(config, ck.state, ckpt.string(), torch::kCPU);
  CHECK(config.inference.chunk_size == c.at("chunk_size").get<int64_t>());
  CHECK(config.inference.num_overlap == c.at("num_overlap").get<int64_t>());
  CHECK(config.inference.batch_size == c.at("batch_size").get<int64_t>());
  CHECK(config.inference.normalize == c.at("normalize").get<bool>());

  int rate = 0, channels = 0;
  std::vector<float> input = rz::test::read_all(shared_path(c.at("input")), &rate, &channels);
  REQUIRE(channels == 2);
  int64_t frames = static_cast<int64_t>(input.size()) / channels;
  if (!c.at("input_frames").is_null()) {
    const int64_t a = c.at("input_frames").at(0), b = c.at("input_frames").at(1);
    input = std::vector<float>(input.begin() + a * channels, input.begin() + b * channels);
    frames = b - a;
  }
  auto read = [&](int64_t start, int64_t n, float* planar) {
    if (start < 0 || start + n > frames) FAIL("demix read outside the input");
    for (int64_t t = 0; t < n; ++t)
      for (int ch = 0; ch < channels; ++ch)
        planar[ch * n + t] = input[static_cast<size_t>((start + t) * channels + ch)];
  };
  rz::roformer::InputStats stats;
  if (config.inference.normalize) {
    std::vector<float> planar(static_cast<size_t>(frames * channels));
    read(0, frames, planar.data());
    stats.add(planar.data(), frames, channels);
  }
  const std::vector<std::string> stems = rz::roformer::output_stems(config);
  REQUIRE(stems == c.at("stems").get<std::vector<std::string>>());
  const size_t S = stems.size();
  std::vector<std::vector<float>> out(S);  // interleaved per stem
  int64_t written = 0;
  auto sink = [&](const float* planar, int64_t n, int64_t stride) {
    for (size_t s = 0; s < S; ++s)
      for (int64_t t = 0; t < n; ++t)
        for (int ch = 0; ch < channels; ++ch)
          out[s].push_back(planar[(static_cast<int64_t>(s) * channels + ch) * stride + t]);
    written += n;
  };
  const auto plan = rz::roformer::infer_streaming(
      model, frames, config.inference.normalize ? &stats : nullptr, read, sink);
  CHECK(plan.chunks == c.at("n_chunks").get<int64_t>());
  CHECK(plan.padded == c.at("border_reflect_padding").get<bool>());
  REQUIRE(written == c.at("output_frames").get<int64_t>());

  const fs::path refs = shared_path(c.at("reference_dir"));
  for (size_t s = 0; s < S; ++s) {
    int rr = 0, rc = 0;
    const std::vector<float> ref = rz::test::read_all(refs / (stems[s] + ".wav"), &rr, &rc);
    REQUIRE(ref.size() == out[s].size());
    CHECK(std::all_of(out[s].begin(), out[s].end(), [](float v) { return std::isfinite(v); }));
    double max_abs = 0;
    const double snr = snr_db(out[s].data(), ref.data(), ref.size(), &max_abs);
    INFO(c.at("id").get<std::string>()
         << " stem " << stems[s] << ": " << snr << " dB, max |d| " << max_abs);
    CHECK(snr >= kParitySnrDb);
    CHECK(max_abs <= kParityMaxAbs);
  }
}

json find_case(const std::string& id) {
  const json cases =
      rz::cli_test::read_json(rz::test::require_shared("roformer/cases.json")).at("cases");
  for (const auto& c : cases)
    if (c.at("id") == id) return c;
  FAIL("no case '" << id << "' in cases.json");
  return {};
}

}  // namespace

// One test per case, so that the sanitizer job can leave out the whole-input ones (minutes of
// libtorch arithmetic under ASan, through the same code as the 2 s cases).
constexpr const char* kCases[] = {"tiny_bs_80srock",   "tiny_bs_80srock2s_c1s_ov4_b3_norm",
                                  "tiny_mel_80srock",  "tiny_mel_80srock2s_c1s_ov2_b1",
                                  "tiny_melx_80srock", "tiny_melx_80srock2s_c2s_ov3_b2_norm"};

TEST_CASE("RoFormer parity: every case of cases.json has a test here", "[roformer]") {
  const json cases =
      rz::cli_test::read_json(rz::test::require_shared("roformer/cases.json")).at("cases");
  std::vector<std::string> ids;
  for (const auto& c : cases) ids.push_back(c.at("id").get<std::string>());
  CHECK(ids == std::vector<std::string>(std::begin(kCases), std::end(kCases)));
}

TEST_CASE("RoFormer parity: tiny_bs_80srock", "[roformer]") { check_case(find_case(kCases[0])); }
TEST_CASE("RoFormer parity: tiny_bs_80srock2s_c1s_ov4_b3_norm", "[roformer]") {
  check_case(find_case(kCases[1]));
}
TEST_CASE("RoFormer parity: tiny_mel_80srock", "[roformer]") { check_case(find_case(kCases[2])); }
TEST_CASE("RoFormer parity: tiny_mel_80srock2s_c1s_ov2_b1", "[roformer]") {
  check_case(find_case(kCases[3]));
}
TEST_CASE("RoFormer parity: tiny_melx_80srock", "[roformer]") { check_case(find_case(kCases[4])); }
TEST_CASE("RoFormer parity: tiny_melx_80srock2s_c2s_ov3_b2_norm", "[roformer]") {
  check_case(find_case(kCases[5]));
}

TEST_CASE("RoFormer parity: TINY-MEL layer by layer against the recorded activations",
          "[roformer]") {
  torch::set_num_threads(kThreads);
  const fs::path dir =
      rz::test::require_shared("roformer/activations/tiny_mel_80srock_0.5s_noise-40dB");
  const fs::path ckpt = rz::test::require_shared("roformer/models/tiny_mel.ckpt");
  const auto config = rz::roformer::read_config(ckpt.parent_path() / "tiny_mel.yaml",
                                                rz::roformer::Family::kMelBand);
  auto model = rz::roformer::load_roformer(config, rz::roformer::read_checkpoint(ckpt).state,
                                           ckpt.string(), torch::kCPU);
  const auto in = rz::test::read_npy(dir / "model.in.npy");
  auto x = torch::from_blob(const_cast<float*>(in.data.data()), in.shape, torch::kFloat).clone();
  std::map<std::string, torch::Tensor> got;
  torch::NoGradGuard no_grad;
  model->forward(
      x, [&](const std::string& name, const torch::Tensor& t) { got[name] = t.detach().clone(); });
  const json index = rz::cli_test::read_json(dir / "index.json");
  int compared = 0;
  for (const auto& t : index.at("tensors")) {
    const std::string name = t.at("name");
    if (name == "model.in") continue;
    INFO(name);
    REQUIRE(got.count(name));
    torch::Tensor mine = got[name].contiguous();
    const auto full = t.at("full_shape").get<std::vector<int64_t>>();
    mine = mine.reshape(full);  // model.out: the kept stem axis of one stem is squeezed there
    if (!t.at("crop").is_null())
      mine = mine.narrow(t.at("crop").at("axis").get<int64_t>(), 0,
                         t.at("crop").at("kept").get<int64_t>());
    mine = mine.contiguous();
    const auto ref = rz::test::read_npy(dir / t.at("file").get<std::string>());
    REQUIRE(static_cast<size_t>(mine.numel()) == ref.data.size());
    double max_abs = 0;
    const double snr = snr_db(mine.data_ptr<float>(), ref.data.data(), ref.data.size(), &max_abs);
    INFO(snr << " dB");
    CHECK(snr >= kActivationSnrDb);
    ++compared;
  }
  CHECK(compared >= 12);
}

TEST_CASE("RoFormer checkpoints: a checkpoint that does not match its config is refused by name",
          "[roformer]") {
  const fs::path bs = rz::test::require_shared("roformer/models/tiny_bs.ckpt");
  const fs::path mel = rz::test::require_shared("roformer/models/tiny_mel.ckpt");
  const auto mel_config = rz::roformer::read_config(mel.parent_path() / "tiny_mel.yaml",
                                                    rz::roformer::Family::kMelBand);
  const auto bs_state = rz::roformer::read_checkpoint(bs).state;
  // The BS checkpoint into the Mel model: its first tensor the Mel model does not have.
  const std::string wrong = rz::test::input_error(
      [&] { rz::roformer::load_roformer(mel_config, bs_state, bs.string(), torch::kCPU); });
  CHECK(wrong.find("bad checkpoint") != std::string::npos);
  CHECK(wrong.find('\n') == std::string::npos);
  auto state = rz::roformer::read_checkpoint(mel).state;
  const std::string dropped = state.back().first;
  state.pop_back();
  const std::string missing = rz::test::input_error(
      [&] { rz::roformer::load_roformer(mel_config, state, mel.string(), torch::kCPU); });
  CHECK(missing.find("missing tensor '" + dropped + "'") != std::string::npos);
  state = rz::roformer::read_checkpoint(mel).state;
  state.front().second.shape.push_back(1);
  const std::string shaped = rz::test::input_error(
      [&] { rz::roformer::load_roformer(mel_config, state, mel.string(), torch::kCPU); });
  CHECK(shaped.find("'" + state.front().first + "' has shape") != std::string::npos);
  state = rz::roformer::read_checkpoint(mel).state;
  state.push_back({"extra.weight", state.front().second});
  const std::string extra = rz::test::input_error(
      [&] { rz::roformer::load_roformer(mel_config, state, mel.string(), torch::kCPU); });
  CHECK(extra.find("unexpected tensor 'extra.weight'") != std::string::npos);
}

TEST_CASE("RoFormer checkpoints: a truncated or foreign file is refused in one line",
          "[roformer]") {
  const fs::path mel = rz::test::require_shared("roformer/models/tiny_mel.ckpt");
  rz::test::TempDir tmp;
  std::ifstream in(mel, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const size_t keep : {size_t{0}, size_t{100}, bytes.size() / 2, bytes.size() - 10}) {
    const fs::path cut = tmp / ("cut" + std::to_string(keep) + ".ckpt");
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
    const std::string msg = rz::test::input_error([&] { rz::roformer::read_checkpoint(cut); });
    INFO("kept " << keep << " bytes: " << msg);
    CHECK(msg.find("bad checkpoint") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  // A demucs checkpoint is a dict of klass/args/kwargs/state: 'state' holds the tensors, so it
  // reads as a state dict; it fails against a RoFormer config by name.
  const fs::path th = rz::test::require_shared("demucs/models/tiny4000-0421bf8f.th");
  const auto config = rz::roformer::read_config(mel.parent_path() / "tiny_mel.yaml",
                                                rz::roformer::Family::kMelBand);
  const std::string msg = rz::test::input_error([&] {
    rz::roformer::load_roformer(config, rz::roformer::read_checkpoint(th).state, th.string(),
                                torch::kCPU);
  });
  CHECK(msg.find("bad checkpoint") != std::string::npos);
}

namespace {

// Runs a tool that must succeed; fails the test with its output otherwise.
rz::cli_test::RunResult run_ok(const std::string& tool, const std::vector<std::string>& args) {
  rz::cli_test::RunResult r = rz::cli_test::run(tool, args);
  INFO(tool << " failed\n" << r.describe());
  REQUIRE(r.exit_code == 0);
  return r;
}

json stem_of(const fs::path& dir, const std::string& name) {
  const json m = rz::cli_test::read_json(dir / "manifest.json");
  for (const auto& s : m.at("stems"))
    if (s.at("name") == name) return s;
  FAIL("no stem '" << name << "' in " << dir);
  return {};
}

std::vector<std::string> stem_names(const fs::path& dir) {
  const json m = rz::cli_test::read_json(dir / "manifest.json");
  std::vector<std::string> names;
  for (const auto& s : m.at("stems")) names.push_back(s.at("name").get<std::string>());
  return names;
}

}  // namespace

TEST_CASE("rz-separate: the crowd chain runs with the shared tiny checkpoints", "[roformer]") {
  const fs::path shared = rz::test::require_shared("roformer/models/tiny_mel.ckpt").parent_path();
  const json c = find_case("tiny_mel_80srock2s_c1s_ov2_b1");
  const fs::path refs = rz::test::require_shared("roformer/refs/tiny_mel_80srock2s_c1s_ov2_b1");
  rz::test::TempDir tmp;
  // TINY-MEL stands in for the crowd model and TINY-BS for the instrument model, by name.
  const fs::path models = tmp / "models";
  fs::create_directories(models);
  fs::copy_file(shared / "tiny_mel.ckpt", models / "crowd.ckpt");
  fs::copy_file(shared / "tiny_mel.yaml", models / "crowd.yaml");
  // The case's input: the first 2 s of in_80srock, as float32.
  int rate = 0, channels = 0;
  std::vector<float> input = rz::test::read_all(
      rz::test::require_shared("demucs/inputs/in_80srock.wav"), &rate, &channels);
  const int64_t frames = c.at("input_frames").at(1).get<int64_t>();
  input.resize(static_cast<size_t>(frames * channels));
  rz::test::write_wav(tmp / "in.wav", input, rate, channels);
  const fs::path song = tmp / "song";
  run_ok("rz-ingest", {(tmp / "in.wav").string(), "-o", song.string()});

  // The crowd model by name, with the case's inference settings given as options (chunk 1 s,
  // num_overlap 2, batch 1; the YAML says 8 s, 4 and 2): the binary gives the official stems.
  const fs::path crowd = tmp / "song.crowd";
  const auto r1 =
      run_ok("rz-separate", {song.string(), "--model", "crowd", "--model-dir", models.string(),
                             "--segment", "1", "--overlap", "0.5", "--batch-size", "1", "--threads",
                             "2", "--no-cache", "-o", crowd.string()});
  CHECK(r1.out == crowd.string() + "\n");
  CHECK(stem_names(crowd) == std::vector<std::string>{"crowd", "instrumental"});
  CHECK(stem_of(crowd, "crowd").value("role", "") == "removed");
  CHECK(stem_of(crowd, "instrumental").value("role", "") == "");
  for (const std::string name : {"crowd", "instrumental"}) {
    const auto got = rz::test::read_all(crowd / (name + ".wav"));
    const auto ref = rz::test::read_all(refs / (name + ".wav"));
    REQUIRE(got.size() == ref.size());
    double max_abs = 0;
    const double snr = snr_db(got.data(), ref.data(), ref.size(), &max_abs);
    INFO(name << ": " << snr << " dB, max |d| " << max_abs);
    CHECK(snr >= kParitySnrDb);
    CHECK(max_abs <= kParityMaxAbs);
  }

  // The music of the crowd model separated by a .ckpt path: the crowd is carried through.
  const fs::path sep = tmp / "song.sep";
  run_ok("rz-separate",
         {crowd.string(), "--stem", "instrumental", "--model", (shared / "tiny_bs.ckpt").string(),
          "--threads", "2", "--no-cache", "-o", sep.string()});
  CHECK(stem_names(sep) == std::vector<std::string>{"vocals", "other", "crowd"});
  CHECK(stem_of(sep, "crowd").at("sha256") == stem_of(crowd, "crowd").at("sha256"));
  CHECK(stem_of(sep, "crowd").value("role", "") == "removed");

  // --two-stems works for a RoFormer as for HTDemucs.
  const fs::path two = tmp / "song.two";
  run_ok("rz-separate",
         {crowd.string(), "--stem", "instrumental", "--model", (shared / "tiny_bs.ckpt").string(),
          "--two-stems", "vocals", "--threads", "2", "-o", two.string()});
  CHECK(stem_names(two) == std::vector<std::string>{"vocals", "no_vocals", "crowd"});

  // The rest of the chain: the master leaves the crowd out and says so.
  const fs::path enh = tmp / "song.enh", mix = tmp / "song.mix", flac = tmp / "song.flac";
  run_ok("rz-enhance", {sep.string(), "-o", enh.string()});
  CHECK(stem_of(enh, "crowd").at("sha256") == stem_of(sep, "crowd").at("sha256"));
  const auto rm = run_ok("rz-mix", {enh.string(), "-o", mix.string()});
  CHECK(rm.err.find("crowd") != std::string::npos);
  run_ok("rz-master", {mix.string(), "-o", flac.string()});
  CHECK(fs::is_regular_file(flac));
}

TEST_CASE("rz-separate: a RoFormer config it cannot run fails in one line and writes nothing",
          "[roformer]") {
  const fs::path shared = rz::test::require_shared("roformer/models/tiny_mel.ckpt").parent_path();
  rz::test::TempDir tmp;
  const fs::path song = tmp / "song";
  run_ok("rz-ingest",
         {rz::test::require_shared("demucs/inputs/in_80srock.wav").string(), "-o", song.string()});
  std::ifstream in(shared / "tiny_mel.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = "  depth: 2\n";
  REQUIRE(yaml.find(key) != std::string::npos);
  struct Bad {
    std::string what, yaml, expect;
  };
  const std::vector<Bad> cases = {
      {"unsupported key",
       std::string(yaml).replace(yaml.find(key), key.size(), key + "  sage_attention: true\n"),
       "sage_attention"},
      {"wrong checkpoint", std::string(yaml).replace(yaml.find(key), key.size(), "  depth: 3\n"),
       "missing tensor"},
      {"not a config", "- 1\n- 2\n", "bad model config"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const fs::path cfg = tmp / "bad.yaml";
    std::ofstream(cfg) << c.yaml;
    const fs::path out = tmp / "out";
    const auto r = rz::cli_test::run(
        "rz-separate", {song.string(), "--model", (shared / "tiny_mel.ckpt").string(),
                        "--model-config", cfg.string(), "--no-cache", "-o", out.string()});
    INFO(r.describe());
    CHECK(r.exit_code == 1);
    CHECK(r.err_lines().size() == 1);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(!fs::exists(out));
  }
  // Options a RoFormer cannot take are usage errors.
  const auto r = rz::cli_test::run(
      "rz-separate", {song.string(), "--model", (shared / "tiny_mel.ckpt").string(), "--shifts",
                      "1", "-o", (tmp / "out").string()});
  CHECK(r.exit_code == 2);
  const auto r2 = rz::cli_test::run(
      "rz-separate", {song.string(), "--model", (shared / "tiny_mel.ckpt").string(), "--overlap",
                      "0.6", "-o", (tmp / "out").string()});
  CHECK(r2.exit_code == 2);
}
