// Implementation of the shared test helpers.
#include "test_support.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "rz/audio/file.hpp"
#include "rz/error.hpp"

namespace fs = std::filesystem;

namespace rz::test {

void skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(kSkipExitCode);
}

fs::path shared_dir() {
  if (const char* env = std::getenv("RZ_SHARED_DIR"); env && *env) return fs::path(env);
#ifdef RZ_SHARED_DIR_DEFAULT
  return fs::path(RZ_SHARED_DIR_DEFAULT);
#else
  return fs::path("../shared");
#endif
}

fs::path require_shared(const std::string& relative) {
  const fs::path p = shared_dir() / relative;
  if (!fs::exists(p)) {
    skip(p.string() + " is absent (set RZ_SHARED_DIR to the shared test material)");
  }
  return p;
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "rz-test-XXXXXX").string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (!mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
  path_ = name.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

std::vector<float> sine(double freq_hz, double amplitude, int sample_rate_hz, int64_t frames,
                        int channels, double phase) {
  std::vector<float> x(static_cast<size_t>(frames * channels));
  for (int64_t i = 0; i < frames; ++i) {
    const float v =
        static_cast<float>(amplitude * std::sin(2 * M_PI * freq_hz * i / sample_rate_hz + phase));
    for (int c = 0; c < channels; ++c) x[static_cast<size_t>(i * channels + c)] = v;
  }
  return x;
}

double tone_amplitude(const std::vector<float>& x, int64_t begin, int64_t end, double freq_hz,
                      int sample_rate_hz, int channels, int channel) {
  double s = 0, c = 0;
  for (int64_t i = begin; i < end; ++i) {
    const double w = 2 * M_PI * freq_hz * static_cast<double>(i) / sample_rate_hz;
    const double v = x[static_cast<size_t>(i * channels + channel)];
    s += v * std::sin(w);
    c += v * std::cos(w);
  }
  return 2.0 * std::hypot(s, c) / static_cast<double>(end - begin);
}

std::vector<float> white_noise(double rms, int64_t frames, int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> x(static_cast<size_t>(frames * channels));
  // Box-Muller on the raw generator output: identical on every platform for a seed.
  for (size_t i = 0; i < x.size(); i += 2) {
    const double u1 = (static_cast<double>(rng() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(rng() >> 11) / 9007199254740992.0;
    const double r = std::sqrt(-2.0 * std::log(u1));
    x[i] = static_cast<float>(rms * r * std::cos(2 * M_PI * u2));
    if (i + 1 < x.size()) x[i + 1] = static_cast<float>(rms * r * std::sin(2 * M_PI * u2));
  }
  return x;
}

void write_wav(const fs::path& path, const std::vector<float>& samples, int sample_rate_hz,
               int channels, int bits) {
  audio::WriteSpec spec;
  spec.sample_rate_hz = sample_rate_hz;
  spec.channels = channels;
  spec.container = "wav";
  spec.sample_format = bits == 16   ? audio::SampleFormat::kPcm16
                       : bits == 24 ? audio::SampleFormat::kPcm24
                                    : audio::SampleFormat::kFloat32;
  audio::Writer w(path, spec);
  w.write(samples.data(), samples.size() / static_cast<size_t>(channels));
  w.close();
}

std::vector<float> read_all(const fs::path& path, int* sample_rate_hz, int* channels) {
  audio::Reader r(path);
  if (sample_rate_hz) *sample_rate_hz = r.info().sample_rate_hz;
  if (channels) *channels = r.info().channels;
  std::vector<float> x(static_cast<size_t>(r.info().frames * r.info().channels));
  size_t got = 0;
  while (got < static_cast<size_t>(r.info().frames)) {
    const size_t n =
        r.read(x.data() + got * r.info().channels, static_cast<size_t>(r.info().frames) - got);
    if (n == 0) break;
    got += n;
  }
  x.resize(got * static_cast<size_t>(r.info().channels));
  return x;
}

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const rz::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace rz::test
