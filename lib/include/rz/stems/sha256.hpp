// SHA-256 (FIPS 180-4) for stem and input hashes in manifests.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace rz::stems {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t bytes);
  std::array<uint8_t, 32> digest();  // finalises; the object must not be updated afterwards
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex SHA-256 of a file's bytes; throws IoError when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

// Copies `from` to `to` (a new file: an existing one is an error), hashing the bytes on the way;
// checks every write, the flush, fsync and close. Returns the lower-case hex SHA-256 and, when
// `bytes` is given, the size. Throws IoError.
std::string copy_file_sha256(const std::filesystem::path& from, const std::filesystem::path& to,
                             uint64_t* bytes = nullptr);

namespace detail {
// Tests only: run the portable code even where the CPU has SHA instructions.
void sha256_force_portable(bool portable);
bool sha256_uses_hardware();
}  // namespace detail

}  // namespace rz::stems
