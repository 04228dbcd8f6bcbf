// rz-separate end to end with the tiny checkpoints of ../shared/demucs/models: refusals of broken
// models and bad options, missing weights, --two-stems, 6 sources, the cache, the manifest, a
// shell pipe, inputs that need converting, and Ctrl-C.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "rz/demucs/checkpoint.hpp"
#include "rz/error.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/sha256.hpp"
#include "test_support.hpp"
#include "th_writer.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::check_refusal;
using rz::cli_test::list_dir;
using rz::cli_test::read_json;
using rz::cli_test::RunOptions;
using rz::cli_test::RunResult;
using rz::cli_test::snapshot;
using Names = std::vector<std::string>;

namespace {

constexpr const char* kTiny4 = "demucs/models/tiny4000-0421bf8f.th";
constexpr const char* kTiny4Sha256 =
    "0421bf8f56a5f71cdb252e368d6a8d41055d996d1443732cf6868b01820cc592";
constexpr const char* kTiny6 = "demucs/models/tiny6000-eb9664a2.th";
constexpr const char* kFull = "demucs/models/rand0000-dc06c826.th";
// A real 6.8 s mix (MUSDB18 preview, 44.1 kHz stereo float): one segment of the models.
constexpr const char* kRock = "demucs/inputs/in_80srock.wav";
constexpr int64_t kRockFrames = 300032;
// The same song as 16-bit WAV, a source of real samples for hand-made stem directories.
constexpr const char* kRockMixture16 = "audio/stems/musdb7-80srock/mixture.wav";
constexpr int kRate = 44100;
const Names kFourSources = {"drums", "bass", "other", "vocals"};

// float32's unit roundoff: a sum of three stems (two additions) in float32 is within
// 2u(1+u) (|a|+|b|+|c|) of the exact sum; 2.0001u covers the (1+u).
constexpr double kTwoAdditionsRelTol = 2.0001 * 5.9604644775390625e-08;

// Absolute path of shared material (the tools run in their own working directory); skips visibly
// when it is absent.
fs::path shared(const std::string& relative) {
  return fs::absolute(rz::test::require_shared(relative));
}

RunResult separate(const std::vector<std::string>& args, const RunOptions& options = {}) {
  return rz::cli_test::run("rz-separate", args, options);
}

// Runs a tool that must succeed; fails the test with its output otherwise.
RunResult run_ok(const std::string& tool, const std::vector<std::string>& args,
                 const RunOptions& options = {}) {
  RunResult r = rz::cli_test::run(tool, args, options);
  INFO(tool << " failed\n" << r.describe());
  REQUIRE(r.exit_code == 0);
  return r;
}

// The real 6.8 s mix ingested into tmp/song.
fs::path ingest_rock(const rz::test::TempDir& tmp) {
  const fs::path dir = tmp / "song";
  run_ok("rz-ingest", {shared(kRock).string(), "-o", dir.string()});
  return dir;
}

// rz-separate on `song` with the tiny 4-source model, no shifts, without the cache, into `out`,
// plus `extra`; must succeed.
RunResult separate_tiny(const fs::path& song, const fs::path& out,
                        const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {song.string(), "--model",    shared(kTiny4).string(),
                                   "--shifts",    "0",          "-d",
                                   "cpu",         "--no-cache", "-o",
                                   out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_ok("rz-separate", args);
}

json manifest(const fs::path& dir) { return read_json(dir / rz::stems::kManifestFile); }

Names manifest_stems(const fs::path& dir) {
  const json m = manifest(dir);  // named: a temporary would die before the loop runs
  Names names;
  for (const auto& s : m.at("stems")) names.push_back(s.at("name").get<std::string>());
  return names;
}

// The stem files of `dir` by name (manifest.json left out).
Names stem_files(const fs::path& dir) {
  Names names;
  for (const auto& n : list_dir(dir)) {
    if (n != rz::stems::kManifestFile) names.push_back(n);
  }
  return names;
}

std::vector<float> read_stem(const fs::path& dir, const std::string& name, int* rate = nullptr,
                             int* channels = nullptr) {
  return rz::test::read_all(dir / (name + ".wav"), rate, channels);
}

// Every stem file of `a` has the same bytes as the one of the same name in `b`.
void check_same_stems(const fs::path& a, const fs::path& b) {
  const Names names = manifest_stems(a);
  REQUIRE(manifest_stems(b) == names);
  for (const auto& n : names) {
    INFO(n);
    CHECK(rz::stems::sha256_file(a / (n + ".wav")) == rz::stems::sha256_file(b / (n + ".wav")));
  }
}

// The first `seconds` of the real mix as 16-bit-derived floats, interleaved stereo.
std::vector<float> rock_excerpt(double seconds) {
  int rate = 0, channels = 0;
  auto x = rz::test::read_all(shared(kRockMixture16), &rate, &channels);
  REQUIRE(rate == kRate);
  REQUIRE(channels == 2);
  x.resize(static_cast<size_t>(seconds * kRate) * 2);
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// (1) Broken checkpoints: one line, exit 1, nothing left behind.

namespace {

struct BadModel {
  const char* label;
  const char* file;               // name of the checkpoint inside the test's directory
  std::vector<const char*> says;  // words the one-line message must contain
  // Makes the file from tiny4000 (its path, and its contents as read).
  std::function<void(const fs::path& out, const fs::path& tiny, const rz::demucs::Checkpoint& ck)>
      make;
};

// tiny4000 with `change` applied, written back as a checkpoint.
std::function<void(const fs::path&, const fs::path&, const rz::demucs::Checkpoint&)> rewritten(
    std::function<void(rz::demucs::Checkpoint&)> change) {
  return [change](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint& ck) {
    rz::demucs::Checkpoint copy = ck;
    change(copy);
    rz::test::th::write_checkpoint(out, copy);
  };
}

rz::demucs::Tensor& tensor(rz::demucs::Checkpoint& ck, const std::string& key) {
  for (auto& [k, t] : ck.state) {
    if (k == key) return t;
  }
  throw std::runtime_error("no tensor " + key);
}

namespace th = rz::test::th;

// A hand-built checkpoint: data.pkl = pk::checkpoint(kwargs, state) plus one fp32 storage "0" of
// `storage_floats` values.
void write_hand_built(const fs::path& out, const std::string& kwargs, const std::string& state,
                      size_t storage_floats = 1) {
  th::write_zip(
      out,
      {{"archive/data.pkl", th::pk::checkpoint(kwargs, state)},
       {"archive/data/0", std::string(storage_floats * sizeof(float), '\0'), 0, false, 64},
       {"archive/version", "3\n"}},
      false);
}

// 30 levels of L = [L_prev, L_prev] through the memo: 2^30 values once expanded, in ~400 bytes.
std::string fan_out_pickle(int levels) {
  auto memo = [](int i) { return th::le(static_cast<uint64_t>(1000 + i), 4); };
  std::string p = "]r" + memo(0) + "0";  // EMPTY_LIST, LONG_BINPUT, POP
  for (int i = 1; i <= levels; ++i) {
    p += "(j" + memo(i - 1) + "j" + memo(i - 1) + "lr" + memo(i);  // MARK GET GET LIST PUT
    if (i < levels) p += "0";
  }
  return p;
}

// A bag of tiny4000 next to `out` with the given YAML text.
void write_bag(const fs::path& out, const fs::path& tiny, const std::string& yaml) {
  fs::copy_file(tiny, out.parent_path() / tiny.filename());
  rz::cli_test::write_text(out, yaml);
}

std::vector<BadModel> bad_models() {
  return {
      // Hostile checkpoints and bags (each once made rz-separate write elsewhere, hang, or eat
      // memory).
      {"a source named '../../escaped_sep' (would be written two levels up)",
       "bad.th",
       {"sources", "escaped_sep"},
       rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["sources"] = json::array({"../../escaped_sep", "bass", "other", "vocals"});
       })},
      {"a source named twice",
       "bad.th",
       {"sources", "twice"},
       rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["sources"] = json::array({"drums", "bass", "drums", "vocals"});
       })},
      {"an empty source name",
       "bad.th",
       {"sources", "empty"},
       rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["sources"] = json::array({"drums", "", "other", "vocals"});
       })},
      {"a source name with a NUL", "bad.th", {"sources"}, rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["sources"] =
             json::array({"drums", std::string("bass\0.txt", 9), "other", "vocals"});
       })},
      {"samplerate 2^32 + 44100 (would narrow to 44100)",
       "bad.th",
       {"samplerate", "32 bits"},
       rewritten(
           [](rz::demucs::Checkpoint& c) { c.kwargs["samplerate"] = (int64_t{1} << 32) + kRate; })},
      {"kwargs sharing one list 30 levels deep (2^30 values expanded)",
       "fan.th",
       {"expands to more than"},
       [](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint&) {
         write_hand_built(out, th::pk::dict({{th::pk::str("x"), fan_out_pickle(30)}}), "}");
       }},
      {"a stride-0 tensor of 2^30 elements on a 1-element storage",
       "stride0.th",
       {"repeats elements"},
       [](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint&) {
         write_hand_built(
             out, "}",
             th::pk::dict({{th::pk::str("w"),
                            th::pk::tensor("FloatStorage", "0", 1, 0, {int64_t{1} << 30}, {0})}}));
       }},
      {"a FIFO in place of the checkpoint (must not block)",
       "fifo.th",
       {"FIFO"},
       [](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint&) {
         REQUIRE(mkfifo(out.c_str(), 0644) == 0);
       }},
      {"a bag linked to /dev/zero (must not read forever)",
       "zero.yaml",
       {"device"},
       [](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint&) {
         fs::create_symlink("/dev/zero", out);
       }},
      {"a bag nested 100000 levels deep",
       "deep.yaml",
       {"bad model bag", "nested deeper"},
       [](const fs::path& out, const fs::path& tiny, const rz::demucs::Checkpoint&) {
         write_bag(out, tiny,
                   "models: [tiny4000]\nweights: " + std::string(100000, '[') +
                       std::string(100000, ']') + "\n");
       }},
      {"bag weights of 1e308 (every stem would come out constant)",
       "huge.yaml",
       {"bad model bag", "1e308", "outside"},
       [](const fs::path& out, const fs::path& tiny, const rz::demucs::Checkpoint&) {
         write_bag(out, tiny, "models: [tiny4000]\nweights: [[1e308, 1e308, 1e308, 1e308]]\n");
       }},

      {"truncated zip",
       "trunc.th",
       {"bad checkpoint", "truncated"},
       [](const fs::path& out, const fs::path& tiny, const rz::demucs::Checkpoint&) {
         const std::string bytes = rz::test::th::read_bytes(tiny);
         rz::test::th::write_bytes(out, bytes.substr(0, bytes.size() / 2));
       }},
      {"wrong SHA-256 prefix in the name",
       "tiny4000-deadbeef.th",
       {"SHA-256", "deadbeef", "0421bf8f"},
       [](const fs::path& out, const fs::path& tiny, const rz::demucs::Checkpoint&) {
         fs::copy_file(tiny, out);
       }},
      {"a text file",
       "x.th",
       {"not a zip"},
       [](const fs::path& out, const fs::path&, const rz::demucs::Checkpoint&) {
         rz::cli_test::write_text(out, "this is not a checkpoint\n");
       }},
      {"cac False", "bad.th", {"cac", "not supported"}, rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["cac"] = false;
       })},
      {"multi_freqs",
       "bad.th",
       {"multi_freqs", "not supported"},
       rewritten([](rz::demucs::Checkpoint& c) { c.kwargs["multi_freqs"] = json::array({0.5}); })},
      {"t_emb cape", "bad.th", {"t_emb", "cape"}, rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["t_emb"] = "cape";
       })},
      {"an unknown kwarg", "bad.th", {"'no_such_arg'"}, rewritten([](rz::demucs::Checkpoint& c) {
         c.kwargs["no_such_arg"] = 1;
       })},
      {"another demucs class",
       "bad.th",
       {"demucs.hdemucs.HDemucs", "not supported"},
       rewritten([](rz::demucs::Checkpoint& c) { c.klass = "demucs.hdemucs.HDemucs"; })},
      {"an unknown class", "bad.th", {"my.models.Net"}, rewritten([](rz::demucs::Checkpoint& c) {
         c.klass = "my.models.Net";
       })},
      {"a missing tensor",
       "bad.th",
       {"missing tensor", "crosstransformer.layers_t.1.gamma_2.scale"},
       rewritten([](rz::demucs::Checkpoint& c) {
         REQUIRE(c.state.back().first == "crosstransformer.layers_t.1.gamma_2.scale");
         c.state.pop_back();
       })},
      {"an unexpected tensor",
       "bad.th",
       {"unexpected tensor", "decoder.9.conv.weight"},
       rewritten([](rz::demucs::Checkpoint& c) {
         c.state.push_back({"decoder.9.conv.weight", {{2}, {0.5f, -0.5f}}});
       })},
      {"a tensor of the wrong shape",
       "bad.th",
       {"freq_emb.embedding.weight", "8x512", "512x8"},
       rewritten([](rz::demucs::Checkpoint& c) {
         auto& t = tensor(c, "freq_emb.embedding.weight");
         REQUIRE(t.shape == std::vector<int64_t>{512, 8});
         t.shape = {8, 512};  // same number of values
       })},
  };
}

}  // namespace

TEST_CASE("rz-separate refuses broken checkpoints and leaves nothing behind", "[cli]") {
  const fs::path tiny = shared(kTiny4);
  const rz::demucs::Checkpoint ck = rz::demucs::read_checkpoint(tiny);
  for (const auto& bad : bad_models()) {
    DYNAMIC_SECTION(bad.label) {
      rz::test::TempDir tmp;
      const fs::path song = ingest_rock(tmp);
      bad.make(tmp / bad.file, tiny, ck);
      const auto listing = list_dir(tmp.path());
      const auto before = snapshot(song);

      for (const bool explicit_output : {true, false}) {
        INFO((explicit_output ? "with -o" : "default output"));
        std::vector<std::string> args = {"song", "--model", bad.file, "--shifts",
                                         "0",    "-d",      "cpu",    "--no-cache"};
        if (explicit_output) args.insert(args.end(), {"-o", "out.sep"});
        const auto r = separate(args, rz::cli_test::in_dir(tmp.path()));
        check_refusal(r, "rz-separate", rz::kExitFailure);
        for (const char* word : bad.says) CHECK_THAT(r.err, Catch::Contains(word));
        CHECK(list_dir(tmp.path()) == listing);
        CHECK(snapshot(song) == before);
        CHECK_FALSE(fs::exists(tmp.path().parent_path() / "escaped_sep.wav"));
        CHECK_FALSE(fs::exists(tmp.path().parent_path().parent_path() / "escaped_sep.wav"));
      }
    }
  }
}

TEST_CASE("a checkpoint rewritten by the test writer separates like the original", "[cli]") {
  // The control of the test above: what th_writer writes differs from tiny4000 only in the
  // change each case makes, so every refusal there is the tool's answer to that change.
  const fs::path tiny = shared(kTiny4);
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  rz::test::th::write_checkpoint(tmp / "good.th", rz::demucs::read_checkpoint(tiny));
  separate_tiny(song, tmp / "a.sep");
  run_ok("rz-separate", {song.string(), "--model", (tmp / "good.th").string(), "--shifts", "0",
                         "-d", "cpu", "--no-cache", "-o", (tmp / "b.sep").string()});
  CHECK(manifest_stems(tmp / "b.sep") == kFourSources);
  check_same_stems(tmp / "a.sep", tmp / "b.sep");
}

// ---------------------------------------------------------------------------------------------
// (2) Weights that are not there.

TEST_CASE("rz-separate says how to fetch missing official weights", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  fs::create_directory(tmp / "models");
  fs::create_directory(tmp / "cache");
  const auto listing = list_dir(tmp.path());
  const auto before = snapshot(song);
  const std::string cache = (tmp / "cache").string();

  auto check = [&](const RunResult& r, const std::string& name) {
    check_refusal(r, "rz-separate", rz::kExitFailure);
    CHECK_THAT(r.err, Catch::Contains("run rz-fetch-models " + name));
    CHECK(list_dir(tmp.path()) == listing);
    CHECK(list_dir(tmp / "cache").empty());
    CHECK(snapshot(song) == before);
  };
  SECTION("--model-dir") {
    for (const std::string name : {"htdemucs", "htdemucs_6s", "htdemucs_ft"}) {
      INFO(name);
      check(separate({song.string(), "--model", name, "--model-dir", (tmp / "models").string(),
                      "--cache-dir", cache}),
            name);
    }
  }
  SECTION("RZ_MODEL_DIR") {
    RunOptions o;
    o.env["RZ_MODEL_DIR"] = (tmp / "models").string();
    check(separate({song.string(), "--cache-dir", cache}, o), "htdemucs");  // the default model
  }
  SECTION("an unknown name lists the official ones") {
    const auto r = separate(
        {song.string(), "--model", "nosuchmodel", "--model-dir", (tmp / "models").string()});
    check_refusal(r, "rz-separate", rz::kExitFailure);
    CHECK_THAT(r.err, Catch::Contains("nosuchmodel") && Catch::Contains("htdemucs_ft"));
    CHECK(list_dir(tmp.path()) == listing);
  }
  SECTION("a missing path") {
    const auto r = separate({song.string(), "--model", (tmp / "absent.th").string()});
    check_refusal(r, "rz-separate", rz::kExitFailure);
    CHECK_THAT(r.err, Catch::Contains("absent.th") && Catch::Contains("no such file"));
    CHECK(list_dir(tmp.path()) == listing);
  }
}

// ---------------------------------------------------------------------------------------------
// (3) --two-stems

TEST_CASE("rz-separate --two-stems vocals writes vocals and the sum of the others", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  separate_tiny(song, tmp / "four.sep");
  const auto r = separate_tiny(song, tmp / "two.sep", {"--two-stems", "vocals"});
  CHECK(r.out == (tmp / "two.sep").string() + "\n");
  CHECK(manifest_stems(tmp / "two.sep") == Names{"vocals", "no_vocals"});
  CHECK(stem_files(tmp / "two.sep") == Names{"no_vocals.wav", "vocals.wav"});
  CHECK(manifest(tmp / "two.sep").at("history").back().at("parameters").at("two_stems") ==
        "vocals");

  // vocals is the 4-stem run's vocals; vocals + no_vocals is the sum of the four stems.
  CHECK(rz::stems::sha256_file(tmp / "two.sep" / "vocals.wav") ==
        rz::stems::sha256_file(tmp / "four.sep" / "vocals.wav"));
  std::vector<std::vector<float>> four;
  for (const auto& n : kFourSources) four.push_back(read_stem(tmp / "four.sep", n));
  const auto vocals = read_stem(tmp / "two.sep", "vocals");
  const auto rest = read_stem(tmp / "two.sep", "no_vocals");
  REQUIRE(vocals.size() == four[0].size());
  REQUIRE(rest.size() == four[0].size());
  size_t outside = 0;
  double worst = 0;
  for (size_t i = 0; i < rest.size(); ++i) {
    double sum = 0, magnitude = 0;
    for (const auto& s : four) {
      sum += s[i];
      magnitude += std::fabs(s[i]);
    }
    const double err = std::fabs(static_cast<double>(vocals[i]) + rest[i] - sum);
    worst = std::max(worst, err);
    if (err > kTwoAdditionsRelTol * magnitude) ++outside;
  }
  INFO("largest |vocals + no_vocals - sum of 4| = " << worst);
  CHECK(outside == 0);
}

TEST_CASE("rz-separate --two-stems with a source the model lacks is a usage error", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  const auto listing = list_dir(tmp.path());
  for (const std::string name : {"nope", "guitar"}) {
    INFO(name);
    const auto r = separate({"song", "--model", shared(kTiny4).string(), "--shifts", "0", "-d",
                             "cpu", "--no-cache", "--two-stems", name},
                            rz::cli_test::in_dir(tmp.path()));
    check_refusal(r, "rz-separate", rz::kExitUsage);
    CHECK_THAT(r.err, Catch::Contains(name) && Catch::Contains("vocals"));
    CHECK(list_dir(tmp.path()) == listing);
  }
}

// ---------------------------------------------------------------------------------------------
// (4) Six sources

TEST_CASE("a 6-source model writes guitar and piano too", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  run_ok("rz-separate", {song.string(), "--model", shared(kTiny6).string(), "--shifts", "0", "-d",
                         "cpu", "--no-cache", "-o", (tmp / "six.sep").string()});
  const Names six = {"drums", "bass", "other", "vocals", "guitar", "piano"};
  CHECK(manifest_stems(tmp / "six.sep") == six);
  CHECK(stem_files(tmp / "six.sep") ==
        Names{"bass.wav", "drums.wav", "guitar.wav", "other.wav", "piano.wav", "vocals.wav"});
  for (const auto& n : six) {
    INFO(n);
    int rate = 0, channels = 0;
    const auto x = read_stem(tmp / "six.sep", n, &rate, &channels);
    CHECK(rate == kRate);
    REQUIRE(channels == 2);
    CHECK(static_cast<int64_t>(x.size()) / channels == kRockFrames);
  }
}

// ---------------------------------------------------------------------------------------------
// (5) The cache

TEST_CASE("rz-separate reuses a cached separation and --no-cache recomputes", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  const fs::path cache = tmp / "cache";
  auto run_cached = [&](const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {song.string(), "--model", shared(kTiny4).string(),
                                     "--shifts",    "0",       "-d",
                                     "cpu",         "-o",      (tmp / out).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_ok("rz-separate", args);
    CHECK(r.out == (tmp / out).string() + "\n");
    return r;
  };
  auto cache_state = [&](const std::string& out) {
    return manifest(tmp / out).at("history").back().at("parameters").at("cache");
  };
  auto mentions_cache = [](const RunResult& r) { return r.err.find("cache") != std::string::npos; };
  auto entries = [&] {
    Names visible;
    for (const auto& n : list_dir(cache)) {
      if (n[0] != '.') visible.push_back(n);
    }
    return visible;
  };

  const auto first = run_cached("first.sep", {"--cache-dir", cache.string()});
  CHECK(cache_state("first.sep") == "stored");
  CHECK_FALSE(mentions_cache(first));
  REQUIRE(entries().size() == 1);
  CHECK(fs::is_regular_file(cache / entries()[0] / "entry.json"));

  const auto second = run_cached("second.sep", {"--cache-dir", cache.string()});
  INFO(second.err);
  CHECK(mentions_cache(second));
  CHECK(cache_state("second.sep") == "hit");
  check_same_stems(tmp / "first.sep", tmp / "second.sep");

  const auto off = run_cached("off.sep", {"--cache-dir", cache.string(), "--no-cache"});
  CHECK_FALSE(mentions_cache(off));
  CHECK(cache_state("off.sep") == "off");
  check_same_stems(tmp / "first.sep", tmp / "off.sep");  // deterministic
  CHECK(entries().size() == 1);

  const auto other = run_cached("other.sep", {"--cache-dir", cache.string(), "--overlap", "0.5"});
  CHECK_FALSE(mentions_cache(other));
  CHECK(cache_state("other.sep") == "stored");
  CHECK(entries().size() == 2);
  CHECK(rz::cli_test::temp_entries(cache).empty());

  // A hit hard-links the cached files into the output. Editing such an output in place damages
  // the entry: the next run notices through the recorded SHA-256 and recomputes.
  const fs::path edited = tmp / "second.sep" / "drums.wav";
  {
    std::fstream f(edited, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(-4, std::ios::end);
    f.write("\x7f\x7f\x7f\x7f", 4);
  }
  const auto damaged = run_cached("damaged.sep", {"--cache-dir", cache.string()});
  CHECK(damaged.err.find("damaged") != std::string::npos);
  CHECK(cache_state("damaged.sep") == "stored");
  check_same_stems(tmp / "first.sep", tmp / "damaged.sep");
}

TEST_CASE("a damaged or hostile cache entry is recomputed and never trusted", "[cli]") {
  // rz-separate(1) promises that a damaged entry is recomputed. Every field of entry.json is
  // outside data: missing or mistyped members, names that lead elsewhere, an oversized or
  // deeply nested file, a FIFO in its place. Each run must succeed with the same stems as an
  // uncached run and leave a consistent cache.
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  const fs::path cache = tmp / "cache";
  separate_tiny(song, tmp / "reference.sep");
  auto run_cached = [&](const std::string& out) {
    return run_ok("rz-separate",
                  {song.string(), "--model", shared(kTiny4).string(), "--shifts", "0", "-d", "cpu",
                   "--cache-dir", cache.string(), "-o", (tmp / out).string()});
  };
  run_cached("stored.sep");
  std::string key;
  for (const auto& n : list_dir(cache))
    if (n[0] != '.') key = n;
  REQUIRE(!key.empty());
  const fs::path entry = cache / key / "entry.json";
  const json good = read_json(entry);
  struct Damage {
    const char* label;
    std::function<void()> apply;
  };
  auto edit = [&](std::function<void(json&)> change) {
    return [&, change] {
      json j = good;
      change(j);
      rz::cli_test::write_text(entry, j.dump(2));
    };
  };
  const std::vector<Damage> damages = {
      {"meta without sources", edit([](json& j) { j["meta"].erase("sources"); })},
      {"meta without sample_rate_hz", edit([](json& j) { j["meta"].erase("sample_rate_hz"); })},
      {"sample_rate_hz as a string", edit([](json& j) { j["meta"]["sample_rate_hz"] = "44100"; })},
      {"frames 2^64", edit([](json& j) { j["meta"]["frames"] = 1.8446744073709552e19; })},
      {"frames that the stems do not have",
       edit([](json& j) { j["meta"]["frames"] = j["meta"]["frames"].get<int64_t>() - 1; })},
      {"a rate no stem directory runs at",
       edit([](json& j) { j["meta"]["sample_rate_hz"] = 500000; })},
      {"a source '../../escaped'",
       edit([](json& j) { j["meta"]["sources"][0] = "../../escaped"; })},
      {"a source named twice",
       edit([](json& j) { j["meta"]["sources"][1] = j["meta"]["sources"][0]; })},
      {"model is an array", edit([](json& j) { j["meta"]["model"] = json::array(); })},
      {"a file name that is a number", edit([](json& j) { j["files"][0]["name"] = 7; })},
      {"a file name '../x.wav'", edit([](json& j) { j["files"][0]["name"] = "../x.wav"; })},
      {"a wrong recorded digest",
       edit([](json& j) { j["files"][0]["sha256"] = std::string(64, '0'); })},
      {"entry.json is not JSON", [&] { rz::cli_test::write_text(entry, "{\"schema\": "); }},
      {"entry.json nested 100000 levels",
       [&] {
         rz::cli_test::write_text(entry, std::string(100000, '[') + std::string(100000, ']'));
       }},
      {"entry.json is a FIFO",
       [&] {
         fs::remove(entry);
         REQUIRE(mkfifo(entry.c_str(), 0644) == 0);
       }},
      {"a stem file deleted", [&] { fs::remove(cache / key / "drums.wav"); }},
  };
  // One loop, not sections (Catch would rerun the reference separation for each): every run
  // after a damage recomputes and stores a good entry again, which the next damage starts from.
  int round = 0;
  for (const auto& d : damages) {
    INFO(d.label);
    d.apply();
    const std::string out = "after" + std::to_string(round++) + ".sep";
    const auto r = run_cached(out);
    INFO(r.describe());
    check_same_stems(tmp / "reference.sep", tmp / out);
    CHECK(manifest(tmp / out).at("history").back().at("parameters").at("cache") != "hit");
    CHECK_FALSE(fs::exists(tmp.path().parent_path() / "escaped.wav"));
    // The cache holds one complete entry again (the good one), and nothing half-made.
    CHECK(rz::cli_test::temp_entries(cache).empty());
    CHECK(read_json(entry) == good);
  }
  const auto hit = run_cached("hit.sep");
  CHECK(manifest(tmp / "hit.sep").at("history").back().at("parameters").at("cache") == "hit");
  check_same_stems(tmp / "reference.sep", tmp / "hit.sep");
}

// ---------------------------------------------------------------------------------------------
// (6) The manifest

TEST_CASE("rz-separate records the model and parameters and input in the manifest", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  const fs::path out = tmp / "song.sep";
  run_ok("rz-separate",
         {song.string(), "--model", shared(kTiny4).string(), "--shifts", "2", "--seed", "7",
          "--overlap", "0.3", "--segment", "6", "-d", "cpu", "--no-cache", "-o", out.string()});

  const json in = manifest(song);
  const json m = manifest(out);
  CHECK(m.at("schema") == rz::stems::kSchemaName);
  CHECK(m.at("sample_rate_hz") == kRate);
  CHECK(m.at("channels") == 2);
  CHECK(m.at("frames") == kRockFrames);
  CHECK(m.at("frames") == in.at("frames"));
  REQUIRE(m.at("stems").size() == 4);
  for (const auto& s : m.at("stems")) {
    const std::string file = s.at("file");
    INFO(file);
    CHECK(s.at("format") == "wav/float32");
    CHECK(s.at("frames") == kRockFrames);
    CHECK(s.at("sha256") == rz::stems::sha256_file(out / file));
    CHECK(s.at("bytes") == fs::file_size(out / file));
  }

  // The ingest entry stays first; rz-separate's is last.
  const json& history = m.at("history");
  REQUIRE(history.size() == in.at("history").size() + 1);
  CHECK(history.front() == in.at("history").front());
  const json& e = history.back();
  CHECK(e.at("tool") == "rz-separate");
  CHECK(e.at("model").at("sha256") == json::array({kTiny4Sha256}));
  CHECK(e.at("model").at("sha256").at(0) == rz::stems::sha256_file(shared(kTiny4)));
  CHECK(e.at("model").at("sources") == kFourSources);
  const json& p = e.at("parameters");
  CHECK(p.at("shifts") == 2);
  CHECK(p.at("seed") == 7);
  CHECK(p.at("overlap") == 0.3);
  CHECK(p.at("segment_s") == 6.0);
  CHECK(p.at("two_stems").is_null());
  CHECK(p.at("device") == "cpu");
  CHECK(p.at("cache") == "off");
  const json mix = [&] {
    for (const auto& s : in.at("stems")) {
      if (s.at("name") == "mix") return s;
    }
    return json();
  }();
  REQUIRE(mix.is_object());
  CHECK(e.at("inputs") == json::array({{{"stem", "mix"}, {"sha256", mix.at("sha256")}}}));
  CHECK(mix.at("sha256") == rz::stems::sha256_file(song / "mix.wav"));
  // Two shifts of at most half a second (22050 frames) for the one model.
  const json& offsets = e.at("plan").at("shift_offsets");
  REQUIRE(offsets.size() == 1);
  REQUIRE(offsets[0].size() == 2);
  for (const auto& o : offsets[0]) CHECK((o >= 0 && o <= 22050));
  CHECK(e.at("plan").at("segment_frames") == static_cast<int64_t>(6 * kRate));
}

// ---------------------------------------------------------------------------------------------
// (7) A shell pipe

TEST_CASE("rz-ingest | rz-separate | rz-mix | rz-master works as a shell pipe", "[cli]") {
  const fs::path tiny = shared(kTiny4);
  rz::test::TempDir tmp;
  fs::copy_file(shared(kRock), tmp / "rock.wav");
  // Each stage's exit status and stdout are kept (tee) so that every tool is checked.
  const std::string script =
      "B=\"$1\"; M=\"$2\"; D=\"$3\"\n"
      "{ \"$B/rz-ingest\" rock.wav 2>err1; echo $? >rc1; } | tee out1 |\n"
      "{ \"$B/rz-separate\" --model \"$M\" --shifts 0 --cache-dir \"$D\" 2>err2; echo $? >rc2; } "
      "| tee out2 |\n"
      "{ \"$B/rz-mix\" 2>err3; echo $? >rc3; } | tee out3 |\n"
      "{ \"$B/rz-master\" -o out.flac 2>err4; echo $? >rc4; }\n";
  const auto r = rz::cli_test::run_program("/bin/bash",
                                           {"-c", script, "bash", rz::cli_test::bin_dir().string(),
                                            tiny.string(), (tmp / "cache").string()},
                                           rz::cli_test::in_dir(tmp.path()));
  INFO(r.describe());
  for (int i = 1; i <= 4; ++i) {
    const std::string n = std::to_string(i);
    INFO("stage " << n << " stderr: " << rz::cli_test::read_text(tmp / ("err" + n)));
    CHECK(rz::cli_test::read_text(tmp / ("rc" + n)) == "0\n");
    CHECK(rz::cli_test::read_text(tmp / ("err" + n)).find("error") == std::string::npos);
  }
  CHECK(r.exit_code == 0);
  CHECK(rz::cli_test::read_text(tmp / "out1") == "rock.ingest\n");
  CHECK(rz::cli_test::read_text(tmp / "out2") == "rock.ingest.sep\n");
  CHECK(rz::cli_test::read_text(tmp / "out3") == "rock.ingest.sep.mix\n");
  CHECK(r.out == "out.flac\n");
  CHECK(manifest_stems(tmp / "rock.ingest.sep") == kFourSources);
  CHECK(rz::cli_test::read_text(tmp / "out.flac").rfind("fLaC", 0) == 0);
  CHECK(fs::is_regular_file(tmp / "out.flac.json"));
  CHECK(rz::cli_test::temp_entries(tmp.path()).empty());
}

// ---------------------------------------------------------------------------------------------
// (8) Bad options

TEST_CASE("rz-separate exits 2 on bad options and creates nothing", "[cli]") {
  rz::test::TempDir tmp;
  const fs::path song = ingest_rock(tmp);
  fs::create_directory(tmp / "cache");
  const auto listing = list_dir(tmp.path());
  const auto before = snapshot(song);
  struct Call {
    const char* label;
    std::vector<std::string> args;
    const char* says;
  };
  std::vector<Call> calls = {
      {"--overlap 1", {"--overlap", "1"}, "--overlap"},
      {"--overlap -0.1", {"--overlap", "-0.1"}, "--overlap"},
      {"--segment 100 (longer than the model's 7.8 s)", {"--segment", "100"}, "7.80"},
      {"--segment 0", {"--segment", "0"}, "--segment"},
      {"--segment 0.1 (shorter than two FFT frames)", {"--segment", "0.1"}, "--segment"},
      {"--shifts -1", {"--shifts", "-1"}, "--shifts"},
      {"--shifts 101", {"--shifts", "101"}, "--shifts"},
      {"--device tpu", {"--device", "tpu"}, "tpu"},
      {"--threads -1", {"--threads", "-1"}, "--threads"},
      {"--overlap not a number", {"--overlap", "half"}, "overlap"},
      {"an unknown flag", {"--no-such-flag"}, "no-such-flag"},
      {"--batch 0", {"--batch", "0"}, "--batch"},
      {"--batch 257", {"--batch", "257"}, "--batch"},
      {"--precision fp8", {"--precision", "fp8"}, "--precision"},
      {"--precision tf32 on the CPU", {"--precision", "tf32", "-d", "cpu"}, "CUDA"},
      {"--precision fp16 on the CPU", {"--precision", "fp16", "-d", "cpu"}, "CUDA"},
  };
  for (const auto& c : calls) {
    std::vector<std::string> args = {"song",     "--model", shared(kTiny4).string(),
                                     "--shifts", "0",       "--cache-dir",
                                     "cache",    "-o",      "out.sep"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = separate(args, rz::cli_test::in_dir(tmp.path()));
    INFO(c.label);
    check_refusal(r, "rz-separate", rz::kExitUsage);
    CHECK_THAT(r.err, Catch::Contains(c.says));
    CHECK(list_dir(tmp.path()) == listing);
    CHECK(list_dir(tmp / "cache").empty());
  }
  CHECK(snapshot(song) == before);

  // --device cuda is a usage error where libtorch sees no CUDA device; where it does, the run
  // must really use it.
  const auto r = separate({"song", "--model", shared(kTiny4).string(), "--shifts", "0",
                           "--no-cache", "-o", "out.sep", "--device", "cuda"},
                          rz::cli_test::in_dir(tmp.path()));
  if (r.exit_code == 0) {
    WARN("CUDA is available here: --device cuda ran");
    const std::string device =
        manifest(tmp / "out.sep").at("history").back().at("parameters").at("device");
    CHECK(device.rfind("cuda", 0) == 0);
  } else {
    check_refusal(r, "rz-separate", rz::kExitUsage);
    CHECK_THAT(r.err, Catch::Contains("CUDA"));
    CHECK(list_dir(tmp.path()) == listing);
  }
}

// ---------------------------------------------------------------------------------------------
// (9) Inputs the model does not take as they are

TEST_CASE("a mono input and a 48 kHz input give 44.1 kHz stereo stems", "[cli]") {
  const std::vector<float> stereo = rock_excerpt(3.0);
  const int64_t frames = static_cast<int64_t>(stereo.size()) / 2;
  std::vector<float> mono(static_cast<size_t>(frames));
  for (size_t i = 0; i < mono.size(); ++i) mono[i] = 0.5f * (stereo[2 * i] + stereo[2 * i + 1]);
  constexpr int kHighRate = 48000;
  struct Input {
    const char* label;
    const std::vector<float>& samples;
    int rate;
    int channels;
    int64_t want_frames;
    bool resampled;
  };
  // The same samples read as 48 kHz: a 48000 -> 44100 resampler gives round(frames * 44100 /
  // 48000) frames, to within one frame of rounding at the end.
  const int64_t resampled_frames = std::llround(static_cast<double>(frames) * kRate / kHighRate);
  const std::vector<Input> inputs = {
      {"mono 44.1 kHz", mono, kRate, 1, frames, false},
      {"stereo 48 kHz", stereo, kHighRate, 2, resampled_frames, true},
  };
  for (const auto& input : inputs) {
    DYNAMIC_SECTION(input.label) {
      rz::test::TempDir tmp;
      rz::cli_test::write_stem_dir(tmp / "song", {{"mix", input.samples}}, input.rate,
                                   input.channels);
      separate_tiny(tmp / "song", tmp / "song.sep");
      const json m = manifest(tmp / "song.sep");
      CHECK(m.at("sample_rate_hz") == kRate);
      CHECK(m.at("channels") == 2);
      CHECK(std::llabs(m.at("frames").get<int64_t>() - input.want_frames) <= 1);
      CHECK(m.at("history").back().at("plan").at("input_resampled") == input.resampled);
      for (const auto& n : kFourSources) {
        INFO(n);
        int rate = 0, channels = 0;
        const auto x = read_stem(tmp / "song.sep", n, &rate, &channels);
        CHECK(rate == kRate);
        REQUIRE(channels == 2);
        CHECK(static_cast<int64_t>(x.size()) / 2 == m.at("frames").get<int64_t>());
        CHECK(std::all_of(x.begin(), x.end(), [](float v) { return std::isfinite(v); }));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// (10) Ctrl-C

namespace {

// Runs rz-separate with `args` (in `cwd`, stderr read through a pipe) and sends SIGINT
// `delay_s` after `marker` first appears on its stderr. Returns the wait status; `err` gets the
// stderr and `signalled` whether the signal was sent before the tool ended.
int interrupt_after(const fs::path& cwd, const std::vector<std::string>& args,
                    const std::string& marker, double delay_s, std::string& err, bool& signalled) {
  constexpr double kGiveUpS = 300;
  std::vector<std::string> storage = {rz::cli_test::tool_path("rz-separate").string()};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  int err_pipe[2];
  REQUIRE(pipe2(err_pipe, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(127);
    const int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(err_pipe[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err_pipe[1]);
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const auto t0 = Clock::now();
  Clock::time_point seen{};
  bool marker_seen = false;
  signalled = false;
  char buf[4096];
  for (;;) {
    if (seconds_since(t0) > kGiveUpS) {
      kill(pid, SIGKILL);
      break;
    }
    if (marker_seen && !signalled && seconds_since(seen) >= delay_s) {
      kill(pid, SIGINT);
      signalled = true;
    }
    pollfd p{err_pipe[0], POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const ssize_t n = read(err_pipe[0], buf, sizeof(buf));
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
    if (!marker_seen && err.find(marker) != std::string::npos) {
      marker_seen = true;
      seen = Clock::now();
    }
  }
  close(err_pipe[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("Ctrl-C during a FULL-model separation exits 130 and leaves nothing", "[cli]") {
  // With --progress, rz-separate writes progress lines to stderr: "analyse 100%" when the mix's
  // statistics are done, just before the first of the two forwards over the 6.8 s input (two
  // overlapping 7.8 s segments), and "rz-separate: separate  50%" after the first forward. FULL
  // takes seconds per forward, so a signal shortly after either line lands inside a forward: the
  // first, after which the tool reads input again, or the last, after which it only writes.
  constexpr double kSignalDelayS = 0.3;
  const fs::path full = shared(kFull);
  rz::test::TempDir tmp;
  ingest_rock(tmp);
  const auto listing = list_dir(tmp.path());
  const std::vector<std::string> args = {"song",       "--model", full.string(), "--shifts",
                                         "0",          "-d",      "cpu",         "--no-cache",
                                         "--progress", "-o",      "song.sep"};
  for (const std::string marker : {"analyse 100%", ": separate "}) {
    DYNAMIC_SECTION("signal after '" << marker << "'") {
      std::string err;
      bool signalled = false;
      const int status = interrupt_after(tmp.path(), args, marker, kSignalDelayS, err, signalled);
      INFO("stderr:\n" << err);
      REQUIRE(signalled);
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == rz::kExitInterrupted);
      CHECK(err.find("rz-separate: error: song: interrupted") != std::string::npos);
      CHECK(list_dir(tmp.path()) == listing);
    }
  }
}
