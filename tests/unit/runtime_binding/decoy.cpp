// A shared library that exports its own std::filesystem::remove_all, as the libtorch of a pip
// torch install exports copies of parts of libstdc++ (issue 15). Its copy removes nothing and
// returns kDecoyResult, so a program whose call lands here can tell.
#include "decoy.hpp"

#include <filesystem>
#include <system_error>

std::uintmax_t std::filesystem::remove_all(const std::filesystem::path& /*p*/,
                                           std::error_code& ec) {
  ec.clear();
  return rz_decoy::kDecoyResult;
}

int rz_decoy::marker() { return 1; }
