// libFuzzer harness: rz::stems::Manifest::parse (bounded JSON, then the schema's validation). A
// manifest it accepts must survive the round trip every stage makes: written with to_json and
// io::dump_json, it parses again to the same document.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "rz/io/json.hpp"
#include "rz/stems/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rz::stems::Manifest;
  Manifest m;
  try {
    m = Manifest::parse(rz::fuzz::text(data, size), "fuzz/manifest.json");
  } catch (const rz::Error& e) {
    rz::fuzz::check_refusal_of<rz::InputError>(e);
    return 0;
  }
  const nlohmann::json written = m.to_json();
  const std::string dump = rz::io::dump_json(written, 2);
  Manifest again;
  try {
    again = Manifest::parse(dump, "fuzz/manifest.json (written again)");
  } catch (const rz::Error& e) {
    rz::fuzz::fail(std::string("a manifest it accepted does not read back: ") + e.what());
  }
  rz::fuzz::require(again.to_json() == written, "a manifest changes when written and read back");
  return 0;
}
