// libFuzzer harness: rz::demucs::parse_bag, the YAML subset of demucs' bag-of-models files, and
// the invariants of the Bag it returns.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "rz/demucs/bag.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rz::fuzz::require;
  rz::demucs::Bag bag;
  try {
    bag = rz::demucs::parse_bag(std::string(rz::fuzz::text(data, size)), "fuzz.yaml");
  } catch (const rz::Error& e) {
    rz::fuzz::check_refusal_of<rz::InputError>(e);
    return 0;
  }
  require(!bag.models.empty(), "accepted a bag without models");
  for (const auto& name : bag.models) require(!name.empty(), "accepted an empty model name");
  if (!bag.weights.empty()) {
    require(bag.weights.size() == bag.models.size(), "one row of weights per model");
    for (const auto& row : bag.weights) {
      require(!row.empty() && row.size() == bag.weights[0].size(), "rows of weights differ");
      for (const double w : row) require(w >= 0 && w <= 1000, "weight outside 0..1000");
    }
  }
  if (bag.segment) {
    require(std::isfinite(*bag.segment) && *bag.segment > 0, "segment not a positive number");
  }
  return 0;
}
