// libFuzzer harness: rz::demucs::read_checkpoint (zip directory, pickle machine, tensor loader)
// on a file holding the input. The file is named "input.th", not demucs' NAME-XXXXXXXX.th, so
// no SHA-256 check in the name stops the input before the zip reader sees it.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rz::fuzz::ScratchFile file("input.th", data, size);
  rz::fuzz::read_checkpoint_checked(file.path());
  return 0;
}
