// Regular-file-only opening and capped reads (see file.hpp).
#include "rz/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rz/error.hpp"

namespace fs = std::filesystem;

namespace rz::io {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

namespace {

// The reason a stat result is not a regular file, or nullptr.
const char* not_regular_reason(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return nullptr;
  if (S_ISDIR(st.st_mode)) return "is a directory";
  if (S_ISFIFO(st.st_mode)) return "not a regular file (a FIFO)";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "not a regular file (a device)";
  if (S_ISSOCK(st.st_mode)) return "not a regular file (a socket)";
  return "not a regular file";
}

}  // namespace

Fd open_regular(const fs::path& path, uint64_t* bytes, const char* what) {
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one; the
  // fstat below then refuses it. O_NOCTTY: a terminal device never becomes ours.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    const int e = errno;
    if (e == ENOENT) throw InputError(what, path.string(), "no such file");
    if (e == ENOTDIR) throw InputError(what, path.string(), "a parent is not a directory");
    throw InputError(what, path.string(), std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw InputError(what, path.string(), std::strerror(errno));
  if (const char* why = not_regular_reason(st)) throw InputError(what, path.string(), why);
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (bytes) *bytes = static_cast<uint64_t>(st.st_size);
  return fd;
}

void require_regular_file(const fs::path& path) {
  uint64_t bytes = 0;
  open_regular(path, &bytes, "cannot open");
  if (bytes == 0) throw InputError("cannot open", path.string(), "file is empty");
}

bool read_at(int fd, uint64_t offset, void* dst, size_t bytes, const fs::path& path) {
  auto* out = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    const ssize_t got = ::pread(fd, out, bytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) {
      throw_if_interrupted();
      continue;
    }
    if (got < 0) throw InputError("cannot read", path.string(), std::strerror(errno));
    if (got == 0) return false;
    out += got;
    offset += static_cast<uint64_t>(got);
    bytes -= static_cast<size_t>(got);
  }
  return true;
}

std::string read_file(const fs::path& path, size_t max_bytes, const char* kind, const char* what) {
  uint64_t size = 0;
  const Fd fd = open_regular(path, &size, what);
  if (size > max_bytes) {
    throw InputError(what, path.string(),
                     "larger than " + std::to_string(max_bytes) + " bytes, the most a " + kind +
                         " may be");
  }
  std::string text(static_cast<size_t>(size), '\0');
  constexpr size_t kChunk = size_t{1} << 20;
  for (size_t done = 0; done < text.size();) {
    throw_if_interrupted();
    const size_t n = std::min(kChunk, text.size() - done);
    if (!read_at(fd.get(), done, text.data() + done, n, path)) {
      text.resize(done);  // the file shrank while we read: keep what is there
      break;
    }
    done += n;
  }
  return text;
}

std::string unsafe_component_reason(const std::string& name, size_t max_bytes) {
  if (name.empty()) return "is empty";
  if (name.size() > max_bytes) return "is longer than " + std::to_string(max_bytes) + " bytes";
  if (name == "." || name == "..") return "is '" + name + "'";
  if (name.front() == '.') return "starts with '.'";
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/') return "contains '/'";
    if (c == '\\') return "contains '\\'";
    if (u < 0x20 || u == 0x7f) return "contains a control character";
  }
  return "";
}

bool resolves_inside(const fs::path& path, const fs::path& dir) {
  std::error_code ec;
  const fs::path p = fs::canonical(path, ec);
  if (ec) return false;
  const fs::path d = fs::canonical(dir, ec);
  if (ec) return false;
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++pi) {
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

}  // namespace rz::io
