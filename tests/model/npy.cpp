#include "npy.hpp"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace rz::test {

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path.string());
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error("not npy: " + path.string());
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t h = 0;
    f.read(reinterpret_cast<char*>(&h), 2);
    header_len = h;
  } else {
    f.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  f.read(header.data(), header_len);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error("unsupported npy layout: " + header);
  NpyArray a;
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  size_t pos = 0;
  int64_t n = 1;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    size_t used = 0;
    const int64_t d = std::stoll(dims.substr(pos), &used);
    a.shape.push_back(d);
    n *= d;
    pos += used;
  }
  a.data.resize(static_cast<size_t>(n));
  f.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(n * 4));
  if (!f) throw std::runtime_error("truncated npy: " + path.string());
  return a;
}

}  // namespace rz::test
