// The SHA-NI path of Sha256 must agree with the portable code on every length and split. A CPU
// without SHA-NI (or not x86) has nothing to compare: the test is a visible skip there. Hidden
// ([.]) so that a plain run of rz-unit-tests is not ended by that skip; ctest runs it as an entry
// of its own (tests/CMakeLists.txt).
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "rz/stems/sha256.hpp"
#include "test_support.hpp"

namespace {

std::string digest(const std::vector<uint8_t>& data, size_t length, size_t chunk, bool portable) {
  rz::stems::detail::sha256_force_portable(portable);
  rz::stems::Sha256 sha;
  for (size_t at = 0; at < length; at += chunk)
    sha.update(data.data() + at, std::min(chunk, length - at));
  std::string hex = sha.hex_digest();
  rz::stems::detail::sha256_force_portable(false);
  return hex;
}

}  // namespace

TEST_CASE("sha256: the SHA-NI code agrees with the portable code", "[.][sha_ni]") {
  if (!rz::stems::detail::sha256_uses_hardware()) {
    rz::test::skip(
        "this CPU has no SHA-NI instructions (x86 SHA extensions with SSE4.1 and "
        "SSSE3): only the portable code runs here, and the other sha256 tests cover it");
  }
  std::mt19937 rng(7);
  std::vector<uint8_t> data(70000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  // Lengths around the 64-byte block and the 56-byte padding boundary, and a multi-block run.
  for (size_t length : {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 70000}) {
    for (size_t chunk : {1, 63, 64, 4096}) {
      CAPTURE(length, chunk);
      REQUIRE(digest(data, length, chunk, false) == digest(data, length, chunk, true));
    }
  }
  // And both give the FIPS 180-4 value for "abc".
  const std::vector<uint8_t> abc = {'a', 'b', 'c'};
  const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  REQUIRE(digest(abc, 3, 3, false) == kAbc);
  REQUIRE(digest(abc, 3, 3, true) == kAbc);
}
