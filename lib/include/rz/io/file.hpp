// Opening files that come from outside (inputs, manifests, models, settings) so that nothing a
// user or a downloaded file puts in their place can block, exhaust memory or lead elsewhere.
//
// Every rz reader of outside data goes through here: a FIFO, a device, a socket or a directory
// where a regular file is expected is refused before anything reads from it (the open itself
// does not block: O_NONBLOCK), and whole-file reads are capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace rz::io {

// A file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Opens `path` (symlinks followed) read-only and refuses anything but a regular file: the open
// does not wait on a FIFO's writer, and a device or socket is never read. Returns a blocking
// descriptor and, when `bytes` is given, the file's size. Throws rz::InputError
// "<what> '<path>': <reason>" (no such file, is a directory, not a regular file (a FIFO, device
// or socket), or the system's reason).
Fd open_regular(const std::filesystem::path& path, uint64_t* bytes = nullptr,
                const char* what = "cannot read");

// The same checks without keeping the file open, plus "file is empty" for a zero-length file
// (what rz-ingest says of a recording).
void require_regular_file(const std::filesystem::path& path);

// The whole of a regular file of at most `max_bytes` (refused with "larger than N bytes, the
// most a <kind> may be" otherwise, before anything is read). Checks for interruption.
std::string read_file(const std::filesystem::path& path, size_t max_bytes, const char* kind,
                      const char* what = "cannot read");

// Exactly `bytes` from `fd` at `offset` (pread, EINTR retried); false when the file ends first.
// Throws rz::InputError "cannot read '<path>'" on a read error.
bool read_at(int fd, uint64_t offset, void* dst, size_t bytes, const std::filesystem::path& path);

// A path component safe to create inside a directory: not empty, not "." or "..", no '/', no NUL
// or other control character, not hidden (no leading '.': rz keeps its temporaries there), at
// most `max_bytes`. Returns the reason it is not, or "" when it is.
std::string unsafe_component_reason(const std::string& name, size_t max_bytes = 255);

// True when `path` names something inside `dir` (or `dir` itself) once symlinks are resolved:
// a symlink inside `dir` that points outside it is not inside. Both must exist.
bool resolves_inside(const std::filesystem::path& path, const std::filesystem::path& dir);

}  // namespace rz::io
