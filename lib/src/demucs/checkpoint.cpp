// Reads demucs .th checkpoints (a torch.save zip holding a pickle and raw storages) and bag YAML
// files without libtorch or Python: a zip directory reader, a small pickle machine that only
// builds data (it never calls anything), and fp16/fp32/fp64 storage conversion.
#include "rz/demucs/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/stems/sha256.hpp"

namespace fs = std::filesystem;

namespace rz::demucs {

namespace {

constexpr const char* kBadCheckpoint = "bad checkpoint";
constexpr const char* kBadBag = "bad model bag";

// No demucs tensor comes near this (the largest HTDemucs weight has 2.7 M elements); it only
// keeps a corrupt shape from asking for terabytes.
constexpr int64_t kMaxTensorElements = int64_t{1} << 31;
// Deeper nesting than this in kwargs is corrupt (or a reference cycle).
constexpr int kMaxJsonDepth = 64;
// Values a pickle may expand to when converted to JSON. The memo lets a pickle refer to one list
// many times, so 30 levels of [L, L] in 58 kB would expand to 2^30 values; real kwargs hold
// about 50.
constexpr int64_t kMaxJsonValues = int64_t{1} << 20;
// Bytes of text the pickle machine may copy from objects it already built (names of globals and
// storages, dict keys), and bytes of text the JSON of args and kwargs may hold. The memo lets a
// pickle repeat one long string for a few bytes a time: 70,000 references to a 100 kB string in
// a 240 kB pickle are 7 GB. Real checkpoints copy about 30 kB and their kwargs hold 300 bytes.
constexpr int64_t kMaxTextCopyBytes = int64_t{64} << 20;
// Objects the pickle machine may build (each about 240 bytes): a demucs pickle builds about ten
// per tensor, some thousands in all; 2^21 (about 500 MB) is far above any real state dict, and
// keeps a pickle of a hundred million one-byte opcodes from taking 25 GB.
constexpr size_t kMaxPickleObjects = size_t{1} << 21;
// What all tensors of `state` may hold together, in elements per byte of the file. A tensor that
// owns its storage has at most file bytes / 2 elements (fp16); views that share one storage
// (tied weights) may count it twice. Stride-0 views that repeat one element billions of times
// cannot pass.
constexpr int64_t kMaxStateElementsPerFileByte = 1;
// Storage bytes all tensors together may read: each storage about once (views of one storage
// read it again), plus an allowance for small files.
constexpr uint64_t kStorageReadsPerFile = 4;
constexpr uint64_t kStorageReadAllowance = uint64_t{64} << 20;
// Pickle opcodes between two checks for a pending interrupt.
constexpr size_t kOpsPerInterruptCheck = size_t{1} << 16;
// A bag YAML file is a few lines; nested flow lists deeper than this are not a bag.
constexpr size_t kMaxBagBytes = size_t{1} << 20;
constexpr int kMaxYamlDepth = 16;
// Bag weights mix the members' estimates (out = sum w * est / sum w): demucs' own are 0 or 1.
// Larger ones only overflow the sum.
constexpr double kMaxBagWeight = 1000.0;

[[noreturn]] void bad_checkpoint(const fs::path& path, const std::string& reason) {
  throw InputError(kBadCheckpoint, path.string(), reason);
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

// ---------------------------------------------------------------------------------------------
// File access by offset, so that an 84 MB checkpoint is never held in memory whole.

class File {
 public:
  // A FIFO or device in the checkpoint's place is refused without blocking (io::open_regular).
  explicit File(const fs::path& path) : path_(path), fd_(io::open_regular(path, &size_)) {}

  uint64_t size() const { return size_; }
  const fs::path& path() const { return path_; }

  // Exactly `bytes` at `offset`. The zip reader checks ranges first, so a short read means the
  // file changed underneath.
  void read_at(uint64_t offset, void* dst, size_t bytes) const {
    if (!io::read_at(fd_.get(), offset, dst, bytes, path_))
      bad_checkpoint(path_, "truncated file (read past its end)");
  }

 private:
  fs::path path_;
  uint64_t size_ = 0;
  io::Fd fd_;
};

// ---------------------------------------------------------------------------------------------
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

uint32_t crc32(const std::vector<uint8_t>& bytes) {
  static const Crc32Tables tables;
  return tables.compute(bytes.data(), bytes.size());
}

// ---------------------------------------------------------------------------------------------
// Zip directory (APPNOTE 6.3): end-of-central-directory record, its zip64 variant, central
// directory, local headers. torch.save stores every entry uncompressed and pads the local
// header's extra field so that data starts on a 64-byte boundary, hence the local header reads.

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

struct ZipEntry {
  uint64_t data_offset = 0;
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

class ZipArchive {
 public:
  explicit ZipArchive(const File& file) : file_(file) {
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
      if (z64 > eocd_pos - kZip64LocatorSize ||
          eocd_pos - kZip64LocatorSize - z64 < kZip64EocdSize) {
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

  // The folder that holds data.pkl: "archive" for files saved to a buffer (demucs), the file's
  // stem for files torch.save wrote directly. torch.load takes it from the first entry.
  std::string root() const {
    const size_t slash = first_name_.find('/');
    if (slash == std::string::npos || slash == 0) {
      fail("no top-level folder in the zip (not a torch.save file)");
    }
    return first_name_.substr(0, slash);
  }

  uint64_t file_size() const { return file_.size(); }

  const ZipEntry* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // The entry's bytes into `out`, CRC-checked.
  void read(const std::string& name, const ZipEntry& entry, std::vector<uint8_t>* out) const {
    out->resize(static_cast<size_t>(entry.size));
    file_.read_at(entry.data_offset, out->data(), out->size());
    if (crc32(*out) != entry.crc32) fail("CRC-32 mismatch in entry " + in_quotes(name));
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const { bad_checkpoint(file_.path(), reason); }

  // Replaces the 32-bit fields that are 0xffffffff with the zip64 extra field's 64-bit values,
  // which come in this order: uncompressed size, compressed size, local header offset.
  void read_zip64_extra(const uint8_t* p, size_t n, const std::string& name, uint64_t* size,
                        uint64_t* packed, uint64_t* local) const {
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

  uint64_t data_offset(const std::string& name, uint64_t local, uint64_t cd_offset) const {
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

  const File& file_;
  std::unordered_map<std::string, ZipEntry> entries_;
  std::string first_name_;
};

// ---------------------------------------------------------------------------------------------
// The pickle machine. It builds plain data only: calls to the known globals are evaluated by
// hand, calls to anything else become opaque placeholders that are refused if they end up
// anywhere but training_args.

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kBytes,
  kList,
  kTuple,
  kDict,
  kGlobal,   // a class or function reference: text = "module.name"
  kStorage,  // a persistent id: text = key, type_name = storage class, integer = numel
  kTensor,   // _rebuild_tensor_v2: items[0] = storage, integer = offset, shape, strides
  kOpaque,   // the result of calling/building something unknown: text = what, or type_name =
             // what kind of value could not be represented
};

const char* kind_name(Kind k) {
  static constexpr const char* kNames[] = {"None",    "bool",   "int",   "float", "str",
                                           "bytes",   "list",   "tuple", "dict",  "global",
                                           "storage", "tensor", "object"};
  return kNames[static_cast<int>(k)];
}

struct Object {
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::string type_name;
  std::vector<Object*> items;                           // list, tuple, set; tensor: the storage
  std::vector<std::pair<Object*, Object*>> entries;     // dict, in insertion order
  std::unordered_map<std::string, size_t> string_keys;  // dict: str key -> index in entries
  std::vector<int64_t> shape, strides;                  // tensor
};

// Names of all pickle opcodes (protocols 0-5), for error messages: the i-th word of kNames
// names the opcode kOpcodes[i]. Empty for a byte that is no opcode.
std::string opcode_name(uint8_t op) {
  static constexpr char kOpcodes[] =
      "(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)"
      "uGBC\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95"
      "\x96\x97\x98";
  static constexpr const char* kNames =
      "MARK STOP POP POP_MARK DUP FLOAT INT BININT BININT1 LONG BININT2 NONE PERSID BINPERSID "
      "REDUCE STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE APPEND BUILD GLOBAL DICT "
      "EMPTY_DICT APPENDS GET BINGET INST LONG_BINGET LIST EMPTY_LIST OBJ PUT BINPUT "
      "LONG_BINPUT SETITEM TUPLE EMPTY_TUPLE SETITEMS BINFLOAT BINBYTES SHORT_BINBYTES PROTO "
      "NEWOBJ EXT1 EXT2 EXT4 TUPLE1 TUPLE2 TUPLE3 NEWTRUE NEWFALSE LONG1 LONG4 "
      "SHORT_BINUNICODE BINUNICODE8 BINBYTES8 EMPTY_SET ADDITEMS FROZENSET NEWOBJ_EX "
      "STACK_GLOBAL MEMOIZE FRAME BYTEARRAY8 NEXT_BUFFER READONLY_BUFFER";
  const void* hit = op == 0 ? nullptr : std::memchr(kOpcodes, op, sizeof(kOpcodes) - 1);
  if (!hit) return "";
  std::istringstream words(kNames);
  std::string name;
  for (auto i = static_cast<const char*>(hit) - kOpcodes; i >= 0; --i) words >> name;
  return name;
}

std::string hex_byte(uint8_t b) {
  static const char* kDigits = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 15];
}

class Unpickler {
 public:
  Unpickler(const std::vector<uint8_t>& bytes, const fs::path& path)
      : p_(bytes.data()), size_(bytes.size()), path_(path) {}

  Object* load() {
    for (size_t ops = 0;; ++ops) {
      if (ops % kOpsPerInterruptCheck == 0) throw_if_interrupted();
      op_pos_ = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80:  // PROTO
          if (u8() > 5) fail("pickle protocol above 5");
          break;
        case 0x95:  // FRAME: a length hint only
          take(8);
          break;
        case '.': {  // STOP
          Object* result = pop();
          if (!stack_.empty() || !marks_.empty()) fail("data left on the stack at STOP");
          return result;
        }

        case 'N':
          push(make(Kind::kNone));
          break;
        case 0x88:
          push(make_bool(true));
          break;
        case 0x89:
          push(make_bool(false));
          break;
        case 'J':
          push(make_int(static_cast<int32_t>(le32(take(4)))));
          break;
        case 'K':
          push(make_int(u8()));
          break;
        case 'M':
          push(make_int(le16(take(2))));
          break;
        case 0x8a:
          push(make_long(u8()));
          break;
        case 0x8b:
          push(make_long(length(le32(take(4)))));
          break;
        case 'I':
          push(make_text_int(line()));
          break;
        case 'L':
          push(make_text_int(line()));
          break;
        case 'G': {
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
          double v;
          std::memcpy(&v, &bits, sizeof v);
          push(make_float(v));
          break;
        }
        case 'F':
          push(make_float(parse_double(line())));
          break;

        case 'X':
          push(make_string(Kind::kString, length(le32(take(4)))));
          break;
        case 0x8c:
          push(make_string(Kind::kString, u8()));
          break;
        case 0x8d:
          push(make_string(Kind::kString, length(le64(take(8)))));
          break;
        case 'T':
          push(make_string(Kind::kString, length(le32(take(4)))));
          break;
        case 'U':
          push(make_string(Kind::kString, u8()));
          break;
        case 'B':
          push(make_string(Kind::kBytes, length(le32(take(4)))));
          break;
        case 'C':
          push(make_string(Kind::kBytes, u8()));
          break;
        case 0x8e:
          push(make_string(Kind::kBytes, length(le64(take(8)))));
          break;
        case 0x96:
          push(make_string(Kind::kBytes, length(le64(take(8)))));
          break;

        case '}':
          push(make(Kind::kDict));
          break;
        case ']':
          push(make(Kind::kList));
          break;
        case ')':
          push(make(Kind::kTuple));
          break;
        case 0x8f:
          push(make(Kind::kList));
          break;  // EMPTY_SET: a list is enough here
        case 'd': {
          std::vector<Object*> kv = pop_mark();
          Object* d = make(Kind::kDict);
          set_items(d, kv);
          push(d);
          break;
        }
        case 'l': {
          Object* l = make(Kind::kList);
          l->items = pop_mark();
          push(l);
          break;
        }
        case 0x91:  // FROZENSET
        case 't': {
          Object* t = make(op == 't' ? Kind::kTuple : Kind::kList);
          t->items = pop_mark();
          push(t);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
          const size_t n = op - 0x84u;
          if (above_mark() < n) fail("stack underflow");
          Object* t = make(Kind::kTuple);
          t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 's': {
          Object* value = pop();
          Object* key = pop();
          std::vector<Object*> kv{key, value};
          set_items(top(Kind::kDict), kv);
          break;
        }
        case 'u': {
          std::vector<Object*> kv = pop_mark();
          set_items(top(Kind::kDict), kv);
          break;
        }
        case 'a': {
          Object* value = pop();
          top(Kind::kList)->items.push_back(value);
          break;
        }
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS
          std::vector<Object*> values = pop_mark();
          Object* l = top(Kind::kList);
          l->items.insert(l->items.end(), values.begin(), values.end());
          break;
        }

        case '(':
          marks_.push_back(stack_.size());
          break;
        case '0':
          pop();
          break;
        case '1':
          pop_mark();
          break;
        case '2':
          push(top());
          break;

        case 'q':
          memo_[u8()] = top();
          break;
        case 'r':
          memo_[le32(take(4))] = top();
          break;
        case 0x94:
          memo_[memo_.size()] = top();
          break;
        case 'p':
          memo_[static_cast<uint64_t>(parse_int(line()))] = top();
          break;
        case 'h':
          push(memo_get(u8()));
          break;
        case 'j':
          push(memo_get(le32(take(4))));
          break;
        case 'g':
          push(memo_get(static_cast<uint64_t>(parse_int(line()))));
          break;

        case 'c': {
          std::string module = line();
          std::string name = line();
          push(make_global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Object* name = pop();
          Object* module = pop();
          if (module->kind != Kind::kString || name->kind != Kind::kString) {
            fail("STACK_GLOBAL needs two strings");
          }
          push(make_global(module->text, name->text));
          break;
        }
        case 'R': {
          Object* args = pop();
          Object* callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          Object* args = pop();
          Object* cls = pop();
          push(call(cls, args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
          Object* kwargs = pop();
          Object* args = pop();
          Object* cls = pop();
          push(kwargs->kind == Kind::kDict && kwargs->entries.empty() ? call(cls, args)
                                                                      : opaque(cls));
          break;
        }
        case 'b': {  // BUILD: obj.__setstate__(state); only unknown objects get one here
          pop();
          Object* obj = top();
          if (obj->kind != Kind::kOpaque) {
            fail(std::string("BUILD on a ") + kind_name(obj->kind) + " is not supported");
          }
          break;
        }
        case 'Q':
          push(persistent(pop()));
          break;

        default: {
          const std::string name = opcode_name(op);
          fail(name.empty() ? "unknown pickle opcode " + hex_byte(op)
                            : "unsupported pickle opcode " + name + " (" + hex_byte(op) + ")");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    bad_checkpoint(path_, reason + " at byte " + std::to_string(op_pos_) + " of data.pkl");
  }

  const uint8_t* take(size_t n) {
    if (size_ - pos_ < n) fail("pickle truncated");
    const uint8_t* p = p_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return *take(1); }
  size_t length(uint64_t n) {
    if (n > size_ - pos_) fail("pickle truncated");
    return static_cast<size_t>(n);
  }
  std::string line() {
    const void* nl = std::memchr(p_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("pickle truncated");
    const size_t n = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (p_ + pos_));
    std::string s(reinterpret_cast<const char*>(take(n)), n);
    take(1);
    return s;
  }

  Object* make(Kind kind) {
    if (arena_.size() >= kMaxPickleObjects) {
      fail("builds more than " + std::to_string(kMaxPickleObjects) + " objects");
    }
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  Object* make_bool(bool v) {
    Object* o = make(Kind::kBool);
    o->boolean = v;
    return o;
  }
  Object* make_int(int64_t v) {
    Object* o = make(Kind::kInt);
    o->integer = v;
    return o;
  }
  Object* make_float(double v) {
    Object* o = make(Kind::kFloat);
    o->real = v;
    return o;
  }
  Object* make_string(Kind kind, size_t n) {
    Object* o = make(kind);
    o->text.assign(reinterpret_cast<const char*>(take(n)), n);
    return o;
  }
  // LONG1/LONG4: little-endian two's complement. Wider than 64 bits becomes a placeholder that
  // is refused only if kwargs use it.
  Object* make_long(size_t n) {
    const uint8_t* b = take(n);
    if (n > 8) {
      Object* o = make(Kind::kOpaque);
      o->type_name = "int wider than 64 bits";
      return o;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return make_int(static_cast<int64_t>(v));
  }
  Object* make_text_int(std::string s) {
    if (s == "01" || s == "00") return make_bool(s == "01");  // protocol 0's True/False
    if (!s.empty() && s.back() == 'L') s.pop_back();
    return make_int(parse_int(s));
  }
  int64_t parse_int(const std::string& s) const {
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail("bad integer " + in_quotes(s));
    return v;
  }
  double parse_double(const std::string& s) const {
    double v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail("bad float " + in_quotes(s));
    return v;
  }
  // Counts text copied from objects already built against kMaxTextCopyBytes.
  void charge_copy(size_t bytes) {
    copied_bytes_ += bytes;
    if (copied_bytes_ > static_cast<uint64_t>(kMaxTextCopyBytes)) {
      fail("copies more than " + std::to_string(kMaxTextCopyBytes) +
           " bytes of names and keys (shared references repeated)");
    }
  }
  Object* make_global(const std::string& module, const std::string& name) {
    charge_copy(module.size() + name.size());
    Object* o = make(Kind::kGlobal);
    o->text = module + "." + name;
    return o;
  }
  Object* opaque(const Object* what) {
    Object* o = make(Kind::kOpaque);
    if (what->kind == Kind::kGlobal || what->kind == Kind::kOpaque) {
      charge_copy(what->text.size());
      o->text = what->text;
    } else {
      o->text = std::string("call of a ") + kind_name(what->kind);
    }
    return o;
  }

  void push(Object* o) { stack_.push_back(o); }
  // Items pushed since the last MARK (the whole stack without one): what an opcode may take. An
  // opcode that took items below a MARK would leave the MARK past the end of the stack.
  size_t above_mark() const { return stack_.size() - (marks_.empty() ? 0 : marks_.back()); }
  Object* pop() {
    if (above_mark() == 0) fail("stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object* top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  Object* top(Kind kind) {
    Object* o = top();
    if (o->kind != kind) {
      fail(std::string("expected a ") + kind_name(kind) + " on the stack, found a " +
           kind_name(o->kind));
    }
    return o;
  }
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Object* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " is missing");
    return it->second;
  }

  // Python dict assignment: a repeated str key replaces the earlier value in place.
  void set_items(Object* dict, const std::vector<Object*>& kv) {
    if (kv.size() % 2 != 0) fail("odd number of items for a dict");
    for (size_t i = 0; i < kv.size(); i += 2) {
      if (kv[i]->kind == Kind::kString) {
        charge_copy(kv[i]->text.size());
        auto [it, inserted] = dict->string_keys.emplace(kv[i]->text, dict->entries.size());
        if (!inserted) {
          dict->entries[it->second].second = kv[i + 1];
          continue;
        }
      }
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }

  // REDUCE / NEWOBJ. Only the calls a demucs checkpoint makes are evaluated.
  Object* call(Object* callable, Object* args) {
    if (callable->kind == Kind::kOpaque) return opaque(callable);
    if (callable->kind != Kind::kGlobal) {
      fail(std::string("call of a ") + kind_name(callable->kind) + " is not supported");
    }
    if (args->kind != Kind::kTuple) fail("call arguments are not a tuple");
    const std::string& what = callable->text;
    const std::vector<Object*>& a = args->items;
    if (what == "collections.OrderedDict") {
      Object* d = make(Kind::kDict);
      if (a.empty()) return d;
      if (a.size() == 1 && (a[0]->kind == Kind::kList || a[0]->kind == Kind::kTuple)) {
        std::vector<Object*> kv;
        for (const Object* pair : a[0]->items) {
          if ((pair->kind != Kind::kList && pair->kind != Kind::kTuple) ||
              pair->items.size() != 2) {
            fail("bad arguments of collections.OrderedDict");
          }
          kv.insert(kv.end(), pair->items.begin(), pair->items.end());
        }
        set_items(d, kv);
        return d;
      }
      fail("bad arguments of collections.OrderedDict");
    }
    if (what == "fractions.Fraction") return make_float(fraction(a));
    if (what == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(a);
    return opaque(callable);
  }

  // Fraction(numerator, denominator) as Python >= 3.11 pickles it, Fraction("39/5") as older
  // Pythons do, and Fraction(int) / Fraction(float).
  double fraction(const std::vector<Object*>& a) {
    auto number = [](const Object* o) {
      return o->kind == Kind::kInt ? static_cast<double>(o->integer) : o->real;
    };
    auto numeric = [](const Object* o) { return o->kind == Kind::kInt || o->kind == Kind::kFloat; };
    if (a.size() == 2 && a[0]->kind == Kind::kInt && a[1]->kind == Kind::kInt) {
      if (a[1]->integer == 0) fail("fractions.Fraction with denominator 0");
      return static_cast<double>(a[0]->integer) / static_cast<double>(a[1]->integer);
    }
    if (a.size() == 1 && numeric(a[0])) return number(a[0]);
    if (a.size() == 1 && a[0]->kind == Kind::kString) {
      std::string s = a[0]->text;
      s.erase(std::remove_if(s.begin(), s.end(), [](char ch) { return ch == ' ' || ch == '_'; }),
              s.end());
      if (!s.empty() && s[0] == '+') s.erase(0, 1);
      const size_t slash = s.find('/');
      if (slash == std::string::npos) return parse_double(s);
      const int64_t num = parse_int(s.substr(0, slash));
      const int64_t den = parse_int(s.substr(slash + 1));
      if (den == 0) fail("fractions.Fraction with denominator 0");
      return static_cast<double>(num) / static_cast<double>(den);
    }
    fail("unsupported arguments of fractions.Fraction");
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
  // [, metadata]): a view of the storage.
  Object* rebuild_tensor(const std::vector<Object*>& a) {
    auto ints = [](const Object* t, std::vector<int64_t>* out) {
      if (t->kind != Kind::kTuple && t->kind != Kind::kList) return false;
      for (const Object* v : t->items) {
        if (v->kind != Kind::kInt || v->integer < 0) return false;
        out->push_back(v->integer);
      }
      return true;
    };
    Object* t = make(Kind::kTensor);
    if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::kStorage ||
        a[1]->kind != Kind::kInt || a[1]->integer < 0 || !ints(a[2], &t->shape) ||
        !ints(a[3], &t->strides) || t->shape.size() != t->strides.size()) {
      fail("bad arguments of torch._utils._rebuild_tensor_v2");
    }
    t->items.push_back(a[0]);
    t->integer = a[1]->integer;
    return t;
  }

  // BINPERSID with torch's ('storage', StorageType, key, location, numel).
  Object* persistent(const Object* pid) {
    const auto& i = pid->items;
    if (pid->kind != Kind::kTuple || i.size() != 5 || i[0]->kind != Kind::kString ||
        i[0]->text != "storage" || i[1]->kind != Kind::kGlobal || i[2]->kind != Kind::kString ||
        i[3]->kind != Kind::kString || i[4]->kind != Kind::kInt || i[4]->integer < 0) {
      fail("unsupported persistent id (expected ('storage', type, key, location, numel))");
    }
    charge_copy(i[1]->text.size() + i[2]->text.size());
    Object* s = make(Kind::kStorage);
    s->type_name = i[1]->text;
    s->text = i[2]->text;
    s->integer = i[4]->integer;
    return s;
  }

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  fs::path path_;
  std::deque<Object> arena_;  // owns every object; pointers into a deque stay valid
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
  uint64_t copied_bytes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// From pickle objects to the Checkpoint.

const Object* dict_get(const Object* dict, const std::string& key) {
  auto it = dict->string_keys.find(key);
  return it == dict->string_keys.end() ? nullptr : dict->entries[it->second].second;
}

// The refusal of an opaque value or a bare global found in `where`.
[[noreturn]] void refuse_unsupported(const Object* o, const std::string& where,
                                     const fs::path& path) {
  if (!o->type_name.empty()) {
    bad_checkpoint(path, "unsupported value (" + o->type_name + ") in " + where);
  }
  bad_checkpoint(path, "unsupported pickle global " + in_quotes(o->text) + " in " + where);
}

// What the JSON of args and kwargs may still hold: values (kMaxJsonValues) and bytes of strings
// and keys (kMaxTextCopyBytes).
struct JsonBudget {
  int64_t values = kMaxJsonValues;
  int64_t text_bytes = kMaxTextCopyBytes;
};

// `text`, a string or key of `where`, counted against the budget.
const std::string& charged(const std::string& text, const std::string& where, const fs::path& path,
                           JsonBudget& budget) {
  budget.text_bytes -= static_cast<int64_t>(text.size());
  if (budget.text_bytes < 0) {
    bad_checkpoint(path, where + " expands to more than " + std::to_string(kMaxTextCopyBytes) +
                             " bytes of text (shared references repeated)");
  }
  return text;
}

// Converts `o` to JSON within `budget`.
nlohmann::json to_json(const Object* o, const std::string& where, const fs::path& path,
                       JsonBudget& budget, int depth = 0) {
  if (depth > kMaxJsonDepth) bad_checkpoint(path, where + " is nested too deeply");
  if (--budget.values < 0) {
    bad_checkpoint(path, where + " expands to more than " + std::to_string(kMaxJsonValues) +
                             " values (shared references repeated)");
  }
  if ((budget.values & 0xffff) == 0) throw_if_interrupted();
  switch (o->kind) {
    case Kind::kNone:
      return nullptr;
    case Kind::kBool:
      return o->boolean;
    case Kind::kInt:
      return o->integer;
    case Kind::kFloat:
      return o->real;
    case Kind::kString:
      return charged(o->text, where, path, budget);
    case Kind::kList:
    case Kind::kTuple: {
      nlohmann::json a = nlohmann::json::array();
      for (size_t i = 0; i < o->items.size(); ++i) {
        a.push_back(
            to_json(o->items[i], where + "[" + std::to_string(i) + "]", path, budget, depth + 1));
      }
      return a;
    }
    case Kind::kDict: {
      nlohmann::json d = nlohmann::json::object();
      for (const auto& [k, v] : o->entries) {
        if (k->kind != Kind::kString) {
          bad_checkpoint(path, where + " has a " + kind_name(k->kind) + " key");
        }
        const std::string& key = charged(k->text, where, path, budget);
        d[key] = to_json(v, where + "[" + in_quotes(key) + "]", path, budget, depth + 1);
      }
      return d;
    }
    case Kind::kGlobal:
    case Kind::kOpaque:
      refuse_unsupported(o, where, path);
    case Kind::kBytes:
    case Kind::kStorage:
    case Kind::kTensor:
      break;
  }
  bad_checkpoint(path, std::string("unsupported value (") + kind_name(o->kind) + ") in " + where);
}

enum class Dtype { kHalf, kFloat, kDouble };

struct StorageType {
  const char* name;
  Dtype dtype;
  size_t bytes;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.HalfStorage", Dtype::kHalf, 2},
    {"torch.FloatStorage", Dtype::kFloat, 4},
    {"torch.DoubleStorage", Dtype::kDouble, 8},
};

// IEEE binary16 -> binary32, exact for every value (subnormals, infinities, NaN payloads).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else {
    // Zero or subnormal: mantissa * 2^-24 is exact in binary32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The storage's elements as fp32. `big_endian`: the archive's byteorder record said "big".
std::vector<float> widen(const std::vector<uint8_t>& raw, const StorageType& type,
                         bool big_endian) {
  const size_t n = raw.size() / type.bytes;
  std::vector<float> out(n);
  const uint8_t* p = raw.data();
  auto load = [&](size_t i, uint8_t* dst) {
    for (size_t b = 0; b < type.bytes; ++b) {
      dst[b] = p[i * type.bytes + (big_endian ? type.bytes - 1 - b : b)];
    }
  };
  switch (type.dtype) {
    case Dtype::kHalf:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = le16(p + 2 * i);
        out[i] = half_to_float(big_endian ? static_cast<uint16_t>((h >> 8) | (h << 8)) : h);
      }
      break;
    case Dtype::kFloat:
      if (!big_endian) {
        std::memcpy(out.data(), p, n * sizeof(float));
        break;
      }
      for (size_t i = 0; i < n; ++i) load(i, reinterpret_cast<uint8_t*>(&out[i]));
      break;
    case Dtype::kDouble:
      for (size_t i = 0; i < n; ++i) {
        double d;
        load(i, reinterpret_cast<uint8_t*>(&d));
        out[i] = static_cast<float>(d);
      }
      break;
  }
  return out;
}

class TensorLoader {
 public:
  TensorLoader(const ZipArchive& zip, const fs::path& path) : zip_(zip), path_(path) {
    root_ = zip.root();
    if (const ZipEntry* e = zip.find(root_ + "/byteorder")) {
      std::vector<uint8_t> b;
      zip.read(root_ + "/byteorder", *e, &b);
      const std::string order(b.begin(), b.end());
      if (order != "little" && order != "big") {
        bad_checkpoint(path, "unknown byteorder " + in_quotes(order));
      }
      big_endian_ = order == "big";
    }
  }

  Tensor load(const Object* t, const std::string& where) {
    const Object* storage = t->items[0];
    const StorageType* type = nullptr;
    for (const StorageType& s : kStorageTypes) {
      if (storage->type_name == s.name) type = &s;
    }
    if (!type) {
      fail("unsupported pickle global " + in_quotes(storage->type_name) + " (storage of " + where +
           ")");
    }
    const std::string entry_name = root_ + "/data/" + storage->text;
    const ZipEntry* entry = zip_.find(entry_name);
    if (!entry) {
      fail("storage " + in_quotes(storage->text) + " of " + where + " is absent (no " +
           in_quotes(entry_name) + " in the zip)");
    }
    const uint64_t numel = static_cast<uint64_t>(storage->integer);
    if (numel > entry->size / type->bytes || entry->size != numel * type->bytes) {
      fail("storage " + in_quotes(storage->text) + " of " + where + " has " +
           std::to_string(entry->size) + " bytes, expected " + std::to_string(numel) + " x " +
           std::to_string(type->bytes));
    }

    Tensor out;
    out.shape = t->shape;
    // Element count and the highest storage index the view touches, overflow-checked.
    int64_t count = 1;
    int64_t last = t->integer;
    for (size_t d = 0; d < t->shape.size(); ++d) {
      if (t->shape[d] == 0) count = 0;
      if (count != 0 && __builtin_mul_overflow(count, t->shape[d], &count)) count = -1;
      int64_t reach = 0;
      if (t->shape[d] > 0 && (__builtin_mul_overflow(t->shape[d] - 1, t->strides[d], &reach) ||
                              __builtin_add_overflow(last, reach, &last))) {
        count = -1;
      }
      if (count < 0 || count > kMaxTensorElements) {
        fail(where + " has an impossible shape or strides");
      }
    }
    if (count == 0) return out;
    if (static_cast<uint64_t>(count) > numel) {
      // More elements than the storage holds: stride 0 or overlapping strides repeat elements,
      // which no module's parameter does (and which would turn a small file into gigabytes).
      fail(where + " has " + std::to_string(count) + " elements but its storage " +
           in_quotes(storage->text) + " holds " + std::to_string(numel) +
           " (a view that repeats elements)");
    }
    if (static_cast<uint64_t>(last) >= numel) {
      fail(where + " reaches past the end of storage " + in_quotes(storage->text) + " (element " +
           std::to_string(last) + " of " + std::to_string(numel) + ")");
    }

    // Each tensor reads its whole storage: views of one large storage, repeated, could make a
    // small file cost hours of reading.
    bytes_read_ += entry->size;
    if (bytes_read_ > kStorageReadsPerFile * zip_.file_size() + kStorageReadAllowance) {
      fail("its tensors read their storages more than " +
           std::to_string(kStorageReadsPerFile) + " times over (at " + where + ")");
    }
    zip_.read(entry_name, *entry, &raw_);
    std::vector<float> values = widen(raw_, *type, big_endian_);
    if (is_contiguous(*t)) {
      if (t->integer == 0 && static_cast<uint64_t>(count) == numel) {
        out.data = std::move(values);
      } else {
        out.data.assign(values.begin() + t->integer, values.begin() + t->integer + count);
      }
      return out;
    }
    // General strides: walk the index like an odometer, last dimension fastest.
    out.data.resize(static_cast<size_t>(count));
    const size_t dims = t->shape.size();
    std::vector<int64_t> index(dims, 0);
    int64_t src = t->integer;
    for (int64_t i = 0; i < count; ++i) {
      out.data[static_cast<size_t>(i)] = values[static_cast<size_t>(src)];
      for (size_t d = dims; d-- > 0;) {
        if (++index[d] < t->shape[d]) {
          src += t->strides[d];
          break;
        }
        src -= t->strides[d] * (t->shape[d] - 1);
        index[d] = 0;
      }
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const { bad_checkpoint(path_, reason); }

  static bool is_contiguous(const Object& t) {
    int64_t expected = 1;
    for (size_t d = t.shape.size(); d-- > 0;) {
      if (t.shape[d] != 1 && t.strides[d] != expected) return false;
      expected *= t.shape[d];
    }
    return true;
  }

  const ZipArchive& zip_;
  fs::path path_;
  std::string root_;
  bool big_endian_ = false;
  std::vector<uint8_t> raw_;  // reused between storages
  uint64_t bytes_read_ = 0;
};

bool is_lower_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

// demucs' LocalRepo names: "NAME-XXXXXXXX.th" -> {NAME, XXXXXXXX}; anything else -> {stem, ""}.
std::pair<std::string, std::string> split_checkpoint_name(const fs::path& path) {
  const std::string stem = path.stem().string();
  const size_t dash = stem.rfind('-');
  if (path.extension() == ".th" && dash != std::string::npos && dash > 0 &&
      stem.size() - dash - 1 == 8 && is_lower_hex(stem.substr(dash + 1))) {
    return {stem.substr(0, dash), stem.substr(dash + 1)};
  }
  return {stem, ""};
}

namespace {

constexpr const char* kModelClasses[] = {
    "demucs.htdemucs.HTDemucs",
    "demucs.hdemucs.HDemucs",
    "demucs.demucs.Demucs",
};

}  // namespace

const Tensor* Checkpoint::find(const std::string& key) const {
  for (const auto& [k, t] : state) {
    if (k == key) return &t;
  }
  return nullptr;
}

Checkpoint read_checkpoint(const fs::path& path) {
  const File file(path);
  const ZipArchive zip(file);

  Checkpoint ck;
  std::string expected_hash;
  std::tie(ck.name, expected_hash) = split_checkpoint_name(path);
  ck.sha256 = stems::sha256_file(path);
  if (!expected_hash.empty() && ck.sha256.compare(0, 8, expected_hash) != 0) {
    bad_checkpoint(path, "SHA-256 mismatch: the file name says " + expected_hash +
                             ", the file hashes to " + ck.sha256.substr(0, 8) +
                             " (corrupt or renamed file)");
  }

  const std::string pickle_name = zip.root() + "/data.pkl";
  const ZipEntry* pickle_entry = zip.find(pickle_name);
  if (!pickle_entry) bad_checkpoint(path, "no " + in_quotes(pickle_name) + " in the zip");
  std::vector<uint8_t> pickle;
  zip.read(pickle_name, *pickle_entry, &pickle);
  Unpickler unpickler(pickle, path);
  const Object* top = unpickler.load();

  if (top->kind != Kind::kDict) bad_checkpoint(path, "the pickle is not a dict");
  auto require = [&](const char* key) {
    const Object* o = dict_get(top, key);
    if (!o) {
      bad_checkpoint(path, std::string("no ") + in_quotes(key) + " (not a demucs model file)");
    }
    return o;
  };
  const Object* klass = require("klass");
  if (klass->kind != Kind::kGlobal) bad_checkpoint(path, "'klass' is not a class");
  if (std::find(std::begin(kModelClasses), std::end(kModelClasses), klass->text) ==
      std::end(kModelClasses)) {
    bad_checkpoint(path, "unsupported model class " + in_quotes(klass->text));
  }
  ck.klass = klass->text;

  const Object* args = require("args");
  if (args->kind != Kind::kTuple && args->kind != Kind::kList) {
    bad_checkpoint(path, "'args' is not a tuple");
  }
  JsonBudget budget;
  ck.args = to_json(args, "args", path, budget);
  const Object* kwargs = require("kwargs");
  if (kwargs->kind != Kind::kDict) bad_checkpoint(path, "'kwargs' is not a dict");
  ck.kwargs = to_json(kwargs, "kwargs", path, budget);

  const Object* state = require("state");
  if (state->kind != Kind::kDict) bad_checkpoint(path, "'state' is not a dict");
  TensorLoader loader(zip, path);
  ck.state.reserve(state->entries.size());
  const int64_t max_elements =
      static_cast<int64_t>(std::min<uint64_t>(file.size(), uint64_t{1} << 40)) *
      kMaxStateElementsPerFileByte;
  int64_t elements = 0;
  for (const auto& [k, v] : state->entries) {
    throw_if_interrupted();
    if (k->kind != Kind::kString) bad_checkpoint(path, "'state' has a non-string key");
    const std::string where = "state[" + in_quotes(k->text) + "]";
    if (v->kind == Kind::kOpaque || v->kind == Kind::kGlobal) refuse_unsupported(v, where, path);
    if (v->kind != Kind::kTensor) {
      bad_checkpoint(path, where + " is not a tensor (" + kind_name(v->kind) + ")");
    }
    Tensor t = loader.load(v, where);
    elements += t.numel();
    if (elements > max_elements) {
      bad_checkpoint(path, "'state' holds more elements than a file of " +
                               std::to_string(file.size()) + " bytes can (at " + where + ")");
    }
    ck.state.emplace_back(k->text, std::move(t));
  }
  return ck;
}

// ---------------------------------------------------------------------------------------------
// Bag YAML: the subset demucs' own bag files use.

namespace {

struct YamlNode {
  bool is_list = false;
  bool quoted = false;
  std::string scalar;
  std::vector<YamlNode> items;
  int line = 0;
};

class BagParser {
 public:
  BagParser(std::string text, const fs::path& path) : s_(std::move(text)), path_(path) {}

  Bag parse() {
    Bag bag;
    bool seen_models = false, seen_weights = false, seen_segment = false;
    skip_blank_lines();
    if (s_.compare(pos_, 3, "---") == 0 && at_line_end(pos_ + 3)) {
      pos_ += 3;
      skip_blank_lines();
    }
    while (pos_ < s_.size()) {
      const int key_line = line_;
      if (!std::isalpha(static_cast<unsigned char>(s_[pos_]))) {
        fail("expected a top-level 'key:' (indentation and other YAML forms are not supported)");
      }
      const size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        ++pos_;
      }
      const std::string key = s_.substr(start, pos_ - start);
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':' after " + in_quotes(key));
      ++pos_;
      const YamlNode value = parse_value();
      skip_blank_lines();
      line_for_error_ = key_line;
      if (key == "models") {
        if (seen_models) fail("duplicate key 'models'");
        seen_models = true;
        bag.models = models(value);
      } else if (key == "weights") {
        if (seen_weights) fail("duplicate key 'weights'");
        seen_weights = true;
        bag.weights = weights(value);
      } else if (key == "segment") {
        if (seen_segment) fail("duplicate key 'segment'");
        seen_segment = true;
        if (value.is_list) fail("'segment' must be a number");
        bag.segment = number(value);
        if (*bag.segment <= 0) fail("'segment' must be positive");
      } else {
        fail("unsupported key " + in_quotes(key) + " (expected models, weights or segment)");
      }
      line_for_error_ = 0;
    }
    line_for_error_ = line_;
    if (!seen_models) fail("no 'models' list");
    if (bag.models.empty()) fail("'models' is empty");
    if (!bag.weights.empty()) {
      if (bag.weights.size() != bag.models.size()) {
        fail("'weights' has " + std::to_string(bag.weights.size()) + " rows for " +
             std::to_string(bag.models.size()) + " models");
      }
      for (const auto& row : bag.weights) {
        if (row.empty() || row.size() != bag.weights[0].size()) {
          fail("the rows of 'weights' differ in length");
        }
      }
    }
    return bag;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    const int line = line_for_error_ ? line_for_error_ : line_;
    throw InputError(kBadBag, path_.string(), "line " + std::to_string(line) + ": " + reason);
  }

  // True when only blanks or a comment follow `p` on its line.
  bool at_line_end(size_t p) const {
    while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t' || s_[p] == '\r')) ++p;
    return p >= s_.size() || s_[p] == '\n' || s_[p] == '#';
  }
  void skip_spaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '#') {
      while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
    }
  }
  void next_line() {
    skip_spaces();
    if (pos_ < s_.size()) {
      if (s_[pos_] != '\n') fail("unexpected " + in_quotes(std::string(1, s_[pos_])));
      ++pos_;
      ++line_;
    }
  }
  void skip_blank_lines() {
    while (pos_ < s_.size()) {
      const size_t line_start = pos_;
      skip_spaces();
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        ++pos_;
        ++line_;
        continue;
      }
      if (pos_ < s_.size()) pos_ = line_start;  // a line with content: leave it whole
      return;
    }
  }
  // Spaces, comments and line breaks, inside a flow list.
  void skip_flow_space() {
    while (pos_ < s_.size()) {
      skip_spaces();
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        ++pos_;
        ++line_;
      } else {
        return;
      }
    }
  }

  // After "key:": a flow list, a scalar, or a line break followed by a block list.
  YamlNode parse_value() {
    skip_spaces();
    if (pos_ < s_.size() && s_[pos_] != '\n') {
      YamlNode v = s_[pos_] == '[' ? parse_flow() : parse_scalar(false);
      next_line();
      return v;
    }
    next_line();
    YamlNode list;
    list.is_list = true;
    list.line = line_;
    while (true) {
      skip_blank_lines();
      size_t p = pos_;
      while (p < s_.size() && s_[p] == ' ') ++p;
      const bool item = p < s_.size() && s_[p] == '-' &&
                        (p + 1 == s_.size() || std::isspace(static_cast<unsigned char>(s_[p + 1])));
      if (!item) break;
      pos_ = p + 1;
      skip_spaces();
      if (pos_ >= s_.size() || s_[pos_] == '\n') fail("empty list item");
      list.items.push_back(s_[pos_] == '[' ? parse_flow() : parse_scalar(false));
      next_line();
    }
    if (list.items.empty()) fail("missing value");
    return list;
  }

  YamlNode parse_flow(int depth = 1) {
    if (depth > kMaxYamlDepth) {
      fail("lists nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    }
    YamlNode list;
    list.is_list = true;
    list.line = line_;
    ++pos_;  // '['
    while (true) {
      skip_flow_space();
      if (pos_ >= s_.size()) fail("unterminated '['");
      if (s_[pos_] == ']') {
        ++pos_;
        return list;
      }
      list.items.push_back(s_[pos_] == '[' ? parse_flow(depth + 1) : parse_scalar(true));
      skip_flow_space();
      if (pos_ >= s_.size()) fail("unterminated '['");
      if (s_[pos_] == ',') {
        ++pos_;
      } else if (s_[pos_] != ']') {
        fail("expected ',' or ']'");
      }
    }
  }

  YamlNode parse_scalar(bool in_flow) {
    YamlNode v;
    v.line = line_;
    const char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v.quoted = true;
      ++pos_;
      while (true) {
        if (pos_ >= s_.size() || s_[pos_] == '\n') fail("unterminated quoted string");
        const char ch = s_[pos_++];
        if (ch == c && c == '\'' && pos_ < s_.size() && s_[pos_] == '\'') {
          v.scalar += '\'';  // '' inside single quotes
          ++pos_;
        } else if (ch == c) {
          return v;
        } else if (ch == '\\' && c == '"') {
          if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) {
            fail("unsupported escape in a double-quoted string");
          }
          v.scalar += s_[pos_++];
        } else {
          v.scalar += ch;
        }
      }
    }
    if (in_flow && c == ',') fail("empty list item");
    if (std::strchr("{}&*!|>%@`,]", c)) {
      fail("unsupported YAML " + in_quotes(std::string(1, c)) + " (only lists and scalars)");
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '\n' &&
           !(in_flow && (s_[pos_] == ',' || s_[pos_] == ']'))) {
      if (s_[pos_] == '#' && std::isspace(static_cast<unsigned char>(s_[pos_ - 1]))) break;
      if (s_[pos_] == ':' &&
          (pos_ + 1 >= s_.size() || std::isspace(static_cast<unsigned char>(s_[pos_ + 1])))) {
        fail("nested mappings are not supported");
      }
      ++pos_;
    }
    v.scalar = s_.substr(start, pos_ - start);
    while (!v.scalar.empty() && std::isspace(static_cast<unsigned char>(v.scalar.back()))) {
      v.scalar.pop_back();
    }
    return v;
  }

  std::vector<std::string> models(const YamlNode& v) {
    if (!v.is_list) fail("'models' must be a list");
    std::vector<std::string> out;
    for (const YamlNode& item : v.items) {
      if (item.is_list || item.scalar.empty()) fail("'models' must be a list of names");
      out.push_back(item.scalar);
    }
    return out;
  }

  std::vector<std::vector<double>> weights(const YamlNode& v) {
    if (!v.is_list) fail("'weights' must be a list of lists");
    std::vector<std::vector<double>> out;
    for (const YamlNode& row : v.items) {
      if (!row.is_list) fail("'weights' must be a list of lists");
      out.emplace_back();
      for (const YamlNode& w : row.items) {
        if (w.is_list) fail("'weights' must be a list of lists of numbers");
        const double x = number(w);
        if (!(x >= 0 && x <= kMaxBagWeight)) {
          throw InputError(kBadBag, path_.string(),
                           "line " + std::to_string(w.line) + ": weight " + in_quotes(w.scalar) +
                               " is outside 0.." + fixed(kMaxBagWeight, 0));
        }
        out.back().push_back(x);
      }
    }
    return out;
  }

  double number(const YamlNode& v) const {
    std::string s = v.scalar;
    if (!s.empty() && s[0] == '+') s.erase(0, 1);
    double x = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (v.quoted || s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() ||
        !std::isfinite(x)) {
      throw InputError(kBadBag, path_.string(),
                       "line " + std::to_string(v.line) + ": " + in_quotes(v.scalar) +
                           " is not a finite number");
    }
    return x;
  }

  std::string s_;
  fs::path path_;
  size_t pos_ = 0;
  int line_ = 1;
  int line_for_error_ = 0;  // when set, errors name this line (the key's) instead of line_
};

}  // namespace

Bag parse_bag(std::string text, const fs::path& path) { return BagParser(std::move(text), path).parse(); }

Bag read_bag(const fs::path& yaml) {
  // A FIFO or /dev/zero in the bag's place is refused; a real bag is a few hundred bytes.
  return parse_bag(io::read_file(yaml, kMaxBagBytes, "model bag", "cannot read"), yaml);
}

}  // namespace rz::demucs
