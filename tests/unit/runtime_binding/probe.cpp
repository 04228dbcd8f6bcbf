// Checks cmake/RzHelpers.cmake's rz_runtime_first: this program is linked like the tools, with a
// library that exports a decoy std::filesystem::remove_all (decoy.cpp) placed before libstdc++
// on the link line, as libtorch is. Its call must still reach libstdc++ and remove a real
// directory. Exits 0 when it does, 1 (naming the library the call bound to) when it does not.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "decoy.hpp"

namespace fs = std::filesystem;

namespace {

// The shared object that holds `fn`, as the dynamic linker bound it.
std::string object_of(const void* fn) {
  Dl_info info{};
  if (dladdr(fn, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

}  // namespace

int main() {
  if (rz_decoy::marker() != 1) return 2;
  char pattern[] = "/tmp/rz-runtime-binding-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    std::perror("mkdtemp");
    return 2;
  }
  const fs::path dir = pattern;
  std::ofstream(dir / "a.txt") << "a";
  fs::create_directory(dir / "sub");
  std::ofstream(dir / "sub" / "b.txt") << "b";

  std::error_code ec;
  const std::uintmax_t removed = fs::remove_all(dir, ec);  // the call as the tools make it
  const bool gone = !fs::exists(dir);
  using RemoveAll = std::uintmax_t (*)(const fs::path&, std::error_code&);
  const RemoveAll fn = &fs::remove_all;  // resolved by the same lookup, for the message
  const std::string where = object_of(reinterpret_cast<const void*>(fn));
  if (removed == rz_decoy::kDecoyResult || !gone) {
    std::fprintf(stderr,
                 "std::filesystem::remove_all bound to %s: it returned %ju and the directory %s\n",
                 where.c_str(), removed, gone ? "is gone" : "is still there");
    std::error_code ignore;
    fs::remove(dir / "sub" / "b.txt", ignore);
    fs::remove(dir / "sub", ignore);
    fs::remove(dir / "a.txt", ignore);
    fs::remove(dir, ignore);
    return 1;
  }
  std::fprintf(stderr, "std::filesystem::remove_all bound to %s, removed %ju entries\n",
               where.c_str(), removed);
  return 0;
}
