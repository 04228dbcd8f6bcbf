// Unit tests of rz-enhance's chains: stem kinds, presets, overrides, --only and intensity scaling.
#include <catch2/catch.hpp>
#include <cmath>

#include "rz/enhance/chain.hpp"
#include "rz/error.hpp"

namespace {

using rz::enhance::ChainParams;
using rz::enhance::Preset;
using rz::enhance::StemKind;

// Scaled values are products of a few doubles: equal to the closed form to rounding.
constexpr double kScaleTol = 1e-12;

double num(const ChainParams& c, const char* block, const char* key) {
  return c.at(block).at(key).get<double>();
}

}  // namespace

TEST_CASE("enhance chain: stem names map to kinds, unknown names to the mix subset",
          "[unit][enhance]") {
  CHECK(rz::enhance::stem_kind("vocals") == StemKind::kVocals);
  CHECK(rz::enhance::stem_kind("drums") == StemKind::kDrums);
  CHECK(rz::enhance::stem_kind("bass") == StemKind::kBass);
  CHECK(rz::enhance::stem_kind("guitar") == StemKind::kOther);
  CHECK(rz::enhance::stem_kind("piano") == StemKind::kOther);
  CHECK(rz::enhance::stem_kind("no_vocals") == StemKind::kOther);
  CHECK(rz::enhance::stem_kind("mix") == StemKind::kMix);
  CHECK(rz::enhance::stem_kind("crowd") == StemKind::kMix);
}

TEST_CASE("enhance chain: every kind has every block with a switch and validates",
          "[unit][enhance]") {
  for (auto kind :
       {StemKind::kVocals, StemKind::kDrums, StemKind::kBass, StemKind::kOther, StemKind::kMix}) {
    for (auto preset : {Preset::kConservative, Preset::kBalanced, Preset::kAggressive}) {
      const ChainParams c = rz::enhance::default_chain(kind, preset);
      INFO(rz::enhance::to_string(kind) << " " << rz::enhance::to_string(preset));
      for (const auto& b : rz::enhance::block_names()) {
        REQUIRE(c.contains(b));
        CHECK(c.at(b).at("enabled").is_boolean());
      }
      CHECK_NOTHROW(rz::enhance::validate_chain(c, "x", 44100));
    }
  }
  // Engineers' defaults: noise reduction on vocals, not on drums; transient shaping on drums.
  const auto vocals = rz::enhance::default_chain(StemKind::kVocals, Preset::kBalanced);
  const auto drums = rz::enhance::default_chain(StemKind::kDrums, Preset::kBalanced);
  CHECK(vocals["denoise"]["enabled"].get<bool>());
  CHECK_FALSE(drums["denoise"]["enabled"].get<bool>());
  CHECK(drums["transient"]["enabled"].get<bool>());
  CHECK(vocals["deess"]["enabled"].get<bool>());
}

TEST_CASE("enhance chain: presets scale the moves and shift the noise decision",
          "[unit][enhance]") {
  const auto c = rz::enhance::default_chain(StemKind::kVocals, Preset::kConservative);
  const auto b = rz::enhance::default_chain(StemKind::kVocals, Preset::kBalanced);
  const auto a = rz::enhance::default_chain(StemKind::kVocals, Preset::kAggressive);
  CHECK(num(c, "denoise", "strength_db") ==
        Approx(0.6 * num(b, "denoise", "strength_db")).epsilon(kScaleTol));
  CHECK(num(a, "denoise", "strength_db") ==
        Approx(1.4 * num(b, "denoise", "strength_db")).epsilon(kScaleTol));
  CHECK(num(c, "denoise", "max_snr_db") == Approx(num(b, "denoise", "max_snr_db") - 3));
  CHECK(num(a, "denoise", "max_snr_db") == Approx(num(b, "denoise", "max_snr_db") + 3));
  CHECK(num(a, "presence", "gain_db") > num(b, "presence", "gain_db"));
  CHECK(num(c, "compress", "ratio") < num(b, "compress", "ratio"));
}

TEST_CASE("enhance chain: intensity scales every move, 0 leaves no move", "[unit][enhance]") {
  auto c = rz::enhance::default_chain(StemKind::kVocals, Preset::kBalanced);
  const auto ref = c;
  rz::enhance::scale_moves(c, 0.5);
  CHECK(num(c, "denoise", "strength_db") ==
        Approx(0.5 * num(ref, "denoise", "strength_db")).epsilon(kScaleTol));
  CHECK(num(c, "presence", "gain_db") ==
        Approx(0.5 * num(ref, "presence", "gain_db")).epsilon(kScaleTol));
  CHECK(num(c, "compress", "ratio") ==
        Approx(1 + 0.5 * (num(ref, "compress", "ratio") - 1)).epsilon(kScaleTol));
  // High-pass corner halfway between 20 Hz and its value on a log scale.
  CHECK(num(c, "highpass", "freq_hz") ==
        Approx(20.0 * std::sqrt(num(ref, "highpass", "freq_hz") / 20.0)).epsilon(kScaleTol));
  auto z = ref;
  rz::enhance::scale_moves(z, 0.0);
  CHECK(num(z, "denoise", "strength_db") == 0.0);
  CHECK(num(z, "presence", "gain_db") == 0.0);
  CHECK(num(z, "deess", "max_cut_db") == 0.0);
  CHECK(num(z, "compress", "ratio") == 1.0);
  CHECK_THROWS_AS(rz::enhance::scale_moves(z, 1.5), rz::UsageError);
}

TEST_CASE("enhance chain: overrides set any parameter and refuse unknown ones", "[unit][enhance]") {
  auto c = rz::enhance::default_chain(StemKind::kMix, Preset::kBalanced);
  rz::enhance::apply_overrides(
      c, {{"denoise", {{"strength_db", 7.5}}}, {"exciter", {{"enabled", true}}}}, "cfg");
  CHECK(num(c, "denoise", "strength_db") == 7.5);
  CHECK(c["exciter"]["enabled"].get<bool>());
  CHECK_THROWS_WITH(rz::enhance::apply_overrides(c, {{"reverb", {{"x", 1}}}}, "cfg"),
                    Catch::Contains("unknown block"));
  CHECK_THROWS_WITH(rz::enhance::apply_overrides(c, {{"denoise", {{"strenght_db", 1}}}}, "cfg"),
                    Catch::Contains("denoise.strenght_db"));
  CHECK_THROWS_WITH(rz::enhance::apply_overrides(c, {{"denoise", {{"enabled", 1}}}}, "cfg"),
                    Catch::Contains("true or false"));
  // Keys from the file stay on one line in the message (found by tests/fuzz).
  CHECK_THROWS_WITH(rz::enhance::apply_overrides(c, {{"re\nverb", {{"x", 1}}}}, "cfg"),
                    Catch::StartsWith("unknown block 'cfg: re?verb': "));
  CHECK_THROWS_WITH(rz::enhance::apply_overrides(c, {{"denoise", {{"x\ny", 1}}}}, "cfg"),
                    Catch::StartsWith("unknown parameter 'cfg: denoise.x?y': "));
  auto bad = c;
  rz::enhance::apply_overrides(bad, {{"denoise", {{"strength_db", 80}}}}, "cfg");
  CHECK_THROWS_WITH(rz::enhance::validate_chain(bad, "vocals", 44100),
                    Catch::Contains("strength_db"));
}

TEST_CASE("enhance chain: --only disables every other block", "[unit][enhance]") {
  auto c = rz::enhance::default_chain(StemKind::kVocals, Preset::kBalanced);
  rz::enhance::restrict_blocks(c, {"denoise"});
  for (const auto& b : rz::enhance::block_names())
    CHECK(c[b]["enabled"].get<bool>() == (b == "denoise"));
  CHECK_THROWS_AS(rz::enhance::restrict_blocks(c, {"denoize"}), rz::UsageError);
}

TEST_CASE("enhance chain: every parameter is declared once, with a unit, a range and a meaning",
          "[unit][enhance]") {
  const auto& params = rz::enhance::chain_parameters();
  for (auto kind :
       {StemKind::kVocals, StemKind::kDrums, StemKind::kBass, StemKind::kOther, StemKind::kMix}) {
    const auto c = rz::enhance::default_chain(kind, Preset::kBalanced);
    size_t keys = 0;
    for (const auto& b : rz::enhance::block_names()) {
      for (const auto& [key, v] : c[b].items()) {
        INFO(b << "." << key);
        ++keys;
        size_t declared = 0;
        for (const auto& p : params) {
          if (p.block != b || p.key != key) continue;
          ++declared;
          CHECK(p.is_switch == v.is_boolean());
          CHECK_FALSE(p.meaning.empty());
          CHECK(p.min <= p.max);
          // The defaults lie inside their own range.
          if (!p.is_switch) CHECK((v.get<double>() >= p.min && v.get<double>() <= p.max));
        }
        CHECK(declared == 1);
      }
    }
    CHECK(keys == params.size());
  }
}

TEST_CASE("enhance chain: a value outside its declared range is named by block and key",
          "[unit][enhance]") {
  for (const auto& p : rz::enhance::chain_parameters()) {
    if (p.is_switch) continue;
    auto c = rz::enhance::default_chain(StemKind::kVocals, Preset::kBalanced);
    c[p.block][p.key] = p.max + 1000;
    INFO(p.block << "." << p.key);
    CHECK_THROWS_WITH(rz::enhance::validate_chain(c, "vocals", 192000),
                      Catch::Contains("bad " + p.block + " " + p.key));
  }
}
