// libFuzzer harness: rz::audio::Reader (libsndfile behind rz's checks) on a file holding the
// input: open, read every frame in blocks, seek back to the middle and read on. At most
// kMaxFrames frames are read, so a header that declares hours of audio cannot time out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "rz/audio/file.hpp"

namespace {

constexpr size_t kBlockFrames = 4096;
constexpr size_t kMaxFrames = size_t{1} << 20;

}  // namespace

// Leaks that are not rz's to fix, built in so that a reproducer run by hand sees the same:
// libsndfile 1.2.0 (Debian 12) does not free what libvorbis' vorbis_info_init allocated when an
// Ogg Vorbis file's headers are cut short (regressions/audio/leak-libvorbis-truncated-headers.ogg).
// sf_open has failed by then and handed rz nothing to free.
extern "C" const char* __lsan_default_suppressions() { return "leak:libvorbis.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rz::fuzz::require;
  const rz::fuzz::ScratchFile file("input.wav", data, size);
  try {
    rz::audio::Reader reader(file.path());
    const rz::audio::FileInfo& info = reader.info();
    require(info.channels >= 1 && info.channels <= rz::audio::kMaxChannels, "channels");
    require(info.sample_rate_hz >= 1 && info.sample_rate_hz <= rz::audio::kMaxSampleRateHz,
            "sample rate");
    std::vector<float> block(kBlockFrames * static_cast<size_t>(info.channels));
    size_t total = 0;
    while (total < kMaxFrames) {
      const size_t got = reader.read(block.data(), kBlockFrames);
      require(got <= kBlockFrames, "read more frames than asked for");
      if (got == 0) break;
      total += got;
    }
    if (info.frames > 1) {
      reader.seek(info.frames / 2);
      require(reader.read(block.data(), kBlockFrames) <= kBlockFrames, "read after seek");
    }
  } catch (const rz::Error& e) {
    rz::fuzz::check_refusal_of<rz::InputError>(e);
  }
  return 0;
}
