// Reader of zip archives as torch.save writes them (stored entries, zip64 records), by offset, so
// that an 84 MB checkpoint is never held in memory whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "rz/io/file.hpp"

namespace rz::formats {

// A regular file read by offset. Failures throw rz::InputError ("bad checkpoint ...").
class File {
 public:
  // A FIFO or device in the checkpoint's place is refused without blocking (io::open_regular).
  explicit File(const std::filesystem::path& path);

  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Exactly `bytes` at `offset`. The zip reader checks ranges first, so a short read means the
  // file changed underneath.
  void read_at(uint64_t offset, void* dst, size_t bytes) const;

 private:
  std::filesystem::path path_;
  uint64_t size_ = 0;
  io::Fd fd_;
};

// CRC-32 (IEEE 802.3, reflected, as zip uses), slicing by 8 so that checking 84 MB stays cheap.
uint32_t crc32(const std::vector<uint8_t>& bytes);

struct ZipEntry {
  uint64_t data_offset = 0;
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

// Zip directory (APPNOTE 6.3): end-of-central-directory record, its zip64 variant, central
// directory, local headers. Only stored (uncompressed), unencrypted, single-disk archives: what
// torch.save writes. Every failure throws rz::InputError ("bad checkpoint '<path>': <reason>").
class ZipArchive {
 public:
  // Reads the directory; `file` must outlive the archive.
  explicit ZipArchive(const File& file);

  // The folder that holds data.pkl: "archive" for files saved to a buffer (demucs), the file's
  // stem for files torch.save wrote directly. torch.load takes it from the first entry.
  std::string root() const;

  uint64_t file_size() const { return file_.size(); }

  const ZipEntry* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // The entry's bytes into `out`, CRC-checked.
  void read(const std::string& name, const ZipEntry& entry, std::vector<uint8_t>* out) const;

 private:
  [[noreturn]] void fail(const std::string& reason) const;
  void read_zip64_extra(const uint8_t* p, size_t n, const std::string& name, uint64_t* size,
                        uint64_t* packed, uint64_t* local) const;
  uint64_t data_offset(const std::string& name, uint64_t local, uint64_t cd_offset) const;

  const File& file_;
  std::unordered_map<std::string, ZipEntry> entries_;
  std::string first_name_;
};

}  // namespace rz::formats
