// Unit tests of rz::audio: libsndfile Reader/Writer round trips, format names, libsamplerate.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::audio::Reader;
using rz::audio::ResampleQuality;
using rz::audio::Resampler;
using rz::audio::SampleFormat;
using rz::audio::Writer;
using rz::audio::WriteSpec;

constexpr int kRate = 48000;

// STYLE.md: a 16-bit round trip keeps at least 87 dB SNR.
constexpr double kPcm16MinSnrDb = 87.0;
// Rounding to nearest leaves an error uniform in +/-0.5 LSB: power LSB^2 / 12, so a sine of
// amplitude A reads 10 log10((A^2 / 2) / (LSB^2 / 12)) = 97.17 dB at A = 0.9, 16 bits. The error
// power over 48000 samples of a sine incommensurate with the rate is that within ~1 %: 0.1 dB.
constexpr double kQuantisationSnrDb = 0.1;
// Float to integer conversion rounds to nearest: within half an LSB, plus float32 rounding of the
// scaled value (24-bit codes need 24 bits of a float's 24-bit mantissa: up to 0.5 more LSB at 24).
constexpr double kPcm16MaxErrorLsb = 0.5 + 1e-3;
constexpr double kPcm24MaxErrorLsb = 1.0;
// The mean rounding error of 10^5 samples: standard deviation 0.29 LSB / sqrt(10^5) = 0.001 LSB;
// 0.02 LSB leaves 20 standard deviations and still catches a truncating (-0.5 LSB) conversion.
constexpr double kMeanErrorLsb = 0.02;
// libsamplerate's medium sinc converter is specified at 121 dB SNR; the residual of a least-squares
// sine fit over 0.9 s must stay at least 100 dB under the sine (float32 output, fit over a finite
// span).
constexpr double kResampleMinSnrDb = 100.0;
// Amplitude and phase of the resampled sine from the same fit: a 121 dB converter moves them by
// ~1e-6; 0.001 dB and 1e-4 rad (13 ns at 1 kHz) would still catch any gain or delay error.
constexpr double kResampleGainDb = 0.001;
constexpr double kResamplePhaseRad = 1e-4;
// Output length of a drained converter: ratio * input, give or take the rounding of the last frame.
constexpr int64_t kResampleLengthFrames = 2;

double snr_db(const std::vector<float>& ref, const std::vector<float>& test) {
  double s = 0, e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    s += double(ref[i]) * ref[i];
    e += (double(ref[i]) - test[i]) * (double(ref[i]) - test[i]);
  }
  return 10.0 * std::log10(s / e);
}

void write_file(const std::filesystem::path& path, const std::vector<float>& x, int channels,
                const std::string& container, SampleFormat format) {
  WriteSpec spec;
  spec.sample_rate_hz = kRate;
  spec.channels = channels;
  spec.container = container;
  spec.sample_format = format;
  Writer w(path, spec);
  w.write(x.data(), x.size() / static_cast<size_t>(channels));
  CHECK(w.frames_written() == static_cast<int64_t>(x.size() / channels));
  w.close();
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
  REQUIRE(f.good());
}

}  // namespace

TEST_CASE("audio: 16-bit WAV round trip keeps >= 87 dB SNR", "[unit][audio]") {
  rz::test::TempDir tmp;
  const auto x = rz::test::sine(997.0, 0.9, kRate, kRate, 2);
  rz::test::write_wav(tmp / "a.wav", x, kRate, 2, 16);
  int rate = 0, channels = 0;
  const auto y = rz::test::read_all(tmp / "a.wav", &rate, &channels);
  REQUIRE(y.size() == x.size());
  CHECK(rate == kRate);
  CHECK(channels == 2);
  CHECK(snr_db(x, y) >= kPcm16MinSnrDb);
  Reader r(tmp / "a.wav");
  CHECK(r.info().container == "wav");
  CHECK(r.info().encoding == "pcm16");
  CHECK(r.info().frames == kRate);
  CHECK(r.info().duration_s() == 1.0);
}

TEST_CASE("audio: float32 WAV round trip is exact", "[unit][audio]") {
  rz::test::TempDir tmp;
  auto x = rz::test::white_noise(0.3, 12345, 3, 17);
  x[7] = 1.5f;  // float files keep values past full scale
  x[8] = -2.25f;
  x[9] = 1e-30f;
  rz::test::write_wav(tmp / "f.wav", x, kRate, 3);
  int channels = 0;
  const auto y = rz::test::read_all(tmp / "f.wav", nullptr, &channels);
  CHECK(channels == 3);
  CHECK(y == x);
  Reader r(tmp / "f.wav");
  CHECK(r.info().encoding == "float32");
}

TEST_CASE("audio: float samples written to 16 and 24 bits are rounded to nearest",
          "[unit][audio]") {
  rz::test::TempDir tmp;
  auto x = rz::test::white_noise(0.2, 100000, 1, 43);
  for (float& v : x) v = std::max(-0.99f, std::min(0.99f, v));
  for (int bits : {16, 24}) {
    INFO(bits << " bits");
    const auto path = tmp / ("r" + std::to_string(bits) + ".wav");
    rz::test::write_wav(path, x, kRate, 1, bits);
    const auto y = rz::test::read_all(path);
    REQUIRE(y.size() == x.size());
    const double lsb = std::ldexp(1.0, -(bits - 1));
    double worst = 0, mean = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = (double(y[i]) - x[i]) / lsb;
      worst = std::max(worst, std::fabs(e));
      mean += e / x.size();
    }
    CHECK(worst <= (bits == 16 ? kPcm16MaxErrorLsb : kPcm24MaxErrorLsb));
    CHECK(std::fabs(mean) <= kMeanErrorLsb);
  }
  // The second reference for the 16-bit round trip: a sine of amplitude 0.9 keeps the SNR that
  // rounding to nearest allows, 10 log10((0.81 / 2) / (2^-30 / 12)) = 97.18 dB.
  const auto s = rz::test::sine(997.0, 0.9, kRate, kRate, 1);
  rz::test::write_wav(tmp / "sine16.wav", s, kRate, 1, 16);
  const double expected_snr = 10 * std::log10(0.81 / 2 * 12 * std::ldexp(1.0, 30));
  CHECK(snr_db(s, rz::test::read_all(tmp / "sine16.wav")) ==
        Approx(expected_snr).margin(kQuantisationSnrDb));
}

TEST_CASE("audio: FLAC 24-bit round trip is within one LSB", "[unit][audio]") {
  rz::test::TempDir tmp;
  auto x = rz::test::white_noise(0.25, 20000, 2, 23);
  for (float& v : x) v = std::max(-0.99f, std::min(0.99f, v));
  write_file(tmp / "a.flac", x, 2, "flac", SampleFormat::kPcm24);
  Reader r(tmp / "a.flac");
  CHECK(r.info().container == "flac");
  CHECK(r.info().encoding == "pcm24");
  CHECK(r.info().frames == 20000);
  CHECK(r.info().sample_rate_hz == kRate);
  const auto y = rz::test::read_all(tmp / "a.flac");
  REQUIRE(y.size() == x.size());
  const double lsb = std::ldexp(1.0, -23);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(double(y[i]) - x[i]));
  CHECK(worst / lsb <= kPcm24MaxErrorLsb);
}

TEST_CASE("audio: write_int stores 16-bit codes exactly", "[unit][audio]") {
  rz::test::TempDir tmp;
  std::vector<int32_t> codes = {-32768, -32767, -1, 0, 1, 2, 12345, -23456, 32766, 32767};
  for (int i = 0; i < 1000; ++i) codes.push_back((i * 7919) % 65536 - 32768);
  std::vector<int32_t> left_justified;
  for (int32_t c : codes) left_justified.push_back(c * 65536);
  for (const char* container : {"wav", "flac"}) {
    INFO(container);
    const auto path = tmp / (std::string("i.") + container);
    WriteSpec spec;
    spec.sample_rate_hz = kRate;
    spec.channels = 2;
    spec.container = container;
    spec.sample_format = SampleFormat::kPcm16;
    Writer w(path, spec);
    w.write_int(left_justified.data(), left_justified.size() / 2);
    CHECK(w.frames_written() == static_cast<int64_t>(codes.size() / 2));
    w.close();
    const auto y = rz::test::read_all(path);
    REQUIRE(y.size() == codes.size());
    bool exact = true;
    for (size_t i = 0; i < codes.size(); ++i) exact = exact && y[i] == codes[i] / 32768.0f;
    CHECK(exact);
  }
}

TEST_CASE("audio: a truncated WAV reports the frames its header promised", "[unit][audio]") {
  rz::test::TempDir tmp;
  const auto x = rz::test::white_noise(0.1, 10000, 2, 53);
  rz::test::write_wav(tmp / "t.wav", x, kRate, 2, 16);
  Reader whole(tmp / "t.wav");
  CHECK_FALSE(whole.info().truncated());
  CHECK(whole.info().frames == 10000);
  // Cut the file 4000 frames short (16-bit stereo: 4 bytes per frame).
  std::filesystem::resize_file(tmp / "t.wav", std::filesystem::file_size(tmp / "t.wav") - 4 * 4000);
  Reader cut(tmp / "t.wav");
  CHECK(cut.info().truncated());
  CHECK(cut.info().frames == 6000);
  CHECK(cut.info().declared_frames == 10000);
  const auto y = rz::test::read_all(tmp / "t.wav");
  CHECK(y.size() == 2 * 6000u);
}

TEST_CASE("audio: Reader::seek and block reads", "[unit][audio]") {
  rz::test::TempDir tmp;
  const auto x = rz::test::white_noise(0.1, 5000, 2, 29);
  rz::test::write_wav(tmp / "s.wav", x, kRate, 2);
  Reader r(tmp / "s.wav");
  r.seek(1234);
  std::vector<float> buf(2 * 100);
  REQUIRE(r.read(buf.data(), 100) == 100);
  CHECK(std::equal(buf.begin(), buf.end(), x.begin() + 2 * 1234));
  r.seek(4990);
  CHECK(r.read(buf.data(), 100) == 10);  // only 10 frames left
  CHECK(r.read(buf.data(), 100) == 0);   // then the end
  CHECK(r.path() == tmp / "s.wav");
}

TEST_CASE("audio: Reader throws InputError on missing, empty and garbage files", "[unit][audio]") {
  rz::test::TempDir tmp;
  CHECK_THROWS_AS(Reader(tmp / "absent.wav"), rz::InputError);
  write_bytes(tmp / "empty.wav", "");
  CHECK_THROWS_AS(Reader(tmp / "empty.wav"), rz::InputError);
  write_bytes(tmp / "garbage.wav", std::string(4096, '\x5a'));
  CHECK_THROWS_AS(Reader(tmp / "garbage.wav"), rz::InputError);
  write_bytes(tmp / "text.flac", "this is not a FLAC stream, just some text\n");
  CHECK_THROWS_AS(Reader(tmp / "text.flac"), rz::InputError);
  // The message names the file, and the error maps to the runtime-failure exit code.
  try {
    Reader r(tmp / "garbage.wav");
    FAIL("no exception");
  } catch (const rz::InputError& e) {
    CHECK(std::string(e.what()).find("garbage.wav") != std::string::npos);
    CHECK(e.exit_code() == rz::kExitFailure);
  }
}

TEST_CASE("audio: Writer errors", "[unit][audio]") {
  rz::test::TempDir tmp;
  WriteSpec spec;
  spec.container = "flac";
  spec.sample_format = SampleFormat::kFloat32;  // FLAC holds integers only
  CHECK_THROWS_AS(Writer(tmp / "x.flac", spec), rz::UsageError);
  spec.container = "wav";
  CHECK_THROWS_AS(Writer(tmp / "no" / "such" / "dir" / "x.wav", spec), rz::IoError);
  spec.container = "xyz";
  CHECK_THROWS_AS(Writer(tmp / "x.xyz", spec), rz::UsageError);
  spec.container = "wav";
  Writer w(tmp / "ok.wav", spec);
  w.close();
  const float frame[2] = {0, 0};
  CHECK_THROWS_AS(w.write(frame, 1), rz::IoError);  // written after close
}

TEST_CASE("audio: constant-bitrate MP3 runs at the rate lossy_quality picks", "[unit][audio]") {
  // libsndfile 1.2: 320 - (1 - q) * 288 kbps. LAME writes whole frames of exactly that rate plus
  // one Info frame and its flush; over 3 s that is within 3 %.
  constexpr double kBitrateRelTol = 0.03;
  rz::test::TempDir tmp;
  const auto x = rz::test::white_noise(0.1, 3 * kRate, 2, 9);
  for (double kbps : {64.0, 96.0, 192.0}) {
    WriteSpec spec;
    spec.sample_rate_hz = kRate;
    spec.container = "mp3";
    spec.sample_format = SampleFormat::kLossy;
    spec.constant_bitrate = true;
    spec.lossy_quality = 1 - (320 - kbps) / 288;
    const auto path = tmp / "cbr.mp3";
    {
      Writer w(path, spec);
      w.write(x.data(), x.size() / 2);
      w.close();
    }
    const double actual = std::filesystem::file_size(path) * 8.0 / 3.0 / 1000;
    INFO("asked " << kbps << " kbps, got " << actual);
    CHECK(actual == Approx(kbps).epsilon(kBitrateRelTol));
    Reader r(path);
    CHECK(r.info().container == "mp3");
  }
}

TEST_CASE("audio: sample format and container names", "[unit][audio]") {
  using rz::audio::parse_sample_format;
  CHECK(parse_sample_format("16") == SampleFormat::kPcm16);
  CHECK(parse_sample_format("24") == SampleFormat::kPcm24);
  CHECK(parse_sample_format("32") == SampleFormat::kPcm32);
  CHECK(parse_sample_format("float") == SampleFormat::kFloat32);
  CHECK(parse_sample_format("f32") == SampleFormat::kFloat32);
  CHECK(parse_sample_format("PCM16") == SampleFormat::kPcm16);
  CHECK_THROWS_AS(parse_sample_format("8"), rz::UsageError);
  CHECK_THROWS_AS(parse_sample_format(""), rz::UsageError);
  CHECK_THROWS_AS(parse_sample_format("double"), rz::UsageError);
  try {
    parse_sample_format("12");
    FAIL("no exception");
  } catch (const rz::UsageError& e) {
    CHECK(e.exit_code() == rz::kExitUsage);
  }

  CHECK(rz::audio::pcm_bits(SampleFormat::kPcm16) == 16);
  CHECK(rz::audio::pcm_bits(SampleFormat::kPcm24) == 24);
  CHECK(rz::audio::pcm_bits(SampleFormat::kFloat32) == 0);
  CHECK(rz::audio::to_string(SampleFormat::kPcm24) == "pcm24");
  CHECK(rz::audio::to_string(SampleFormat::kFloat32) == "float32");

  using rz::audio::container_for_path;
  CHECK(container_for_path("a/b/gig.wav") == "wav");
  CHECK(container_for_path("GIG.FLAC") == "flac");
  CHECK(container_for_path("x.aif") == "aiff");
  CHECK(container_for_path("x.opus") == "opus");
  CHECK(container_for_path("x.mp3") == "mp3");
  CHECK_THROWS_AS(container_for_path("notes.txt"), rz::UsageError);
  CHECK_THROWS_AS(container_for_path("no_extension"), rz::UsageError);
  CHECK_THROWS_AS(container_for_path("dir.wav/"), rz::UsageError);

  CHECK(rz::audio::default_sample_format("flac") == SampleFormat::kPcm24);
  CHECK(rz::audio::default_sample_format("wav") == SampleFormat::kFloat32);
  CHECK(rz::audio::default_sample_format("mp3") == SampleFormat::kLossy);
  CHECK(rz::audio::container_supports("flac", SampleFormat::kPcm16));
  CHECK_FALSE(rz::audio::container_supports("flac", SampleFormat::kFloat32));
  CHECK_FALSE(rz::audio::container_supports("ogg", SampleFormat::kPcm16));
  CHECK_FALSE(rz::audio::container_supports("wav", SampleFormat::kLossy));
}

TEST_CASE("audio: Resampler 48000 -> 44100 keeps a 1 kHz sine", "[unit][audio][resample]") {
  constexpr int kTo = 44100;
  constexpr double kAmplitude = 0.5;
  constexpr int kIn = kRate;  // 1 s
  const auto x = rz::test::sine(1000.0, kAmplitude, kRate, kIn);
  Resampler r(1, kRate, kTo, ResampleQuality::kMedium);
  CHECK_FALSE(r.identity());
  CHECK(r.ratio() == kTo / double(kRate));
  std::vector<float> y;
  for (int pos = 0; pos < kIn; pos += 4800) r.process(x.data() + pos, 4800, pos + 4800 >= kIn, y);
  CHECK(std::llabs(static_cast<long long>(y.size()) - kTo) <= kResampleLengthFrames);

  // Least-squares fit of a sin + b cos at 1 kHz on the output's rate, filter edges skipped.
  const size_t begin = kTo / 20, end = y.size() - kTo / 20;
  double ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
  for (size_t j = begin; j < end; ++j) {
    const double w = 2 * M_PI * 1000.0 * j / kTo;
    const double s = std::sin(w), c = std::cos(w);
    ss += s * s;
    sc += s * c;
    cc += c * c;
    ys += y[j] * s;
    yc += y[j] * c;
  }
  const double det = ss * cc - sc * sc;
  const double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
  double signal = 0, residual = 0;
  for (size_t j = begin; j < end; ++j) {
    const double w = 2 * M_PI * 1000.0 * j / kTo;
    const double fit = a * std::sin(w) + b * std::cos(w);
    signal += fit * fit;
    residual += (y[j] - fit) * (y[j] - fit);
  }
  CHECK(10 * std::log10(signal / residual) >= kResampleMinSnrDb);
  CHECK(20 * std::log10(std::hypot(a, b) / kAmplitude) == Approx(0.0).margin(kResampleGainDb));
  // No delay: the output is the same sine sampled at the new rate, starting at phase 0.
  CHECK(std::atan2(b, a) == Approx(0.0).margin(kResamplePhaseRad));
}

TEST_CASE("audio: Resampler output length is ratio * input however it is drained",
          "[unit][audio][resample]") {
  const auto x = rz::test::white_noise(0.1, 48000, 2, 47);
  for (auto quality : {ResampleQuality::kBest, ResampleQuality::kMedium, ResampleQuality::kFast}) {
    for (int drain = 0; drain < 3; ++drain) {
      INFO(rz::audio::to_string(quality) << ", drain " << drain);
      Resampler r(2, kRate, 44100, quality);
      std::vector<float> y;
      if (drain == 0) {  // one call holding everything
        r.process(x.data(), 48000, true, y);
      } else {
        for (int pos = 0; pos < 48000; pos += 6000) r.process(x.data() + 2 * pos, 6000, false, y);
        const float* none = drain == 1 ? nullptr : x.data();  // both are "0 frames"
        r.process(none, 0, true, y);
      }
      CHECK(std::llabs(static_cast<long long>(y.size() / 2) - 44100) <= kResampleLengthFrames);
    }
  }
}

TEST_CASE("audio: Resampler at equal rates is the identity", "[unit][audio][resample]") {
  const auto x = rz::test::white_noise(0.2, 3000, 2, 37);
  Resampler r(2, kRate, kRate, ResampleQuality::kBest);
  CHECK(r.identity());
  std::vector<float> y;
  r.process(x.data(), 1000, false, y);
  r.process(x.data() + 2000, 2000, true, y);
  CHECK(y == x);
}

TEST_CASE("audio: resample quality names", "[unit][audio][resample]") {
  using rz::audio::parse_resample_quality;
  CHECK(parse_resample_quality("best") == ResampleQuality::kBest);
  CHECK(parse_resample_quality("medium") == ResampleQuality::kMedium);
  CHECK(parse_resample_quality("fast") == ResampleQuality::kFast);
  CHECK_THROWS_AS(parse_resample_quality("ultra"), rz::UsageError);
  CHECK(rz::audio::to_string(ResampleQuality::kMedium) == "medium");
}
