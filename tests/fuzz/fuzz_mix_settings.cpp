// libFuzzer harness: rz-mix --settings, i.e. io::parse_json then rz::mix::Options::from_json.
// Settings it accepts must read back the same from what to_json writes (the manifest records
// them so).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "rz/io/json.hpp"
#include "rz/mix/mix.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rz::mix::Options;
  Options o;
  try {
    o = Options::from_json(
        rz::io::parse_json(rz::fuzz::text(data, size), "fuzz.json", "bad settings file"),
        "fuzz.json");
  } catch (const rz::Error& e) {
    rz::fuzz::check_refusal(e);
    return 0;
  }
  const nlohmann::json written = o.to_json();
  Options again;
  try {
    again = Options::from_json(
        rz::io::parse_json(rz::io::dump_json(written), "written", "bad settings file"), "written");
  } catch (const rz::Error& e) {
    rz::fuzz::fail(std::string("settings it accepted do not read back: ") + e.what());
  }
  rz::fuzz::require(again.to_json() == written, "settings change when written and read back");
  return 0;
}
