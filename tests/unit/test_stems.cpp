// Unit tests of rz::stems: manifest schema, atomic stem-directory creation and checked opening.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::stems::Manifest;
using rz::stems::StemDir;
using rz::stems::StemDirWriter;
using rz::stems::StemEntry;
using rz::stems::Verify;

namespace {

constexpr int kRate = 44100;
constexpr int kChannels = 2;
constexpr int64_t kFrames = 4410;

Manifest example_manifest() {
  Manifest m;
  m.sample_rate_hz = 48000;
  m.channels = 2;
  m.frames = 96000;
  m.stems.push_back({"mix", "mix.wav", "wav/float32", 96000, 768044, std::string(64, 'a'), ""});
  m.stems.push_back({"crowd", "crowd.wav", "wav/float32", 96000, 768044, std::string(64, 'b'),
                     rz::stems::kRoleRemoved});
  m.source = {{"path", "gig.mp3"}, {"sha256", std::string(64, 'c')}};
  m.analysis = {{"integrated_lufs", -18.5}};
  m.history = json::array({{{"tool", "rz-ingest"}, {"version", "0.1.0"}}});
  return m;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// Commits a stem directory at `dir` holding the stems named (float32 noise, kFrames frames).
fs::path make_stem_dir(const fs::path& dir, const std::vector<std::string>& names,
                       bool force = false) {
  StemDirWriter w(dir, force);
  uint64_t seed = 1;
  for (const auto& name : names) {
    auto writer = w.open_stem(name, kRate, kChannels);
    const auto x = rz::test::white_noise(0.1, kFrames, kChannels, seed++);
    writer.write(x.data(), kFrames);
    writer.close();
    w.add_stem(name, kFrames);
  }
  w.manifest().sample_rate_hz = kRate;
  w.manifest().channels = kChannels;
  w.manifest().history.push_back({{"tool", "test"}});
  return w.commit();
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  json j;
  in >> j;
  return j;
}

void write_json(const fs::path& p, const json& j) { rz::stems::write_text_file(p, j.dump(2)); }

}  // namespace

TEST_CASE("stems: manifest to_json / from_json round trip", "[unit][stems]") {
  const Manifest m = example_manifest();
  const json j = m.to_json();
  CHECK(j.at("schema") == "rz-manifest");
  CHECK(j.at("schema_version") == rz::stems::kSchemaVersion);
  CHECK(j.at("duration_s").get<double>() == 2.0);  // 96000 / 48000, exact
  const Manifest back = Manifest::from_json(j, "test");
  CHECK(back.sample_rate_hz == m.sample_rate_hz);
  CHECK(back.channels == m.channels);
  CHECK(back.frames == m.frames);
  REQUIRE(back.stems.size() == 2);
  // The role is written only when set: a manifest without roles stays as it was.
  CHECK_FALSE(j.at("stems")[0].contains("role"));
  CHECK(j.at("stems")[1].at("role") == "removed");
  CHECK_FALSE(back.stems[0].removed());
  CHECK(back.stems[1].removed());
  for (size_t i = 0; i < 2; ++i) {
    CHECK(back.stems[i].name == m.stems[i].name);
    CHECK(back.stems[i].file == m.stems[i].file);
    CHECK(back.stems[i].format == m.stems[i].format);
    CHECK(back.stems[i].frames == m.stems[i].frames);
    CHECK(back.stems[i].bytes == m.stems[i].bytes);
    CHECK(back.stems[i].sha256 == m.stems[i].sha256);
    CHECK(back.stems[i].role == m.stems[i].role);
  }
  CHECK(back.source == m.source);
  CHECK(back.analysis == m.analysis);
  CHECK(back.history == m.history);
  CHECK(back.to_json() == j);  // and round again
  REQUIRE(back.find("crowd") != nullptr);
  CHECK(back.find("crowd")->file == "crowd.wav");
  CHECK(back.find("drums") == nullptr);
}

TEST_CASE("stems: from_json rejects invalid manifests with InputError", "[unit][stems]") {
  const json good = example_manifest().to_json();
  auto rejects = [](const json& j) {
    CHECK_THROWS_AS(Manifest::from_json(j, "manifest.json"), rz::InputError);
  };
  for (const char* key :
       {"schema", "schema_version", "sample_rate_hz", "channels", "frames", "stems"}) {
    INFO("missing " << key);
    json j = good;
    j.erase(key);
    rejects(j);
  }
  for (const char* key : {"name", "file", "frames"}) {
    INFO("stem missing " << key);
    json j = good;
    j["stems"][0].erase(key);
    rejects(j);
  }
  {
    INFO("wrong schema_version");
    json j = good;
    j["schema_version"] = rz::stems::kSchemaVersion + 1;
    CHECK_THROWS_WITH(Manifest::from_json(j, "m.json"), Catch::Contains("schema_version"));
    rejects(j);
  }
  {
    INFO("wrong schema name");
    json j = good;
    j["schema"] = "something-else";
    rejects(j);
  }
  {
    INFO("duplicate stem names");
    json j = good;
    j["stems"][1]["name"] = "mix";
    j["stems"][1]["file"] = "mix2.wav";
    CHECK_THROWS_WITH(Manifest::from_json(j, "m.json"), Catch::Contains("twice"));
    rejects(j);
  }
  for (const char* file : {"sub/mix.wav", "../mix.wav", "/abs.wav", "..", ".", ""}) {
    INFO("file name '" << file << "'");
    json j = good;
    j["stems"][0]["file"] = file;
    rejects(j);
  }
  {
    INFO("wrong types and values");
    json j = good;
    j["sample_rate_hz"] = "48000";
    rejects(j);
    j = good;
    j["channels"] = 0;
    rejects(j);
    j = good;
    j["frames"] = -1;
    rejects(j);
    j = good;
    j["stems"] = json::array();
    rejects(j);
    j = good;
    j["history"] = json::object();
    rejects(j);
    rejects(json::array());
    rejects(json("text"));
  }
  {
    INFO("roles: only \"removed\", absent for an ordinary stem");
    json j = good;
    j["stems"][0]["role"] = "crowd";
    CHECK_THROWS_WITH(Manifest::from_json(j, "m.json"),
                      "invalid manifest 'm.json': stem 'mix' has role 'crowd', which is not a "
                      "known role (known: \"removed\")");
    rejects(j);
    j["stems"][0]["role"] = "";
    CHECK_THROWS_WITH(Manifest::from_json(j, "m.json"), Catch::Contains("empty role"));
    j["stems"][0]["role"] = 1;
    CHECK_THROWS_WITH(Manifest::from_json(j, "m.json"), Catch::Contains("'role'"));
    j["stems"][0]["role"] = "Removed";  // exact spelling: a role decides what is heard
    rejects(j);
  }
  // The subject names the file in the message.
  json j = good;
  j.erase("frames");
  CHECK_THROWS_WITH(Manifest::from_json(j, "/some/manifest.json"),
                    Catch::Contains("/some/manifest.json") && Catch::Contains("frames"));
}

TEST_CASE("stems: StemDirWriter destroyed without commit leaves nothing", "[unit][stems]") {
  rz::test::TempDir tmp;
  {
    StemDirWriter w(tmp / "out", false);
    CHECK(w.final_path() == tmp / "out");
    auto writer = w.open_stem("mix", kRate, kChannels);
    const auto x = rz::test::white_noise(0.1, kFrames, kChannels, 1);
    writer.write(x.data(), kFrames);
    writer.close();
    w.add_stem("mix", kFrames);
    // Work happens in a hidden sibling, not at the final path.
    CHECK(fs::exists(w.stem_file_path("mix")));
    CHECK(w.stem_file_path("mix").parent_path().parent_path() == tmp.path());
    CHECK(w.stem_file_path("mix").parent_path().filename().string().rfind(".out.rz-tmp-", 0) == 0);
    CHECK_FALSE(fs::exists(tmp / "out"));
  }
  CHECK(entries(tmp.path()).empty());
}

TEST_CASE("stems: commit creates the directory with manifest.json", "[unit][stems]") {
  rz::test::TempDir tmp;
  const fs::path out = make_stem_dir(tmp / "gig.stems", {"mix", "vocals"});
  CHECK(out == tmp / "gig.stems");
  CHECK(entries(tmp.path()) == std::vector<std::string>{"gig.stems"});  // no temporary left
  CHECK(fs::is_regular_file(out / "manifest.json"));
  CHECK(fs::is_regular_file(out / "mix.wav"));
  CHECK(fs::is_regular_file(out / "vocals.wav"));

  const json j = read_json(out / "manifest.json");
  const Manifest m = Manifest::from_json(j, "manifest.json");
  CHECK(m.sample_rate_hz == kRate);
  CHECK(m.channels == kChannels);
  CHECK(m.frames == kFrames);
  REQUIRE(m.stems.size() == 2);
  CHECK(m.stems[0].name == "mix");
  CHECK(m.stems[0].file == "mix.wav");
  CHECK(m.stems[0].format == "wav/float32");
  CHECK(m.stems[0].frames == kFrames);
  CHECK(m.stems[0].bytes == fs::file_size(out / "mix.wav"));
  CHECK(m.stems[0].sha256 == rz::stems::sha256_file(out / "mix.wav"));

  const StemDir d = StemDir::open(out, Verify::kHashes);
  CHECK(d.path() == out);
  CHECK(d.manifest().stems.size() == 2);
  CHECK(d.stem("vocals").file == "vocals.wav");
  CHECK(d.stem_path(d.stem("mix")) == out / "mix.wav");
  CHECK_THROWS_AS(d.stem("drums"), rz::UsageError);
  // A name from a settings file stays on one line (found by tests/fuzz).
  CHECK_THROWS_WITH(d.stem("dr\nums"), Catch::StartsWith("no such stem 'dr?ums': "));
  const auto x = rz::test::read_all(d.stem_path(d.stem("mix")));
  CHECK(x == rz::test::white_noise(0.1, kFrames, kChannels, 1));  // the samples written
}

TEST_CASE("stems: a stem's role is set by its writer, carried by copy_stem, absent otherwise",
          "[unit][stems]") {
  rz::test::TempDir tmp;
  const fs::path plain = make_stem_dir(tmp / "plain", {"mix"});
  // A manifest without roles reads and writes back byte for byte.
  const std::string text = rz::io::read_file(plain / "manifest.json", rz::stems::kMaxManifestBytes,
                                             "manifest", "invalid manifest");
  CHECK(text.find("\"role\"") == std::string::npos);
  const Manifest m = Manifest::parse(text, "manifest.json");
  CHECK(rz::io::dump_json(m.to_json(), 2) + "\n" == text);

  {
    StemDirWriter w(tmp / "sep", false);
    for (const std::string name : {"instrumental", "crowd"}) {
      auto writer = w.open_stem(name, kRate, kChannels);
      const auto x = rz::test::white_noise(0.1, kFrames, kChannels, 7);
      writer.write(x.data(), kFrames);
      writer.close();
      w.add_stem(name, kFrames);
    }
    w.set_stem_role("crowd", rz::stems::kRoleRemoved);
    CHECK_THROWS_AS(w.set_stem_role("drums", rz::stems::kRoleRemoved), rz::Error);
    CHECK_THROWS_WITH(w.set_stem_role("crowd", "noise"), Catch::StartsWith("bad stem role"));
    CHECK(w.manifest().find("crowd")->removed());  // a refused role changes nothing
    w.manifest().sample_rate_hz = kRate;
    w.manifest().channels = kChannels;
    w.commit();
  }
  const StemDir sep = StemDir::open(tmp / "sep", Verify::kHashes);
  CHECK_FALSE(sep.stem("instrumental").removed());
  CHECK(sep.stem("crowd").role == "removed");

  StemDirWriter w(tmp / "copy", false);
  for (const auto& stem : sep.manifest().stems) rz::stems::copy_stem(w, stem, sep.stem_path(stem));
  w.manifest().inherit(sep.manifest());
  w.commit();
  const StemDir copy = StemDir::open(tmp / "copy", Verify::kHashes);
  CHECK(copy.stem("crowd").removed());
  CHECK(copy.stem("crowd").sha256 == sep.stem("crowd").sha256);
  CHECK_FALSE(copy.stem("instrumental").removed());
}

TEST_CASE("stems: an existing output needs force", "[unit][stems]") {
  rz::test::TempDir tmp;
  make_stem_dir(tmp / "out", {"mix"});
  CHECK_THROWS_AS(StemDirWriter(tmp / "out", false), rz::IoError);
  CHECK(entries(tmp.path()) == std::vector<std::string>{"out"});  // refused: nothing created
  std::ofstream(tmp / "out" / "stale.txt") << "old";

  make_stem_dir(tmp / "out", {"bass", "drums"}, /*force=*/true);
  CHECK(entries(tmp.path()) == std::vector<std::string>{"out"});
  CHECK_FALSE(fs::exists(tmp / "out" / "stale.txt"));  // replaced, not merged
  CHECK_FALSE(fs::exists(tmp / "out" / "mix.wav"));
  const StemDir d = StemDir::open(tmp / "out", Verify::kHashes);
  REQUIRE(d.manifest().stems.size() == 2);
  CHECK(d.manifest().stems[0].name == "bass");

  // A plain file in the way is refused even with force.
  std::ofstream(tmp / "file") << "x";
  CHECK_THROWS_AS(StemDirWriter(tmp / "file", true), rz::IoError);
  // A missing parent directory is an IoError.
  CHECK_THROWS_AS(StemDirWriter(tmp / "no" / "parent", false), rz::IoError);
}

TEST_CASE("stems: StemDir::open reports each kind of damage", "[unit][stems]") {
  rz::test::TempDir tmp;
  const fs::path good = make_stem_dir(tmp / "good", {"mix"});
  const json manifest = read_json(good / "manifest.json");
  // A fresh copy of the good directory to damage.
  int copies = 0;
  auto copy = [&]() {
    const fs::path p = tmp / ("case" + std::to_string(copies++));
    fs::copy(good, p);
    return p;
  };

  CHECK_NOTHROW(StemDir::open(good, Verify::kHashes));
  CHECK_THROWS_AS(StemDir::open(tmp / "absent"), rz::InputError);
  std::ofstream(tmp / "plain") << "x";
  CHECK_THROWS_AS(StemDir::open(tmp / "plain"), rz::InputError);

  SECTION("no manifest") {
    const fs::path d = copy();
    fs::remove(d / "manifest.json");
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("manifest.json"));
  }
  SECTION("invalid JSON") {
    const fs::path d = copy();
    rz::stems::write_text_file(d / "manifest.json", "{\"schema\": \"rz-manifest\", ");
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("JSON"));
  }
  SECTION("missing stem file") {
    const fs::path d = copy();
    fs::remove(d / "mix.wav");
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("mix.wav"));
  }
  SECTION("stem size disagrees") {
    const fs::path d = copy();
    json j = manifest;
    j["stems"][0]["bytes"] = j["stems"][0]["bytes"].get<uint64_t>() + 1;
    write_json(d / "manifest.json", j);
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
  }
  SECTION("sample rate disagrees") {
    const fs::path d = copy();
    json j = manifest;
    j["sample_rate_hz"] = 48000;
    write_json(d / "manifest.json", j);
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("44100 Hz"));
  }
  SECTION("channels disagree") {
    const fs::path d = copy();
    json j = manifest;
    j["channels"] = 1;
    write_json(d / "manifest.json", j);
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("channels"));
  }
  SECTION("stem frames disagree") {
    const fs::path d = copy();
    json j = manifest;
    j["stems"][0]["frames"] = kFrames + 1;
    write_json(d / "manifest.json", j);
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d), Catch::Contains("frames"));
  }
  SECTION("stem of another rate with the same size") {
    // A WAV of the same layout at 48 kHz: same byte count, so only the rate check can catch it.
    const fs::path d = copy();
    const auto x = rz::test::read_all(d / "mix.wav");
    rz::test::write_wav(d / "mix.wav", x, 48000, kChannels);
    CHECK(fs::file_size(d / "mix.wav") == fs::file_size(good / "mix.wav"));
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
  }
  SECTION("stem content changed: only the hash check sees it") {
    const fs::path d = copy();
    {
      std::fstream f(d / "mix.wav", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-4, std::ios::end);  // the last float sample
      const float v = 0.123f;
      f.write(reinterpret_cast<const char*>(&v), sizeof v);
      REQUIRE(f.good());
    }
    CHECK_NOTHROW(StemDir::open(d, Verify::kHeaders));
    CHECK_THROWS_AS(StemDir::open(d, Verify::kHashes), rz::InputError);
    CHECK_THROWS_WITH(StemDir::open(d, Verify::kHashes), Catch::Contains("SHA-256"));
  }
  SECTION("manifest with a bad stem file name") {
    const fs::path d = copy();
    json j = manifest;
    j["stems"][0]["file"] = "../good/mix.wav";
    write_json(d / "manifest.json", j);
    CHECK_THROWS_AS(StemDir::open(d), rz::InputError);
  }
}

TEST_CASE("stems: default_output naming", "[unit][stems]") {
  using rz::stems::default_output;
  CHECK(default_output("gig.stems", "sep") == fs::path("gig.stems.sep"));
  CHECK(default_output("a/b/gig.stems/", "mix") == fs::path("a/b/gig.stems.mix"));
  CHECK(default_output("gig.mp3", "stems", true) == fs::path("gig.stems"));
  CHECK(default_output("rec/gig.mp3", "stems", true) == fs::path("rec/gig.stems"));
  CHECK(default_output("gig.mp3", "stems", false) == fs::path("gig.mp3.stems"));
}

TEST_CASE("stems: AtomicFile appears only on commit", "[unit][stems]") {
  rz::test::TempDir tmp;
  {
    rz::stems::AtomicFile f(tmp / "out.wav", false);
    CHECK(f.final_path() == tmp / "out.wav");
    CHECK(f.temp_path().parent_path() == tmp.path());
    CHECK(f.temp_path() != f.final_path());
    rz::stems::write_text_file(f.temp_path(), "draft");
    CHECK_FALSE(fs::exists(tmp / "out.wav"));
  }
  CHECK(entries(tmp.path()).empty());  // uncommitted: the temporary is gone

  {
    rz::stems::AtomicFile f(tmp / "out.wav", false);
    rz::stems::write_text_file(f.temp_path(), "final");
    f.commit();
  }
  CHECK(entries(tmp.path()) == std::vector<std::string>{"out.wav"});
  CHECK(rz::stems::sha256_file(tmp / "out.wav") == [] {
    rz::stems::Sha256 s;
    s.update("final", 5);
    return s.hex_digest();
  }());
  CHECK_THROWS_AS(rz::stems::AtomicFile(tmp / "out.wav", false), rz::IoError);
  {
    rz::stems::AtomicFile f(tmp / "out.wav", true);
    rz::stems::write_text_file(f.temp_path(), "replaced");
    f.commit();
  }
  std::ifstream in(tmp / "out.wav");
  std::string text;
  in >> text;
  CHECK(text == "replaced");
  fs::create_directory(tmp / "adir");
  CHECK_THROWS_AS(rz::stems::AtomicFile(tmp / "adir", true), rz::IoError);
}

TEST_CASE("stems: write_text_file reports failures", "[unit][stems]") {
  rz::test::TempDir tmp;
  CHECK_THROWS_AS(rz::stems::write_text_file(tmp / "missing" / "x.json", "{}"), rz::IoError);
  rz::stems::write_text_file(tmp / "x.json", "{}\n");
  CHECK(fs::file_size(tmp / "x.json") == 3);
}
