// Helpers shared by the libFuzzer harnesses: scratch files for the readers that take a path, the
// checks every refusal must pass, and invariants whose failure is a bug (reported as a crash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "rz/error.hpp"

namespace rz::fuzz {

// A file holding one input, in this process's scratch directory ("$TMPDIR/rz-fuzz-XXXXXX",
// /tmp without TMPDIR; made on first use, removed at exit), removed again when this dies.
class ScratchFile {
 public:
  ScratchFile(const std::string& name, const uint8_t* data, size_t size);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The input as text.
inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A failed invariant: prints `what` on stderr and aborts (libFuzzer saves the input).
[[noreturn]] void fail(const std::string& what);
inline void require(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// An expected refusal: the message must be one non-empty line, as every rz error is, and the
// exception of the class `Expected` that the entry point documents.
void check_refusal(const Error& e);
template <typename Expected>
void check_refusal_of(const Error& e) {
  check_refusal(e);
  require(dynamic_cast<const Expected*>(&e) != nullptr,
          std::string("refused with an error of another class: ") + e.what());
}

// rz::demucs::read_checkpoint(path) with the invariants of what it returns (klass supported,
// shapes that match the data, a SHA-256); refusals go through check_refusal_of<InputError>.
void read_checkpoint_checked(const std::filesystem::path& path);

}  // namespace rz::fuzz
