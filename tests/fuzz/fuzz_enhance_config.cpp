// libFuzzer harness: rz-enhance --config, i.e. io::parse_json then what Options::validate does
// with it for a directory of the stems vocals, drums, bass, other and mix at 44.1 kHz: the
// top-level keys must be "*" or a stem, and every stem's chain (defaults of its kind and preset,
// the overrides, intensity) must pass validate_chain. Every preset, at full and half intensity.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "rz/enhance/enhance.hpp"
#include "rz/io/json.hpp"

namespace {

const char* const kStems[] = {"vocals", "drums", "bass", "other", "mix"};
// A common rate, and the lowest a stem directory runs at (where bands above 4 kHz are left out).
constexpr double kSampleRatesHz[] = {44100, 8000};

bool known_key(const std::string& key) {
  if (key == "*") return true;
  for (const char* s : kStems) {
    if (key == s) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rz::enhance::Options o;
  try {
    o.config = rz::io::parse_json(rz::fuzz::text(data, size), "fuzz.json", "bad settings file");
  } catch (const rz::Error& e) {
    rz::fuzz::check_refusal_of<rz::InputError>(e);
    return 0;
  }
  // Options::validate's own checks of the document (it needs a StemDir for the rest).
  if (!o.config.is_object()) return 0;
  for (const auto& item : o.config.items()) {
    if (!known_key(item.key())) return 0;
  }
  for (const auto preset : {rz::enhance::Preset::kConservative, rz::enhance::Preset::kBalanced,
                            rz::enhance::Preset::kAggressive}) {
    for (const double intensity : {1.0, 0.5}) {
      o.preset = preset;
      o.intensity = intensity;
      for (const char* stem : kStems) {
        for (const double rate : kSampleRatesHz) {
          try {
            rz::enhance::validate_chain(rz::enhance::resolve_chain(stem, o, rate).params, stem,
                                        rate);
          } catch (const rz::Error& e) {
            rz::fuzz::check_refusal_of<rz::UsageError>(e);
          }
        }
      }
    }
  }
  return 0;
}
