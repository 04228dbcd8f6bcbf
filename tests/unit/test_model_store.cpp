// Unit tests of rz::demucs::resolve_model: paths, names in a model directory, official names.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rz/demucs/model_store.hpp"
#include "rz/error.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using rz::demucs::ModelSpec;
using rz::demucs::resolve_model;

namespace {

// resolve_model only locates files: any bytes do for a checkpoint here.
fs::path touch(const fs::path& p, const std::string& text = "not a real checkpoint\n") {
  rz::stems::write_text_file(p, text);
  return p;
}

// Sets an environment variable for the lifetime of the object, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const std::vector<std::vector<double>> kIdentity4 = {
    {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};

}  // namespace

TEST_CASE("model store: a .th path is a single model named like its checkpoint",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  const fs::path th = touch(dir / "tiny4000-0421bf8f.th");
  const ModelSpec spec = resolve_model(th.string(), "/nonexistent");
  CHECK(spec.name == "tiny4000");
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == th);
  CHECK_FALSE(spec.bag);
  CHECK(spec.weights.empty());
  CHECK_FALSE(spec.segment.has_value());

  const fs::path plain = touch(dir / "mymodel.th");
  CHECK(resolve_model(plain.string(), "/nonexistent").name == "mymodel");
}

TEST_CASE("model store: a bare file name is also tried in the model directory",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  const fs::path th = touch(dir / "abc-0123abcd.th");
  const ModelSpec spec = resolve_model("abc-0123abcd.th", dir.path());
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == th);
  CHECK(spec.name == "abc");
}

TEST_CASE("model store: a .yaml path is a bag with members beside it", "[unit][model_store]") {
  rz::test::TempDir dir;
  const fs::path a = touch(dir / "memb0001-1111aaaa.th");
  const fs::path b = touch(dir / "memb0002.th");  // an exact NAME.th is a member too
  touch(dir / "mybag.yaml",
        "models: ['memb0001', 'memb0002']\nweights: [[1., 0.5], [0., 2.]]\nsegment: 44\n");
  const ModelSpec spec = resolve_model((dir / "mybag.yaml").string(), "/nonexistent");
  CHECK(spec.name == "mybag");
  CHECK(spec.bag);
  REQUIRE(spec.files.size() == 2);
  CHECK(spec.files[0] == a);
  CHECK(spec.files[1] == b);
  CHECK(spec.weights == std::vector<std::vector<double>>{{1.0, 0.5}, {0.0, 2.0}});
  REQUIRE(spec.segment.has_value());
  CHECK(*spec.segment == 44.0);
}

TEST_CASE("model store: a bag of one is still a bag", "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "solo0001-abcdef01.th");
  touch(dir / "solo.yaml", "models: ['solo0001']\n");
  const ModelSpec spec = resolve_model("solo", dir.path());
  CHECK(spec.bag);
  CHECK(spec.files.size() == 1);
  CHECK(spec.weights.empty());
}

TEST_CASE("model store: a name finds NAME.yaml in the model directory", "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "m1-00000001.th");
  touch(dir / "m2-00000002.th");
  touch(dir / "pair.yaml", "models:\n  - m1\n  - m2\n");
  const ModelSpec spec = resolve_model("pair", dir.path());
  CHECK(spec.name == "pair");
  CHECK(spec.bag);
  REQUIRE(spec.files.size() == 2);
  CHECK(spec.files[0].filename() == "m1-00000001.th");
  CHECK(spec.files[1].filename() == "m2-00000002.th");
}

TEST_CASE("model store: a name finds NAME-HASH.th in the model directory", "[unit][model_store]") {
  rz::test::TempDir dir;
  const fs::path th = touch(dir / "single-deadbeef.th");
  touch(dir / "singleton-cafef00d.th");  // a longer name sharing the prefix is not a match
  const ModelSpec spec = resolve_model("single", dir.path());
  CHECK(spec.name == "single");
  CHECK_FALSE(spec.bag);
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == th);
}

TEST_CASE("model store: a file named NAME-something that is not a hash does not match",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "single-v2.th");
  touch(dir / "single-DEADBEEF.th");  // demucs' hashes are lower-case
  const std::string msg = rz::test::input_error([&] { resolve_model("single", dir.path()); });
  CHECK_THAT(msg, Catch::Contains("unknown model 'single'"));
}

TEST_CASE("model store: official names resolve when their files are present",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  const fs::path ht = touch(dir / "955717e8-8726e21a.th");
  const ModelSpec spec = resolve_model("htdemucs", dir.path());
  CHECK(spec.name == "htdemucs");
  CHECK(spec.bag);
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == ht);
  CHECK(spec.weights.empty());

  touch(dir / "5c90dfd2-34c22ccb.th");
  const ModelSpec six = resolve_model("htdemucs_6s", dir.path());
  REQUIRE(six.files.size() == 1);
  CHECK(six.files[0].filename() == "5c90dfd2-34c22ccb.th");

  for (const char* f : {"f7e0c4bc-ba3fe64a.th", "d12395a8-e57c48e6.th", "92cfc3b6-ef3bcb9c.th",
                        "04573f0d-f3cf25b2.th"}) {
    touch(dir / f);
  }
  const ModelSpec ft = resolve_model("htdemucs_ft", dir.path());
  CHECK(ft.bag);
  REQUIRE(ft.files.size() == 4);
  CHECK(ft.files[0].filename() == "f7e0c4bc-ba3fe64a.th");
  CHECK(ft.files[1].filename() == "d12395a8-e57c48e6.th");
  CHECK(ft.files[2].filename() == "92cfc3b6-ef3bcb9c.th");
  CHECK(ft.files[3].filename() == "04573f0d-f3cf25b2.th");
  CHECK(ft.weights == kIdentity4);
  CHECK_FALSE(ft.segment.has_value());
}

TEST_CASE("model store: a local NAME.yaml overrides the built-in official table",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "955717e8-8726e21a.th");
  touch(dir / "htdemucs.yaml", "models: ['955717e8']\nsegment: 7\n");
  const ModelSpec spec = resolve_model("htdemucs", dir.path());
  REQUIRE(spec.segment.has_value());
  CHECK(*spec.segment == 7.0);
}

TEST_CASE("model store: missing official weights say how to fetch them", "[unit][model_store]") {
  rz::test::TempDir dir;
  const std::string msg = rz::test::input_error([&] { resolve_model("htdemucs", dir.path()); });
  CHECK(msg == "model 'htdemucs' not found in '" + dir.path().string() +
                   "': run rz-fetch-models htdemucs (or set RZ_MODEL_DIR or --model-dir)");
  CHECK(msg.find('\n') == std::string::npos);

  // A model directory that does not exist at all reads the same.
  const fs::path absent = dir / "absent";
  CHECK_THAT(rz::test::input_error([&] { resolve_model("htdemucs_6s", absent); }),
             Catch::Contains("run rz-fetch-models htdemucs_6s"));

  // Part of a bag present: the message names what is missing and still how to fetch it.
  touch(dir / "f7e0c4bc-ba3fe64a.th");
  const std::string partial =
      rz::test::input_error([&] { resolve_model("htdemucs_ft", dir.path()); });
  CHECK_THAT(partial, Catch::Contains("incomplete"));
  CHECK_THAT(partial, Catch::Contains("d12395a8-XXXXXXXX.th"));
  CHECK_THAT(partial, Catch::Contains("run rz-fetch-models htdemucs_ft"));
  CHECK_THAT(partial, !Catch::Contains("f7e0c4bc"));
}

TEST_CASE("model store: a bag of official members that are absent hints at the fetch script",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "htdemucs_ft.yaml", "models: ['f7e0c4bc', 'd12395a8', '92cfc3b6', '04573f0d']\n");
  const std::string msg = rz::test::input_error([&] { resolve_model("htdemucs_ft", dir.path()); });
  CHECK_THAT(msg, Catch::Contains("member 'f7e0c4bc' not found"));
  CHECK_THAT(msg, Catch::Contains("rz-fetch-models htdemucs_ft"));
}

TEST_CASE("model store: an unknown name lists the official names", "[unit][model_store]") {
  rz::test::TempDir dir;
  const std::string msg = rz::test::input_error([&] { resolve_model("htdemucs_xl", dir.path()); });
  CHECK_THAT(msg, Catch::StartsWith("unknown model 'htdemucs_xl'"));
  CHECK_THAT(msg, Catch::Contains("htdemucs, htdemucs_6s, htdemucs_ft"));
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(rz::demucs::official_model_names() ==
        std::vector<std::string>{"htdemucs", "htdemucs_6s", "htdemucs_ft"});
}

TEST_CASE("model store: two checkpoints for one name are ambiguous", "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "twice-00000001.th");
  touch(dir / "twice-00000002.th");
  const std::string msg = rz::test::input_error([&] { resolve_model("twice", dir.path()); });
  CHECK_THAT(msg, Catch::StartsWith("ambiguous model 'twice'"));
  CHECK_THAT(msg, Catch::Contains("twice-00000001.th, twice-00000002.th"));

  // NAME.th beside NAME-HASH.th is ambiguous as well, also for a bag member.
  rz::test::TempDir dir2;
  touch(dir2 / "memb.th");
  touch(dir2 / "memb-0000000a.th");
  touch(dir2 / "bag.yaml", "models: ['memb']\n");
  CHECK_THAT(rz::test::input_error([&] { resolve_model("bag", dir2.path()); }),
             Catch::StartsWith("ambiguous model 'memb'"));
}

TEST_CASE("model store: bag weight rows must match its models", "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "m1-00000001.th");
  touch(dir / "m2-00000002.th");
  touch(dir / "bad.yaml", "models: ['m1', 'm2']\nweights: [[1., 0.]]\n");
  const std::string msg = rz::test::input_error([&] { resolve_model("bad", dir.path()); });
  CHECK_THAT(msg, Catch::StartsWith("bad model bag '"));
  CHECK_THAT(msg, Catch::Contains("1 rows for 2 models"));
}

TEST_CASE("model store: a bag member that is absent is named", "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "m1-00000001.th");
  touch(dir / "bag.yaml", "models: ['m1', 'gone']\n");
  const std::string msg =
      rz::test::input_error([&] { resolve_model((dir / "bag.yaml").string(), "/x"); });
  CHECK_THAT(msg, Catch::Contains("member 'gone' not found in '" + dir.path().string() + "'"));
  CHECK_THAT(msg, !Catch::Contains("fetch-models"));
}

TEST_CASE("model store: bad paths are refused with one-line reasons", "[unit][model_store]") {
  rz::test::TempDir dir;
  CHECK_THAT(rz::test::input_error([&] { resolve_model((dir / "nope.th").string(), dir.path()); }),
             Catch::Contains("no such file"));
  CHECK_THAT(rz::test::input_error([&] { resolve_model(dir.path().string() + "/", dir.path()); }),
             Catch::Contains("is a directory"));
  touch(dir / "weights.bin");
  CHECK_THAT(
      rz::test::input_error([&] { resolve_model((dir / "weights.bin").string(), dir.path()); }),
      Catch::Contains("not a .th or .ckpt checkpoint or a .yaml bag"));
  CHECK_THAT(rz::test::input_error([&] { resolve_model("", dir.path()); }),
             Catch::Contains("empty name"));
}

TEST_CASE("model store: default model directory follows RZ_MODEL_DIR then XDG then HOME",
          "[unit][model_store]") {
  {
    ScopedEnv a("RZ_MODEL_DIR", "/models/here");
    CHECK(rz::demucs::default_model_dir() == fs::path("/models/here"));
  }
  ScopedEnv a("RZ_MODEL_DIR", nullptr);
  {
    ScopedEnv b("XDG_DATA_HOME", "/xdg/data");
    CHECK(rz::demucs::default_model_dir() == fs::path("/xdg/data/rz/models"));
  }
  ScopedEnv home("HOME", "/home/someone");
  {
    ScopedEnv b("XDG_DATA_HOME", "relative/ignored");  // the XDG spec says to ignore it
    CHECK(rz::demucs::default_model_dir() == fs::path("/home/someone/.local/share/rz/models"));
  }
  ScopedEnv b("XDG_DATA_HOME", nullptr);
  CHECK(rz::demucs::default_model_dir() == fs::path("/home/someone/.local/share/rz/models"));
}

TEST_CASE("model store: the shared tinybag resolves to two members with its weights",
          "[unit][model_store]") {
  const fs::path models = rz::test::require_shared("demucs/models");
  const ModelSpec spec = resolve_model("tinybag", models);
  CHECK(spec.name == "tinybag");
  CHECK(spec.bag);
  REQUIRE(spec.files.size() == 2);
  CHECK(spec.files[0] == models / "tinybg01-8f59cb43.th");
  CHECK(spec.files[1] == models / "tinybg02-b7d36bf9.th");
  CHECK(spec.weights == std::vector<std::vector<double>>{{1, 0, 1, 0}, {0, 1, 0, 1}});
  CHECK_FALSE(spec.segment.has_value());

  const ModelSpec by_path = resolve_model((models / "tinybag.yaml").string(), "/nonexistent");
  CHECK(by_path.files == spec.files);
  CHECK(by_path.weights == spec.weights);
}

TEST_CASE("model store: the shared tiny4000 resolves to its one checkpoint",
          "[unit][model_store]") {
  const fs::path models = rz::test::require_shared("demucs/models");
  const ModelSpec spec = resolve_model("tiny4000", models);
  CHECK(spec.name == "tiny4000");
  CHECK_FALSE(spec.bag);
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == models / "tiny4000-0421bf8f.th");
  CHECK(spec.weights.empty());
  // The shared directory holds no official weights: the message says how to get them.
  CHECK_THAT(rz::test::input_error([&] { resolve_model("htdemucs", models); }),
             Catch::Contains("run rz-fetch-models htdemucs"));
}

TEST_CASE("model store: a RoFormer is a .ckpt with its YAML beside it, by name or by path",
          "[unit][model_store]") {
  rz::test::TempDir dir;
  touch(dir / "crowd.ckpt");
  // No config beside it: refused with the option that gives one.
  CHECK_THAT(rz::test::input_error([&] { resolve_model("crowd", dir.path()); }),
             Catch::Contains("no config") && Catch::Contains("--model-config"));
  touch(dir / "crowd.yaml", "model: {}\n");
  // A .ckpt comes before a bag of the same name, and fetch-models.sh's record gives the type.
  rz::stems::write_text_file(dir / "crowd.manifest.json",
                             "{\"name\": \"crowd\", \"model_type\": \"mel_band_roformer\"}\n");
  const ModelSpec spec = resolve_model("crowd", dir.path());
  CHECK(spec.roformer);
  CHECK(spec.name == "crowd");
  CHECK(spec.files == std::vector<fs::path>{dir / "crowd.ckpt"});
  CHECK(spec.config == dir / "crowd.yaml");
  CHECK(spec.model_type == "mel_band_roformer");
  // By path, with a config given elsewhere.
  touch(dir / "other.yaml");
  const ModelSpec by_path =
      resolve_model((dir / "crowd.ckpt").string(), "/nowhere", dir / "other.yaml");
  CHECK(by_path.roformer);
  CHECK(by_path.config == dir / "other.yaml");
  // A RoFormer short name that is absent says how to fetch it.
  CHECK_THAT(rz::test::input_error([&] { resolve_model("dereverb", dir.path()); }),
             Catch::Contains("run rz-fetch-models dereverb"));
  CHECK(rz::demucs::roformer_model_names() ==
        std::vector<std::string>{"crowd", "denoise", "dereverb", "vocals-bs", "vocals-mel"});
}
