// Test helper: a STORED zip writer, pickle builders and a demucs checkpoint writer (th_writer.hpp).
#include "th_writer.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace rz::test::th {

namespace fs = std::filesystem;

std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

uint32_t crc32_bitwise(const std::string& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("th_writer: cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("th_writer: cannot write " + path.string());
}

void write_zip(const fs::path& path, const std::vector<ZipEntryIn>& entries, bool zip64) {
  std::string out, cd;
  for (const ZipEntryIn& e : entries) {
    const uint32_t crc = crc32_bitwise(e.data) ^ (e.bad_crc ? 1u : 0u);
    const uint64_t local = out.size();
    std::string extra;
    if (e.local_pad >= 4) {
      extra = le(0x4246, 2) + le(e.local_pad - 4, 2) + std::string(e.local_pad - 4, 'Z');
    }
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) + le(crc, 4) +
           le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) +
           le(extra.size(), 2) + e.name + extra + e.data;
    cd += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) +
          le(crc, 4) + le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) +
          le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(local, 4) + e.name;
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const uint64_t z64 = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) +
           le(entries.size(), 8) + le(entries.size(), 8) + le(cd.size(), 8) + le(cd_offset, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(z64, 8) + le(1, 4);
    out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) +
           le(0xffffffff, 4) + le(0xffffffff, 4) + le(0, 2);
  } else {
    out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(entries.size(), 2) + le(entries.size(), 2) +
           le(cd.size(), 4) + le(cd_offset, 4) + le(0, 2);
  }
  write_bytes(path, out);
}

namespace pk {

std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string integer(int32_t v) { return "J" + le(static_cast<uint32_t>(v), 4); }
std::string global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
std::string tuple(const std::vector<std::string>& items) {
  std::string s = "(";
  for (const auto& i : items) s += i;
  return s + "t";
}
std::string list(const std::vector<std::string>& items) {
  if (items.empty()) return "]";
  std::string s = "](";
  for (const auto& i : items) s += i;
  return s + "e";
}
std::string dict(const std::vector<std::pair<std::string, std::string>>& items) {
  if (items.empty()) return "}";
  std::string s = "}(";
  for (const auto& [k, v] : items) s += k + v;
  return s + "u";
}
std::string ints(const std::vector<int64_t>& v) {
  std::vector<std::string> items;
  for (int64_t x : v) items.push_back(integer(static_cast<int32_t>(x)));
  return tuple(items);
}

std::string value(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "N";
    case nlohmann::json::value_t::boolean:
      return v.get<bool>() ? "\x88" : "\x89";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: {
      const int64_t i = v.get<int64_t>();
      if (i >= INT32_MIN && i <= INT32_MAX) return integer(static_cast<int32_t>(i));
      return std::string("\x8a\x08", 2) + le(static_cast<uint64_t>(i), 8);  // LONG1
    }
    case nlohmann::json::value_t::number_float: {
      const double d = v.get<double>();
      uint64_t bits = 0;
      std::memcpy(&bits, &d, 8);
      std::string s = "G";  // BINFLOAT: big-endian IEEE double
      for (int i = 7; i >= 0; --i) s += static_cast<char>((bits >> (8 * i)) & 0xff);
      return s;
    }
    case nlohmann::json::value_t::string:
      return str(v.get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<std::string> items;
      for (const auto& x : v) items.push_back(value(x));
      return list(items);
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<std::string, std::string>> items;
      for (const auto& [k, x] : v.items()) items.emplace_back(str(k), value(x));
      return dict(items);
    }
    default:
      throw std::invalid_argument("th_writer: no pickle for JSON " + v.dump());
  }
}

std::string tensor(const std::string& storage_type, const std::string& key, int numel, int offset,
                   const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  return global("torch._utils", "_rebuild_tensor_v2") + "(" +
         tuple({str("storage"), global("torch", storage_type), str(key), str("cpu"),
                integer(numel)}) +
         "Q" + integer(offset) + ints(shape) + ints(strides) + "\x89" +
         global("collections", "OrderedDict") + ")R" + "tR";
}

std::string checkpoint(const std::string& kwargs, const std::string& state,
                       const std::string& training_args, const std::string& klass) {
  return std::string("\x80\x02") +
         dict({{str("klass"), klass},
               {str("args"), ")"},
               {str("kwargs"), kwargs},
               {str("state"), state},
               {str("training_args"), training_args}}) +
         ".";
}

}  // namespace pk

namespace {

// The IEEE half with exactly the value of `f`; throws when there is none.
uint16_t to_half_exact(float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, 4);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (std::isinf(f)) return sign | 0x7c00u;
  const double a = std::fabs(static_cast<double>(f));
  if (a == 0) return sign;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1): the leading bit is 2^(e-1)
  double mantissa = 0;
  int biased = 0;
  if (e - 1 >= -14) {  // normal: (1 + k/1024) * 2^(e-1)
    biased = e - 1 + 15;
    mantissa = (std::ldexp(a, -(e - 1)) - 1) * 1024;
  } else {  // subnormal: k * 2^-24
    mantissa = std::ldexp(a, 24);
  }
  if (biased > 30 || mantissa != std::floor(mantissa) || mantissa >= 1024)
    throw std::invalid_argument("th_writer: " + std::to_string(f) + " is not an fp16 value");
  return static_cast<uint16_t>(sign | (biased << 10) | static_cast<uint16_t>(mantissa));
}

}  // namespace

void write_checkpoint(const fs::path& path, const rz::demucs::Checkpoint& ck, Storage storage) {
  const size_t dot = ck.klass.rfind('.');
  if (dot == std::string::npos) throw std::invalid_argument("th_writer: klass without a module");
  const std::string storage_type = storage == Storage::kHalf ? "HalfStorage" : "FloatStorage";

  std::vector<std::string> args;
  for (const auto& a : ck.args) args.push_back(pk::value(a));
  std::vector<std::pair<std::string, std::string>> state;
  std::vector<ZipEntryIn> entries(1);  // data.pkl goes first, filled in below
  for (size_t i = 0; i < ck.state.size(); ++i) {
    const auto& [key, t] = ck.state[i];
    std::vector<int64_t> strides(t.shape.size());
    int64_t stride = 1;
    for (size_t d = t.shape.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= t.shape[d];
    }
    const std::string storage_key = std::to_string(i);
    state.emplace_back(pk::str(key), pk::tensor(storage_type, storage_key,
                                                static_cast<int>(t.numel()), 0, t.shape, strides));
    std::string data;
    if (storage == Storage::kHalf) {
      for (float v : t.data) data += le(to_half_exact(v), 2);
    } else {
      data.resize(t.data.size() * 4);
      std::memcpy(data.data(), t.data.data(), data.size());  // little-endian hosts only
    }
    entries.push_back({"archive/data/" + storage_key, std::move(data)});
  }
  const std::string pickle =
      std::string("\x80\x02") +
      pk::dict({{pk::str("klass"), pk::global(ck.klass.substr(0, dot), ck.klass.substr(dot + 1))},
                {pk::str("args"), args.empty() ? ")" : pk::tuple(args)},
                {pk::str("kwargs"), pk::value(ck.kwargs)},
                {pk::str("state"), pk::dict(state)},
                {pk::str("training_args"), "}"}}) +
      ".";
  entries[0] = {"archive/data.pkl", pickle};
  entries.push_back({"archive/version", "3\n"});

  // Align every storage's data to 64 bytes as torch does: a local header is 30 bytes plus the
  // name, and the padding extra field needs at least its own 4-byte header.
  uint64_t offset = 0;
  for (auto& e : entries) {
    const uint64_t data_at = offset + 30 + e.name.size();
    if (e.name.rfind("archive/data/", 0) == 0) {
      size_t pad = static_cast<size_t>((64 - data_at % 64) % 64);
      if (pad < 4) pad += 64;
      e.local_pad = pad;
    }
    offset = data_at + e.local_pad + e.data.size();
  }
  write_zip(path, entries, /*zip64=*/false);
}

}  // namespace rz::test::th
