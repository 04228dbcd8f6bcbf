// Tests of rz::mix::Options: from_json (the reader of rz-mix --settings) and which stems play.
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/error.hpp"
#include "rz/mix/mix.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

using nlohmann::json;
using rz::mix::Options;

TEST_CASE("mix settings: read, written back and read again", "[unit][mix]") {
  const json j = json::parse(R"({"master_gain_db": -1,
      "stems": {"vocals": {"gain_db": 3, "pan": -0.2}, "drums": {"mute": true}}})");
  const Options o = Options::from_json(j, "mix.json");
  CHECK(o.master_gain_db == -1.0);
  REQUIRE(o.stems.size() == 2);
  CHECK(o.stems.at("vocals").gain_db == 3.0);
  CHECK(o.stems.at("vocals").pan == -0.2);
  CHECK(o.stems.at("drums").mute);
  CHECK(Options::from_json(o.to_json(), "again").to_json() == o.to_json());
}

TEST_CASE("mix settings: refusals name the key on one line", "[unit][mix]") {
  CHECK_THROWS_AS(Options::from_json(json::array(), "m.json"), rz::UsageError);
  CHECK_THROWS_WITH(Options::from_json({{"gain", 1}}, "m.json"),
                    "bad mix settings 'm.json': unknown key 'gain'");
  CHECK_THROWS_WITH(Options::from_json({{"stems", {{"vocals", {{"gian_db", 1}}}}}}, "m.json"),
                    "bad mix settings 'm.json': unknown key 'gian_db' for stem 'vocals'");
  CHECK_THROWS_WITH(Options::from_json({{"stems", {{"vo\ncals", 1}}}}, "m.json"),
                    "bad mix settings 'm.json': stem 'vo?cals' is not an object");
  // Found by tests/fuzz: names with a line break used to split the message.
  CHECK_THROWS_WITH(Options::from_json({{"stems", {{"v\no", {{"x\ny", 1}}}}}}, "m.json"),
                    "bad mix settings 'm.json': unknown key 'x?y' for stem 'v?o'");
  CHECK_THROWS_WITH(Options::from_json({{"stems", {{"vocals", {{"gain_db", "3"}}}}}}, "m.json"),
                    Catch::StartsWith("bad mix settings 'm.json': "));
}

TEST_CASE("mix settings: \"keep\" reads back and refuses what is not a list of names",
          "[unit][mix]") {
  const Options o = Options::from_json(json::parse(R"({"keep": ["crowd", "noise"]})"), "m.json");
  CHECK(o.keep == std::vector<std::string>{"crowd", "noise"});
  CHECK(Options::from_json(o.to_json(), "again").to_json() == o.to_json());
  CHECK_THROWS_WITH(Options::from_json({{"keep", "crowd"}}, "m.json"),
                    "bad mix settings 'm.json': \"keep\" is not an array");
  CHECK_THROWS_WITH(Options::from_json({{"keep", {1}}}, "m.json"),
                    "bad mix settings 'm.json': \"keep\" holds something not a name");
}

namespace {

// A committed stem directory at `dir` with stems instrumental, crowd and noise (1000 frames of
// stereo silence each), those named in `removed` with the role "removed".
rz::stems::StemDir removed_stems_dir(const std::filesystem::path& dir,
                                     const std::vector<std::string>& removed) {
  rz::stems::StemDirWriter w(dir, false);
  const std::vector<float> silence(2000, 0.0f);
  for (const std::string name : {"instrumental", "crowd", "noise"}) {
    auto writer = w.open_stem(name, 44100, 2);
    writer.write(silence.data(), 1000);
    writer.close();
    w.add_stem(name, 1000);
    if (std::find(removed.begin(), removed.end(), name) != removed.end())
      w.set_stem_role(name, rz::stems::kRoleRemoved);
  }
  w.manifest().sample_rate_hz = 44100;
  w.manifest().channels = 2;
  return rz::stems::StemDir::open(w.commit());
}

std::vector<std::string> playing(const rz::stems::StemDir& dir, const Options& o) {
  std::vector<std::string> names;
  for (const auto& g : rz::mix::resolve_gains(dir, o)) names.push_back(g.name);
  return names;
}

}  // namespace

TEST_CASE("mix: removed stems are left out unless kept or soloed", "[unit][mix]") {
  rz::test::TempDir tmp;
  const auto dir = removed_stems_dir(tmp / "sep", {"crowd", "noise"});
  using V = std::vector<std::string>;

  Options o;
  o.validate(dir);
  CHECK(playing(dir, o) == V{"instrumental"});
  CHECK(rz::mix::left_out_removed(dir, o) == V{"crowd", "noise"});
  rz::stage::StageReport rep;
  rz::mix::note_left_out(rz::mix::left_out_removed(dir, o), rep);
  CHECK(rep.notes == V{"crowd: removed stem, left out (--keep crowd brings it in)",
                       "noise: removed stem, left out (--keep noise brings it in)"});

  o.keep = {"crowd"};
  o.stems["crowd"].gain_db = -12;  // a kept removed stem takes a gain like any other
  o.validate(dir);
  CHECK(playing(dir, o) == V{"instrumental", "crowd"});
  CHECK(rz::mix::left_out_removed(dir, o) == V{"noise"});

  Options solo;  // soloing is an explicit choice: it plays without --keep
  solo.stems["noise"].solo = true;
  solo.validate(dir);
  CHECK(playing(dir, solo) == V{"noise"});
  // The solo keeps crowd out anyway: no note that --keep would bring it in.
  CHECK(rz::mix::left_out_removed(dir, solo).empty());
  Options muted;
  muted.stems["crowd"].mute = true;
  CHECK(rz::mix::left_out_removed(dir, muted) == V{"noise"});

  Options bad;
  bad.keep = {"drums"};
  CHECK_THROWS_WITH(bad.validate(dir), Catch::StartsWith("no such stem 'drums': "));
  bad.keep = {"instrumental"};
  CHECK_THROWS_WITH(bad.validate(dir), Catch::StartsWith("bad --keep 'instrumental': not a "
                                                         "removed stem"));
  bad.keep.clear();
  bad.stems["crowd"].gain_db = -6;  // would be dropped without a word
  CHECK_THROWS_WITH(bad.validate(dir),
                    "stem left out 'crowd': a removed stem is not mixed in; add --keep crowd to "
                    "set its gain or pan");
  bad.stems.clear();
  bad.stems["crowd"].mute = true;  // muting what is left out anyway is harmless
  CHECK_NOTHROW(bad.validate(dir));
}

TEST_CASE("mix: a directory of removed stems only needs --keep", "[unit][mix]") {
  rz::test::TempDir tmp;
  const auto dir = removed_stems_dir(tmp / "sep", {"instrumental", "crowd", "noise"});
  Options o;
  CHECK_THROWS_AS(o.validate(dir), rz::UsageError);
  CHECK_THROWS_WITH(o.validate(dir),
                    Catch::StartsWith("nothing to mix '") &&
                        Catch::EndsWith("': every stem is removed (instrumental, crowd, noise); "
                                        "--keep NAME brings one in"));
  o.keep = {"instrumental"};
  CHECK_NOTHROW(o.validate(dir));
  CHECK(playing(dir, o) == std::vector<std::string>{"instrumental"});
}
