// Helpers shared by the rz tests: shared-material lookup with visible skips, temp dirs, signals.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace rz::test {

// Exit code that ctest reports as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt).
inline constexpr int kSkipExitCode = 77;

// Speed floors in tests only catch a pathological slowdown. Sanitizer builds (RZ_SANITIZE) run 3 to
// 10 times slower, so there a floor would measure the instrumentation: RZ_CHECK_SPEED checks the
// floor in normal builds and says visibly (WARN) that it did not in sanitizer builds.
#ifdef RZ_SANITIZED
inline constexpr bool kSpeedChecks = false;
#else
inline constexpr bool kSpeedChecks = true;
#endif
#define RZ_CHECK_SPEED(expr)                                        \
  do {                                                              \
    if (::rz::test::kSpeedChecks) {                                 \
      CHECK(expr);                                                  \
    } else {                                                        \
      WARN("speed floor not checked in a sanitizer build: " #expr); \
    }                                                               \
  } while (false)

// Prints "SKIP: <why>" and exits kSkipExitCode, so that ctest reports the test skipped.
[[noreturn]] void skip(const std::string& why);

// ../shared (or $RZ_SHARED_DIR).
std::filesystem::path shared_dir();
// shared_dir()/relative; when it is absent skip()s, so a missing resource is a visible skip and
// never a silent pass.
std::filesystem::path require_shared(const std::string& relative);

// A fresh empty directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Interleaved test signals.
std::vector<float> sine(double freq_hz, double amplitude, int sample_rate_hz, int64_t frames,
                        int channels = 1, double phase = 0.0);
// Amplitude of the freq_hz component of one channel of interleaved x over frames [begin, end), by
// projection on sin and cos (exact for a pure sine when the span holds whole cycles).
double tone_amplitude(const std::vector<float>& x, int64_t begin, int64_t end, double freq_hz,
                      int sample_rate_hz, int channels = 1, int channel = 0);
// Gaussian white noise with the given RMS, deterministic for a seed.
std::vector<float> white_noise(double rms, int64_t frames, int channels, uint64_t seed);

// Writes interleaved float samples as a WAV (float32 unless bits is 16 or 24).
void write_wav(const std::filesystem::path& path, const std::vector<float>& samples,
               int sample_rate_hz, int channels, int bits = 0);
// Reads a whole (small) file as interleaved floats.
std::vector<float> read_all(const std::filesystem::path& path, int* sample_rate_hz = nullptr,
                            int* channels = nullptr);

// The message of the rz::InputError that `f` throws ("" when it throws none).
std::string input_error(const std::function<void()>& f);

}  // namespace rz::test
