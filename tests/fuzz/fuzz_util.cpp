// Scratch files, refusal checks and the checkpoint invariants shared by the harnesses.
#include "fuzz_util.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "rz/demucs/checkpoint.hpp"

namespace fs = std::filesystem;

namespace rz::fuzz {

namespace {

fs::path make_scratch_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/rz-fuzz-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) fail("cannot create a scratch directory from " + pattern);
  return fs::path(buf.data());
}

// Never destroyed, so that the exit handler that removes it still finds it.
const fs::path& scratch_dir() {
  static const fs::path* dir = [] {
    const auto* d = new fs::path(make_scratch_dir());
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

}  // namespace

void fail(const std::string& what) {
  std::fprintf(stderr, "rz fuzz invariant failed: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

ScratchFile::ScratchFile(const std::string& name, const uint8_t* data, size_t size)
    : path_(scratch_dir() / name) {
  std::ofstream out(path_, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) fail("cannot write the scratch file " + path_.string());
}

ScratchFile::~ScratchFile() {
  std::error_code ec;
  fs::remove(path_, ec);
}

void check_refusal(const Error& e) {
  const std::string_view what = e.what();
  require(!what.empty(), "refused with an empty message");
  require(what.find('\n') == std::string_view::npos,
          "refusal message of more than one line: " + std::string(what));
}

void read_checkpoint_checked(const fs::path& path) {
  demucs::Checkpoint ck;
  try {
    ck = demucs::read_checkpoint(path);
  } catch (const Error& e) {
    check_refusal_of<InputError>(e);
    return;
  }
  require(ck.klass == "demucs.htdemucs.HTDemucs" || ck.klass == "demucs.hdemucs.HDemucs" ||
              ck.klass == "demucs.demucs.Demucs",
          "accepted model class " + ck.klass);
  require(ck.args.is_array() && ck.kwargs.is_object(), "args or kwargs of the wrong JSON type");
  require(ck.sha256.size() == 64, "SHA-256 of " + std::to_string(ck.sha256.size()) + " digits");
  for (const auto& [key, t] : ck.state) {
    int64_t numel = 1;
    for (const int64_t d : t.shape) {
      require(d >= 0, "negative dimension in " + key);
      numel = d == 0 || numel == 0 ? 0 : numel * d;  // the reader bounds every product
    }
    require(numel == t.numel(), "shape and element count differ in " + key);
  }
}

}  // namespace rz::fuzz
