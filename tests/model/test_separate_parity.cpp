// rz-separate against the official demucs: every case of ../shared/demucs/cases.json run through
// the binary and compared stem by stem with the reference outputs, and the --shifts plan that
// Python's random.seed draws. And rz-separate on CUDA against itself on the CPU (ctest label gpu:
// a visible skip without a CUDA device).
#include <torch/cuda.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/sha256.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::read_json;
using rz::cli_test::RunResult;

// Suggested pass bar of the fixtures' README for a float32 CPU port: the official code's own noise
// floor (1 vs 2 threads) is 110-124 dB, and anything under ~60 dB is a real bug (a wrong layer, a
// mis-handled chunk edge, the normalisation, weights not widened from fp16).
constexpr double kParitySnrDb = 60.0;
// CUDA against the CPU: cuDNN's convolution algorithms and TF32 matrix products round differently
// from float32 on the CPU, so the stems differ by far more than the CPU's thread-count noise; the
// official demucs' own CUDA output against its CPU output measured 43-47 dB (issue 12). A wrong
// layer or a device-specific bug (a tensor left on the wrong device, a stale stream) lands far
// lower.
constexpr double kCudaCpuSnrDb = 40.0;
// What Python's random.seed(0); random.randint(0, 22050) returns: the one shift offset that
// demucs.apply.apply_model draws for --shifts 1 with a 0.5 s max shift at 44.1 kHz.
constexpr int64_t kSeed0ShiftOffset = 12623;
constexpr const char* kTiny4 = "demucs/models/tiny4000-0421bf8f.th";
constexpr const char* kInput = "demucs/inputs/in_80srock.wav";
// The thread count the references were made with (cases.json "threads"); parity does not depend
// on it, but the run time does.
constexpr const char* kThreads = "2";

// A path of cases.json ("shared/demucs/...", relative to the folder that contains shared/) in
// this checkout's shared directory; skips visibly when it is absent.
fs::path shared_path(const std::string& cases_path) {
  const std::string prefix = "shared/";
  REQUIRE(cases_path.rfind(prefix, 0) == 0);
  return fs::absolute(rz::test::require_shared(cases_path.substr(prefix.size())));
}

json load_cases() { return read_json(rz::test::require_shared("demucs/cases.json")).at("cases"); }

json find_case(const std::string& id) {
  for (const auto& c : load_cases()) {
    if (c.at("id") == id) return c;
  }
  FAIL("no case '" << id << "' in cases.json");
  return {};
}

// Runs a tool that must succeed; fails the test with its output otherwise.
RunResult run_ok(const std::string& tool, const std::vector<std::string>& args) {
  RunResult r = rz::cli_test::run(tool, args);
  INFO(tool << " failed\n" << r.describe());
  REQUIRE(r.exit_code == 0);
  return r;
}

// `input` ingested into tmp/song (rz-ingest keeps 44.1 kHz float as it is: no resampling).
fs::path ingest(const rz::test::TempDir& tmp, const fs::path& input) {
  const fs::path dir = tmp / "song";
  run_ok("rz-ingest", {input.string(), "-o", dir.string()});
  return dir;
}

// The audio of a stem file.
struct Audio {
  std::vector<float> samples;  // interleaved
  int rate = 0;
  int channels = 0;
  int64_t frames() const { return channels ? static_cast<int64_t>(samples.size()) / channels : 0; }
};

Audio read_audio(const fs::path& path) {
  Audio a;
  a.samples = rz::test::read_all(path, &a.rate, &a.channels);
  return a;
}

bool all_finite(const std::vector<float>& x) {
  for (float v : x) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// The fixtures' SNR: 10 log10(sum ref^2 / sum (cand - ref)^2) in double over every sample;
// +inf for identical signals.
double snr_db(const std::vector<float>& cand, const std::vector<float>& ref) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], d = static_cast<double>(cand[i]) - r;
    signal += r * r;
    noise += d * d;
  }
  return noise == 0 ? HUGE_VAL : 10 * std::log10(signal / noise);
}

std::vector<std::string> manifest_stems(const fs::path& dir) {
  const json m = read_json(dir / rz::stems::kManifestFile);  // named: outlives the loop
  std::vector<std::string> names;
  for (const auto& s : m.at("stems")) names.push_back(s.at("name").get<std::string>());
  return names;
}

// rz-separate with the tiny 4-source model on `song` into `out`, without the cache, plus `extra`;
// returns the history entry it wrote.
json separate_tiny(const fs::path& song, const fs::path& out,
                   const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      song.string(), "--model",   fs::absolute(rz::test::require_shared(kTiny4)).string(),
      "--threads",   kThreads,    "--no-cache",
      "-o",          out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  run_ok("rz-separate", args);
  return read_json(out / rz::stems::kManifestFile).at("history").back();
}

// The SNR of every stem of the output directory `test` against the same stem of `ref`, in the
// order of `ref`'s manifest; the stems must have the same size and be finite.
std::vector<std::pair<std::string, double>> stem_snrs(const fs::path& test, const fs::path& ref) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& name : manifest_stems(ref)) {
    const Audio r = read_audio(ref / (name + ".wav"));
    const Audio t = read_audio(test / (name + ".wav"));
    REQUIRE(t.samples.size() == r.samples.size());
    REQUIRE(all_finite(t.samples));
    out.emplace_back(name, snr_db(t.samples, r.samples));
  }
  return out;
}

// Runs the case `id` of cases.json through rz-separate with `batch` segments per model call and
// compares every stem with the official output (computed one segment at a time).
void check_case(const std::string& id, int batch = 1) {
  const json c = find_case(id);
  const fs::path model = c.at("bag_yaml").is_null()
                             ? shared_path(c.at("model_files").at(0).at("path"))
                             : shared_path(c.at("bag_yaml"));
  const fs::path refs = shared_path(c.at("reference_dir"));
  REQUIRE(c.at("shifts") == 0);
  REQUIRE(c.at("split") == true);

  rz::test::TempDir tmp;
  const fs::path song = ingest(tmp, shared_path(c.at("input")));
  const fs::path out = tmp / "song.sep";
  std::vector<std::string> args = {song.string(),
                                   "--model",
                                   model.string(),
                                   "--shifts",
                                   "0",
                                   "--overlap",
                                   c.at("overlap").dump(),
                                   "--threads",
                                   kThreads,
                                   "--no-cache",
                                   "-o",
                                   out.string(),
                                   "--batch",
                                   std::to_string(batch)};
  if (!c.at("segment").is_null()) {
    args.push_back("--segment");
    args.push_back(c.at("segment").dump());
  }
  const RunResult r = run_ok("rz-separate", args);
  CHECK(r.out == out.string() + "\n");

  const auto sources = c.at("sources").get<std::vector<std::string>>();
  CHECK(manifest_stems(out) == sources);
  const json plan = read_json(out / rz::stems::kManifestFile).at("history").back().at("plan");
  CHECK(plan.at("batch") == batch);
  const int64_t segments = plan.at("forwards");
  CHECK(plan.at("batches").get<int64_t>() <= segments);
  if (batch == 1) CHECK(plan.at("batches") == segments);
  const int64_t frames = c.at("output_frames");
  for (const auto& name : sources) {
    INFO(id << ": " << name);
    const Audio ref = read_audio(refs / (name + ".wav"));
    const Audio got = read_audio(out / (name + ".wav"));
    REQUIRE(ref.frames() == frames);
    CHECK(got.rate == ref.rate);
    REQUIRE(got.channels == ref.channels);
    REQUIRE(got.frames() == ref.frames());
    REQUIRE(all_finite(got.samples));
    const double snr = snr_db(got.samples, ref.samples);
    INFO("SNR " << snr << " dB");
    CHECK(snr >= kParitySnrDb);
  }
}

}  // namespace

TEST_CASE("every parity case of cases.json has a test here", "[separate][parity]") {
  std::set<std::string> ids;
  for (const auto& c : load_cases()) ids.insert(c.at("id").get<std::string>());
  CHECK(ids == std::set<std::string>{"bag_80srock", "full_80srock", "full_80srock_ov05_seg4",
                                     "tiny4_80srock_ov05_seg4", "tiny6_80srock_ov025_seg3"});
}

TEST_CASE("rz-separate matches demucs on full_80srock", "[separate][parity]") {
  check_case("full_80srock");
}

TEST_CASE("rz-separate matches demucs on full_80srock_ov05_seg4", "[separate][parity]") {
  check_case("full_80srock_ov05_seg4");
}

TEST_CASE("rz-separate matches demucs on tiny4_80srock_ov05_seg4", "[separate][parity]") {
  check_case("tiny4_80srock_ov05_seg4");
}

TEST_CASE("rz-separate matches demucs on tiny6_80srock_ov025_seg3", "[separate][parity]") {
  check_case("tiny6_80srock_ov025_seg3");
}

TEST_CASE("rz-separate matches demucs on bag_80srock", "[separate][parity]") {
  check_case("bag_80srock");
}

// Issue 15: the same references with 8 segments per model call. The cases cut 6.8 s into up to 4
// segments (one for full_80srock), so every model call takes all of them at once.
TEST_CASE("rz-separate matches demucs on full_80srock with --batch 8", "[separate][parity]") {
  check_case("full_80srock", 8);
}

TEST_CASE("rz-separate matches demucs on full_80srock_ov05_seg4 with --batch 8",
          "[separate][parity]") {
  check_case("full_80srock_ov05_seg4", 8);
}

TEST_CASE("rz-separate matches demucs on tiny4_80srock_ov05_seg4 with --batch 8",
          "[separate][parity]") {
  check_case("tiny4_80srock_ov05_seg4", 8);
}

TEST_CASE("rz-separate matches demucs on tiny6_80srock_ov025_seg3 with --batch 8",
          "[separate][parity]") {
  check_case("tiny6_80srock_ov025_seg3", 8);
}

TEST_CASE("rz-separate matches demucs on bag_80srock with --batch 8", "[separate][parity]") {
  check_case("bag_80srock", 8);
}

// Issue 15: a batch stacks segments that the network computes independently (each item is
// normalised on its own), so the batch changes only the order of float sums in the matrix
// products. 1 s segments at overlap 0.25 with one shift: one pass of 10 segments, in batches of
// 8 and 2 (and 3, 3, 3 and 1), must agree with batch 1 to this bound.
constexpr double kBatchInvarianceSnrDb = 100.0;

TEST_CASE("rz-separate gives the same stems for any --batch", "[separate]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest(tmp, fs::absolute(rz::test::require_shared(kInput)));
  std::vector<fs::path> outs;
  for (const int batch : {1, 8, 3}) {
    outs.push_back(tmp / ("b" + std::to_string(batch) + ".sep"));
    const json plan = separate_tiny(song, outs.back(),
                                    {"--shifts", "1", "--seed", "0", "--segment", "1", "--overlap",
                                     "0.25", "--batch", std::to_string(batch)})
                          .at("plan");
    const int64_t segments = plan.at("forwards");
    CHECK(plan.at("batch") == batch);
    CHECK(segments == 10);
    CHECK(plan.at("batches") == (segments + batch - 1) / batch);  // one pass
  }
  for (size_t k = 1; k < outs.size(); ++k) {
    for (const auto& [name, snr] : stem_snrs(outs[k], outs[0])) {
      INFO(name << " " << outs[k].filename().string() << ": " << snr << " dB against batch 1");
      CHECK(snr >= kBatchInvarianceSnrDb);
    }
  }
}

// Issue 15: --precision bf16 on the CPU runs the matrix products and convolutions under
// autocast in bfloat16 (8 significant bits: each product is off by up to 2^-9 relative). The
// tiny model's stems then differ from fp32 by more than float round-off (below kBf16MaxSnrDb:
// the run really was bf16; fp32 reruns agree at over 120 dB) and less than a separation error
// a listener hears (above kBf16MinSnrDb). Both bounds were set on this tiny model and input, not
// on the full-size one, whose figure bench/separate.sh --precision bf16 reports.
constexpr double kBf16MinSnrDb = 20.0;
constexpr double kBf16MaxSnrDb = 90.0;

TEST_CASE("rz-separate --precision bf16 computes in bfloat16 on the CPU", "[separate]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest(tmp, fs::absolute(rz::test::require_shared(kInput)));
  std::vector<fs::path> outs;
  for (const char* precision : {"fp32", "bf16"}) {
    outs.push_back(tmp / (std::string(precision) + ".sep"));
    const json entry =
        separate_tiny(song, outs.back(), {"--shifts", "0", "-d", "cpu", "--precision", precision});
    CHECK(entry.at("parameters").at("precision") == precision);
  }
  for (const auto& [name, snr] : stem_snrs(outs[1], outs[0])) {
    INFO(name << ": bf16 against fp32 " << snr << " dB");
    CHECK(snr >= kBf16MinSnrDb);
    CHECK(snr <= kBf16MaxSnrDb);
  }
}

TEST_CASE("rz-separate draws the shift offsets of Python's random.seed and is deterministic",
          "[separate]") {
  const fs::path model = fs::absolute(rz::test::require_shared(kTiny4));
  rz::test::TempDir tmp;
  const fs::path song = ingest(tmp, fs::absolute(rz::test::require_shared(kInput)));
  std::vector<fs::path> outs;
  for (const char* name : {"a.sep", "b.sep"}) {
    outs.push_back(tmp / name);
    run_ok("rz-separate", {song.string(), "--model", model.string(), "--shifts", "1", "--seed", "0",
                           "--threads", kThreads, "--no-cache", "-o", outs.back().string()});
  }
  const json entry = read_json(outs[0] / rz::stems::kManifestFile).at("history").back();
  CHECK(entry.at("parameters").at("shifts") == 1);
  CHECK(entry.at("parameters").at("seed") == 0);
  CHECK(entry.at("plan").at("shift_offsets") == json::array({json::array({kSeed0ShiftOffset})}));

  const auto names = manifest_stems(outs[0]);
  CHECK(names == std::vector<std::string>{"drums", "bass", "other", "vocals"});
  CHECK(manifest_stems(outs[1]) == names);
  for (const auto& name : names) {
    INFO(name);
    CHECK(rz::stems::sha256_file(outs[0] / (name + ".wav")) ==
          rz::stems::sha256_file(outs[1] / (name + ".wav")));
  }
}

// Hidden ([.]): ctest runs it as its own entry, labelled gpu (tests/CMakeLists.txt), so that its
// skip on a machine without CUDA does not end a run of every model test in one process.
TEST_CASE("rz-separate on CUDA agrees with the CPU", "[.][gpu]") {
  if (!torch::cuda::is_available()) {
    rz::test::skip(
        "no CUDA device (torch::cuda::is_available() is false: no GPU, or a CPU-only libtorch); "
        "the CUDA-against-CPU separation needs one");
  }
  const fs::path model = fs::absolute(rz::test::require_shared(kTiny4));
  rz::test::TempDir tmp;
  const fs::path song = ingest(tmp, fs::absolute(rz::test::require_shared(kInput)));
  const fs::path cpu = tmp / "cpu.sep", cuda = tmp / "cuda.sep";
  for (const auto& [device, out] : {std::pair{"cpu", cpu}, std::pair{"cuda", cuda}}) {
    run_ok("rz-separate", {song.string(), "--model", model.string(), "-d", device, "--shifts", "0",
                           "--threads", kThreads, "--no-cache", "-o", out.string()});
    const json entry = read_json(out / rz::stems::kManifestFile).at("history").back();
    CHECK(entry.at("parameters").at("device") == device);  // no silent fallback to the CPU
  }

  const auto names = manifest_stems(cpu);
  CHECK(names == std::vector<std::string>{"drums", "bass", "other", "vocals"});
  REQUIRE(manifest_stems(cuda) == names);
  for (const auto& name : names) {
    INFO(name);
    const Audio want = read_audio(cpu / (name + ".wav"));
    const Audio got = read_audio(cuda / (name + ".wav"));
    CHECK(got.rate == want.rate);
    REQUIRE(got.channels == want.channels);
    REQUIRE(got.frames() == want.frames());
    REQUIRE(all_finite(got.samples));
    const double snr = snr_db(got.samples, want.samples);
    INFO("SNR " << snr << " dB");
    CHECK(snr >= kCudaCpuSnrDb);
  }
}
