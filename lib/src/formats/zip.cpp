// Zip archives as torch.save writes them: the directory, zip64 records, CRC-checked reads.
#include "rz/formats/zip.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>

#include "rz/error.hpp"
#include "rz/formats/bytes.hpp"

namespace fs = std::filesystem;

namespace rz::formats {

namespace {

// CRC-32 (IEEE 802.3, reflected, as zip uses), slicing by 8 so that checking 84 MB stays cheap.
class Crc32Tables {
 public:
  Crc32Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t_[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t_[s][i] = (t_[s - 1][i] >> 8) ^ t_[0][t_[s - 1][i] & 0xff];
    }
  }
  uint32_t compute(const uint8_t* p, size_t n) const {
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 8; n -= 8, p += 8) {
      const uint32_t lo = le32(p) ^ c, hi = le32(p + 4);
      c = t_[7][lo & 0xff] ^ t_[6][(lo >> 8) & 0xff] ^ t_[5][(lo >> 16) & 0xff] ^ t_[4][lo >> 24] ^
          t_[3][hi & 0xff] ^ t_[2][(hi >> 8) & 0xff] ^ t_[1][(hi >> 16) & 0xff] ^ t_[0][hi >> 24];
    }
    for (; n > 0; --n, ++p) c = t_[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
  }

 private:
  std::array<std::array<uint32_t, 256>, 8> t_{};
};

// torch.save stores every entry uncompressed and pads the local header's extra field so that
// data starts on a 64-byte boundary, hence the local header reads.
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalSize = 30;
constexpr size_t kCentralSize = 46;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr uint16_t kZip64ExtraId = 0x0001;

}  // namespace

File::File(const fs::path& path) : path_(path), fd_(io::open_regular(path, &size_)) {}

void File::read_at(uint64_t offset, void* dst, size_t bytes) const {
  if (!io::read_at(fd_.get(), offset, dst, bytes, path_)) {
    bad_checkpoint(path_, "truncated file (read past its end)");
  }
}

uint32_t crc32(const std::vector<uint8_t>& bytes) {
  static const Crc32Tables tables;
  return tables.compute(bytes.data(), bytes.size());
}

ZipArchive::ZipArchive(const File& file) : file_(file) {
  const uint64_t size = file.size();
  uint8_t magic[4] = {};
  const bool zip_magic = size >= 4 && (file.read_at(0, magic, 4), le32(magic) == kLocalSig);
  if (!zip_magic && !(size >= 4 && le32(magic) == kEocdSig)) {
    fail("not a zip archive (a torch.save checkpoint is one)");
  }

  // The EOCD record is the last 22 bytes plus a comment of up to 65535 bytes.
  const size_t tail_size = static_cast<size_t>(std::min<uint64_t>(size, kEocdSize + 0xffff));
  std::vector<uint8_t> tail(tail_size);
  file.read_at(size - tail_size, tail.data(), tail_size);
  size_t eocd = tail_size;
  for (size_t i = tail_size >= kEocdSize ? tail_size - kEocdSize + 1 : 0; i-- > 0;) {
    if (le32(&tail[i]) == kEocdSig && i + kEocdSize + le16(&tail[i + 20]) == tail_size) {
      eocd = i;
      break;
    }
  }
  if (eocd == tail_size) fail("truncated or corrupt zip archive (no end-of-central-directory)");
  const uint64_t eocd_pos = size - tail_size + eocd;
  const uint8_t* e = &tail[eocd];
  if (le16(e + 4) != 0 || le16(e + 6) != 0) fail("multi-disk zip archives are not supported");
  uint64_t count = le16(e + 10);
  uint64_t cd_size = le32(e + 12);
  uint64_t cd_offset = le32(e + 16);
  uint64_t cd_limit = eocd_pos;  // the central directory ends before this

  // torch's writer (miniz) always adds zip64 records; they are authoritative when present.
  uint8_t loc[kZip64LocatorSize] = {};
  if (eocd_pos >= kZip64LocatorSize) {
    file.read_at(eocd_pos - kZip64LocatorSize, loc, kZip64LocatorSize);
  }
  if (eocd_pos >= kZip64LocatorSize && le32(loc) == kZip64LocatorSig) {
    const uint64_t z64 = le64(loc + 8);
    if (z64 > eocd_pos - kZip64LocatorSize || eocd_pos - kZip64LocatorSize - z64 < kZip64EocdSize) {
      fail("truncated or corrupt zip archive (bad zip64 end-of-central-directory locator)");
    }
    uint8_t r[kZip64EocdSize];
    file.read_at(z64, r, kZip64EocdSize);
    if (le32(r) != kZip64EocdSig) {
      fail("truncated or corrupt zip archive (no zip64 end-of-central-directory record)");
    }
    if (le32(r + 16) != 0 || le32(r + 20) != 0) fail("multi-disk zip archives are not supported");
    count = le64(r + 32);
    cd_size = le64(r + 40);
    cd_offset = le64(r + 48);
    cd_limit = z64;
  } else if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    fail("truncated or corrupt zip archive (zip64 sizes without a zip64 locator)");
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
    fail("truncated or corrupt zip archive (central directory outside the file)");
  }
  if (count > cd_size / kCentralSize) fail("corrupt zip archive (entry count too large)");

  std::vector<uint8_t> cd(static_cast<size_t>(cd_size));
  file.read_at(cd_offset, cd.data(), cd.size());
  size_t pos = 0;
  for (uint64_t n = 0; n < count; ++n) {
    if (cd.size() - pos < kCentralSize || le32(&cd[pos]) != kCentralSig) {
      fail("corrupt zip archive (bad central directory entry)");
    }
    const uint8_t* c = &cd[pos];
    const uint16_t flags = le16(c + 8), method = le16(c + 10);
    const size_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
    if (cd.size() - pos - kCentralSize < name_len + extra_len + comment_len) {
      fail("corrupt zip archive (bad central directory entry)");
    }
    const std::string name(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    ZipEntry entry;
    entry.crc32 = le32(c + 16);
    uint64_t packed = le32(c + 20);
    entry.size = le32(c + 24);
    uint64_t local = le32(c + 42);
    read_zip64_extra(c + kCentralSize + name_len, extra_len, name, &entry.size, &packed, &local);
    pos += kCentralSize + name_len + extra_len + comment_len;

    if (flags & 1) fail("entry " + in_quotes(name) + " is encrypted");
    if (method != 0) {
      fail("entry " + in_quotes(name) + " is compressed (method " + std::to_string(method) +
           "); torch.save stores entries uncompressed");
    }
    if (packed != entry.size) {
      fail("corrupt zip archive (sizes of " + in_quotes(name) + " differ)");
    }
    entry.data_offset = data_offset(name, local, cd_offset);
    if (entry.data_offset > cd_offset || entry.size > cd_offset - entry.data_offset) {
      fail("truncated or corrupt zip archive (entry " + in_quotes(name) + " runs past its end)");
    }
    if (!entries_.emplace(name, entry).second) fail("duplicate zip entry " + in_quotes(name));
    if (n == 0) first_name_ = name;
  }
  if (entries_.empty()) fail("empty zip archive");
}

std::string ZipArchive::root() const {
  const size_t slash = first_name_.find('/');
  if (slash == std::string::npos || slash == 0) {
    fail("no top-level folder in the zip (not a torch.save file)");
  }
  return first_name_.substr(0, slash);
}

void ZipArchive::read(const std::string& name, const ZipEntry& entry,
                      std::vector<uint8_t>* out) const {
  out->resize(static_cast<size_t>(entry.size));
  file_.read_at(entry.data_offset, out->data(), out->size());
  if (crc32(*out) != entry.crc32) fail("CRC-32 mismatch in entry " + in_quotes(name));
}

void ZipArchive::fail(const std::string& reason) const { bad_checkpoint(file_.path(), reason); }

// Replaces the 32-bit fields that are 0xffffffff with the zip64 extra field's 64-bit values,
// which come in this order: uncompressed size, compressed size, local header offset.
void ZipArchive::read_zip64_extra(const uint8_t* p, size_t n, const std::string& name,
                                  uint64_t* size, uint64_t* packed, uint64_t* local) const {
  while (n >= 4) {
    const uint16_t id = le16(p), len = le16(p + 2);
    if (len > n - 4) fail("corrupt zip archive (bad extra field of " + in_quotes(name) + ")");
    if (id == kZip64ExtraId) {
      size_t off = 0;
      for (uint64_t* field : {size, packed, local}) {
        if (*field != 0xffffffff) continue;
        if (off + 8 > len) {
          fail("corrupt zip archive (short zip64 field of " + in_quotes(name) + ")");
        }
        *field = le64(p + 4 + off);
        off += 8;
      }
    }
    p += 4 + len;
    n -= 4 + len;
  }
}

uint64_t ZipArchive::data_offset(const std::string& name, uint64_t local,
                                 uint64_t cd_offset) const {
  if (local > cd_offset || cd_offset - local < kLocalSize + name.size()) {
    fail("truncated or corrupt zip archive (no local header for " + in_quotes(name) + ")");
  }
  std::vector<uint8_t> h(kLocalSize + name.size());
  file_.read_at(local, h.data(), h.size());
  if (le32(h.data()) != kLocalSig || le16(&h[26]) != name.size() ||
      std::memcmp(&h[kLocalSize], name.data(), name.size()) != 0) {
    fail("truncated or corrupt zip archive (bad local header for " + in_quotes(name) + ")");
  }
  return local + kLocalSize + le16(&h[26]) + le16(&h[28]);
}

}  // namespace rz::formats
