// Tests of rz::mix::Options::from_json, the reader of rz-mix --settings.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "rz/error.hpp"
#include "rz/mix/mix.hpp"

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
