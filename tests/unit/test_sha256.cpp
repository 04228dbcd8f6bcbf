// Unit tests of rz::stems::Sha256: FIPS 180-4 / NIST example vectors, padding boundaries,
// streaming, for both the portable code and the SHA-NI code (where the CPU has it).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "rz/error.hpp"
#include "rz/stems/sha256.hpp"
#include "test_support.hpp"

namespace {

using rz::stems::Sha256;

// FIPS 180-2 appendix B / NIST CSRC "SHA256.pdf" example values.
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k448Bit = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* k896Bit = "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string hash_of(const std::string& text) {
  Sha256 sha;
  sha.update(text.data(), text.size());
  return sha.hex_digest();
}

// The same bytes fed in chunks whose sizes cycle through `sizes` (odd sizes straddle the 64-byte
// blocks and the 56-byte padding boundary in every possible way).
std::string hash_in_chunks(const std::string& text, const std::vector<size_t>& sizes) {
  Sha256 sha;
  size_t pos = 0;
  for (size_t i = 0; pos < text.size(); ++i) {
    const size_t n = std::min(sizes[i % sizes.size()], text.size() - pos);
    sha.update(text.data() + pos, n);
    pos += n;
  }
  return sha.hex_digest();
}

// Runs `body` with the portable code forced, then with the default choice (SHA-NI where present).
template <typename Body>
void for_each_implementation(Body body) {
  for (bool portable : {true, false}) {
    rz::stems::detail::sha256_force_portable(portable);
    const bool hardware = rz::stems::detail::sha256_uses_hardware();
    INFO((hardware ? "SHA-NI code" : "portable code"));
    body();
  }
  rz::stems::detail::sha256_force_portable(false);
}

}  // namespace

TEST_CASE("sha256: forcing the portable code", "[unit][sha256]") {
  rz::stems::detail::sha256_force_portable(true);
  CHECK_FALSE(rz::stems::detail::sha256_uses_hardware());
  rz::stems::detail::sha256_force_portable(false);
  // Without forcing, the hardware path is used exactly where the CPU has it; either way the vectors
  // below must hold. (Not a skip: the portable path is tested on every machine.)
  SUCCEED("uses hardware: " << rz::stems::detail::sha256_uses_hardware());
}

TEST_CASE("sha256: FIPS 180-4 example vectors", "[unit][sha256]") {
  for_each_implementation([] {
    CHECK(hash_of("") == kEmpty);
    CHECK(hash_of("abc") == kAbc);
    CHECK(hash_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == k448Bit);
    CHECK(hash_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                  "klmnopqrlmnopqrsmnopqrstnopqrstu") == k896Bit);
  });
}

TEST_CASE("sha256: one million 'a'", "[unit][sha256]") {
  const std::string million(1000000, 'a');
  for_each_implementation([&] {
    CHECK(hash_of(million) == kMillionA);
    // Streamed one byte at a time through the buffered path as well.
    Sha256 sha;
    for (char c : million) sha.update(&c, 1);
    CHECK(sha.hex_digest() == kMillionA);
  });
}

TEST_CASE("sha256: lengths around the padding boundaries", "[unit][sha256]") {
  // Reference values from coreutils sha256sum of n 'a' bytes. 55 bytes is the longest message whose
  // padding fits in one block; 56..63 need a second padding block; 64 is exactly one block.
  struct Case {
    size_t n;
    const char* hex;
  };
  const Case cases[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
  };
  for_each_implementation([&] {
    for (const Case& c : cases) {
      INFO("length " << c.n);
      CHECK(hash_of(std::string(c.n, 'a')) == c.hex);
    }
  });
}

TEST_CASE("sha256: streaming in odd-sized chunks equals one shot", "[unit][sha256]") {
  std::string data(5 * 256 + 37, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + 7) & 0xff);
  // Bytes 0..255 repeated 5 times; reference from Python's hashlib.
  std::string bytes;
  for (int r = 0; r < 5; ++r) {
    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  }
  for_each_implementation([&] {
    const std::string one_shot = hash_of(data);
    CHECK(hash_in_chunks(data, {1}) == one_shot);
    CHECK(hash_in_chunks(data, {3, 61, 7, 129, 1}) == one_shot);
    CHECK(hash_in_chunks(data, {63, 65}) == one_shot);
    CHECK(hash_in_chunks(data, {0, 55, 9, 200}) == one_shot);
    CHECK(hash_of(bytes) == "d414b085826eb06778483ba35564dc849e643359f69ed9747878ba6e54985bed");
    CHECK(hash_in_chunks(bytes, {17, 5}) ==
          "d414b085826eb06778483ba35564dc849e643359f69ed9747878ba6e54985bed");
  });
  // Both implementations agree on every prefix length of a pseudo-random message.
  std::vector<std::string> portable, hardware;
  for (bool force : {true, false}) {
    rz::stems::detail::sha256_force_portable(force);
    auto& out = force ? portable : hardware;
    for (size_t n = 0; n <= 300; n += 7) out.push_back(hash_of(data.substr(0, n)));
  }
  rz::stems::detail::sha256_force_portable(false);
  CHECK(portable == hardware);
}

TEST_CASE("sha256: digest bytes match the hex digest", "[unit][sha256]") {
  Sha256 sha;
  sha.update("abc", 3);
  const auto d = sha.digest();
  CHECK(d[0] == 0xba);
  CHECK(d[1] == 0x78);
  CHECK(d[30] == 0x15);
  CHECK(d[31] == 0xad);
}

TEST_CASE("sha256: sha256_file hashes a file's bytes", "[unit][sha256]") {
  rz::test::TempDir tmp;
  const auto path = tmp / "million.bin";
  const std::string million(1000000, 'a');
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fwrite(million.data(), 1, million.size(), f) == million.size());
  REQUIRE(std::fclose(f) == 0);
  const auto empty = tmp / "empty.bin";
  f = std::fopen(empty.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fclose(f) == 0);
  for_each_implementation([&] {
    CHECK(rz::stems::sha256_file(path) == kMillionA);
    CHECK(rz::stems::sha256_file(empty) == kEmpty);
  });
  CHECK_THROWS_AS(rz::stems::sha256_file(tmp / "absent.bin"), rz::IoError);
  CHECK_THROWS_AS(rz::stems::sha256_file(tmp.path()), rz::IoError);  // a directory is not a file
}
