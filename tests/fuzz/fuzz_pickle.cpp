// libFuzzer harness: the pickle machine and tensor loader of rz::demucs::read_checkpoint. The
// input is archive/data.pkl of a valid torch.save zip that also holds three small storages
// (archive/data/0: 16 float32, archive/data/1: 16 float16, archive/data/2: 8 float64), so the
// fuzzer's time goes to the pickle rather than to the zip structure around it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "th_writer.hpp"

namespace {

// `n` values i / 4 - 1 of `bytes` each, little-endian.
std::string storage(int n, int bytes) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    const double v = i / 4.0 - 1.0;
    uint64_t bits = 0;
    if (bytes == 8) {
      std::memcpy(&bits, &v, 8);
    } else if (bytes == 4) {
      const float f = static_cast<float>(v);
      uint32_t b32 = 0;
      std::memcpy(&b32, &f, 4);
      bits = b32;
    } else {
      // Quarter steps in -1..3 are exact in binary16: sign, exponent, 10 mantissa bits.
      const float f = static_cast<float>(v);
      uint32_t b32 = 0;
      std::memcpy(&b32, &f, 4);
      const uint32_t sign = (b32 >> 16) & 0x8000u;
      const int exponent = static_cast<int>((b32 >> 23) & 0xff) - 127 + 15;
      bits = f == 0 ? sign : sign | (static_cast<uint32_t>(exponent) << 10) | ((b32 >> 13) & 0x3ff);
    }
    s += rz::test::th::le(bits, bytes);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace th = rz::test::th;
  static const std::vector<th::ZipEntryIn> fixed = {
      {"archive/data/0", storage(16, 4), 0, false, 64},
      {"archive/data/1", storage(16, 2), 0, false, 64},
      {"archive/data/2", storage(8, 8), 0, false, 64},
      {"archive/byteorder", "little", 0, false, 0},
      {"archive/version", "3\n", 0, false, 0},
  };
  // data.pkl comes first: torch.load takes the archive's folder from the first entry.
  std::vector<th::ZipEntryIn> entries = {
      {"archive/data.pkl", std::string(rz::fuzz::text(data, size)), 0, false, 64}};
  entries.insert(entries.end(), fixed.begin(), fixed.end());
  const rz::fuzz::ScratchFile file("input.th", nullptr, 0);
  th::write_zip(file.path(), entries, /*zip64=*/true);
  rz::fuzz::read_checkpoint_checked(file.path());
  return 0;
}
